/**
 * `weightbench nightly`: run the nightly scenario (the `bench` command, so
 * every flag, probe and check of a bench run applies), add the profile to
 * this machine's history, compare it with this machine's baseline, search
 * the history for level shifts, and write an HTML report, a markdown summary
 * and the comparison as JSON into one folder. Exits 1 on a regression or a
 * case that errored, 0 otherwise, 2 on bad input.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { type Profile } from "../../profiles/schema.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import {
  baselinePath,
  DEFAULT_BASELINE_DIR,
  findBaseline,
  writeBaseline,
} from "../compare/baseline.ts";
import {
  type CompareBy,
  compareProfiles,
  type ProfileComparison,
} from "../compare/compare_profiles.ts";
import {
  appendHistory,
  DEFAULT_HISTORY_DIR,
  levelShifts,
  loadHistory,
} from "../compare/history.ts";
import { renderNightlySummary } from "../../report/nightly_summary.ts";
import { parseBy, parseFraction } from "./compare_flags.ts";
import { DEFAULT_ALPHA, DEFAULT_THRESHOLD } from "../compare/significance.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { DEFAULT_PROFILE_DIR, planBench } from "../run/options.ts";
import { parseFlags, positiveInteger } from "./args.ts";
import { printProfile, runWithProgress } from "./bench_command.ts";
import { InterruptedError } from "../util/errors.ts";
import type { BenchRun } from "../run/bench.ts";

/** The scenario run unless `--scenario` says otherwise (`bench/scenarios/builtin/nightly.json`). */
export const NIGHTLY_SCENARIO = "nightly";

const HELP = `Usage: deno task nightly [options]

Runs the nightly scenario (bench/scenarios/builtin/nightly.json), adds the profile to
this machine's history, compares it with this machine's baseline
(profiles/baselines/<machine>.json), searches the history for level shifts,
and writes the profile (<id>.json), report.html, summary.md and nightly.json
into one folder. Prints the markdown summary. Exit code 1 on a regression or an errored
case, 0 otherwise (also when there is no baseline yet), 2 on bad input.

Options:
  --scenario FILE|NAME   scenario to run (default: nightly)
  --runs N               timed samples per case (default: the scenario's)
  --out DIR              output folder (default: profiles/runs/nightly-<time>/)
  --history DIR          history folder, one subfolder per machine (default: profiles/history)
  --baselines DIR        baselines folder (default: profiles/baselines)
  --update-baseline      write this run as the machine's baseline (replacing the one there)
  --threshold T          smallest change that matters: 5% or 0.05 (default: ${
  DEFAULT_THRESHOLD * 100
}%)
  --alpha A              significance level of the U test (default: ${DEFAULT_ALPHA})
  --by time|efficiency   compare load times, or throughput against the machine's limits
  --no-probe             do not measure the machine's limits when none are cached
  -h, --help             show this help
`;

const FLAGS = {
  scenario: { type: "string" },
  runs: { type: "string" },
  out: { type: "string" },
  history: { type: "string" },
  baselines: { type: "string" },
  "update-baseline": { type: "boolean" },
  threshold: { type: "string" },
  alpha: { type: "string" },
  by: { type: "string" },
  "no-probe": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function nightlyCommand(args: readonly string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const options: NightlyOptions = {
    threshold: parseFraction("--threshold", values.threshold, { max: 10 }) ?? DEFAULT_THRESHOLD,
    alpha: parseFraction("--alpha", values.alpha, { exclusiveMin: true, max: 1 }) ??
      DEFAULT_ALPHA,
    by: parseBy(values.by) ?? "time",
    outDir: resolve(
      values.out ??
        join(DEFAULT_PROFILE_DIR, `nightly-${new Date().toISOString().replace(/[:.]/g, "-")}`),
    ),
    historyRoot: resolve(values.history ?? DEFAULT_HISTORY_DIR),
    baselineDir: resolve(values.baselines ?? DEFAULT_BASELINE_DIR),
  };

  // The run itself is a bench run, into a folder of its own.
  const plan = await planBench({
    scenario: values.scenario ?? NIGHTLY_SCENARIO,
    out: options.outDir,
    runs: positiveInteger("--runs", values.runs),
    probe: !values["no-probe"],
    command: ["nightly", ...args],
  });
  const controller = new AbortController();
  const run = await runWithProgress(plan, false, controller);
  printProfile(run.profile);
  if (controller.signal.reason instanceof InterruptedError) {
    // A partial run is kept but judged by no one: it goes neither into the history nor the gate.
    console.error(
      `Interrupted by ${controller.signal.reason.signal}: profile kept in "${run.path}"`,
    );
    return controller.signal.reason.exitCode;
  }
  const warnings = erroredWarnings(run.profile);
  const verdict = await judge(run, options, warnings);
  const files: Record<string, string> = { profile: run.path, history: verdict.historyPath };
  const report = await writeReport(run, verdict, options.outDir, warnings);
  if (report !== null) files.report = report;
  if (values["update-baseline"]) {
    await writeBaseline(options.baselineDir, run.profile, { replace: true });
  }
  const exitCode = run.profile.cases.some((c) => c.state === "errored") ||
      verdict.comparison?.exitCode === 1
    ? 1
    : 0;
  const summary = await writeSummary(run, verdict, {
    ...options,
    files,
    exitCode,
    warnings,
    baselineUpdated: values["update-baseline"] ?? false,
  });
  console.log(summary);
  return exitCode;
}

/** What the nightly flags resolve to. */
interface NightlyOptions {
  readonly threshold: number;
  readonly alpha: number;
  readonly by: CompareBy;
  readonly outDir: string;
  readonly historyRoot: string;
  readonly baselineDir: string;
}

/** The run set against the machine's baseline and its history. */
interface Verdict {
  readonly historyPath: string;
  readonly baseline: { readonly profile: Profile; readonly path: string } | null;
  readonly comparison: ProfileComparison | null;
  readonly history: Awaited<ReturnType<typeof loadHistory>>;
  readonly shifts: ReturnType<typeof levelShifts>;
}

function erroredWarnings(profile: Profile): string[] {
  const errored = profile.cases.filter((c) => c.state === "errored");
  if (errored.length === 0) return [];
  return [
    `${errored.length} case${errored.length === 1 ? "" : "s"} errored: ${
      errored.map((c) => `${c.id} (${c.error ?? "unknown error"})`).join("; ")
    }`,
  ];
}

/** Adds the run to the history, compares it with the baseline, and finds level shifts. */
async function judge(run: BenchRun, options: NightlyOptions, warnings: string[]): Promise<Verdict> {
  const { threshold, alpha, by } = options;
  const historyPath = await appendHistory(options.historyRoot, run.profile);
  const baseline = await findBaseline(options.baselineDir, run.profile);
  const comparison = baseline === null
    ? null
    : compareProfiles(baseline.profile, run.profile, { threshold, alpha, by }, {
      baseline: baseline.path,
      current: run.path,
    });
  const history = await loadHistory(options.historyRoot, run.profile);
  for (const path of history.unreadable) warnings.push(`Unreadable history file "${path}" skipped`);
  const shifts = levelShifts(history.runs, { minChange: threshold });
  return { historyPath, baseline, comparison, history, shifts };
}

/** The HTML report against the baseline; null (and a warning) when it cannot be drawn. */
async function writeReport(
  run: BenchRun,
  verdict: Verdict,
  outDir: string,
  warnings: string[],
): Promise<string | null> {
  const path = join(outDir, "report.html");
  try {
    const inputs: { profile: Profile; source: string }[] = [];
    if (verdict.baseline !== null) {
      inputs.push({ profile: verdict.baseline.profile, source: verdict.baseline.path });
    }
    inputs.push({ profile: run.profile, source: run.path });
    await writeFileAtomic(path, renderHtml(buildReport(inputs), await loadAssets()));
    return path;
  } catch (error) {
    // The numbers matter more than their page: a report that cannot be drawn is a warning.
    warnings.push(`No HTML report: ${(error as Error).message}`);
    return null;
  }
}

/** `summary.md` and `nightly.json`; returns the summary. */
async function writeSummary(
  run: BenchRun,
  verdict: Verdict,
  context: NightlyOptions & {
    files: Record<string, string>;
    exitCode: number;
    warnings: readonly string[];
    baselineUpdated: boolean;
  },
): Promise<string> {
  const { outDir, files, exitCode, warnings, baselineUpdated } = context;
  const summaryPath = join(outDir, "summary.md");
  const jsonPath = join(outDir, "nightly.json");
  files.summary = summaryPath;
  files.json = jsonPath;
  const summary = renderNightlySummary({
    profile: run.profile,
    comparison: verdict.comparison,
    baselinePath: verdict.baseline?.path ?? baselinePath(context.baselineDir, run.profile),
    baselineUpdated,
    shifts: verdict.shifts,
    historyRuns: verdict.history.runs.length,
    files,
    exitCode,
    warnings,
  });
  await writeFileAtomic(summaryPath, summary);
  const record = {
    exitCode,
    profile: run.path,
    baseline: verdict.baseline?.path ?? null,
    baselineUpdated,
    comparison: verdict.comparison,
    history: {
      dir: verdict.history.dir,
      runs: verdict.history.runs.length,
      shifts: verdict.shifts,
    },
    warnings,
  };
  await writeFileAtomic(jsonPath, `${JSON.stringify(record, null, 2)}\n`);
  return summary;
}
