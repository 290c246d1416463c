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
import { InputError } from "../util/errors.ts";
import { type Profile, readProfile } from "../../profiles/profile.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import {
  baselinePath,
  DEFAULT_BASELINE_DIR,
  findBaseline,
  writeBaseline,
} from "../compare/baseline.ts";
import { compareProfiles, type ProfileComparison } from "../compare/compare_profiles.ts";
import {
  appendHistory,
  DEFAULT_HISTORY_DIR,
  levelShifts,
  loadHistory,
} from "../compare/history.ts";
import { renderNightlySummary } from "../../report/nightly_summary.ts";
import { parseBy, parseFraction } from "../compare/options.ts";
import { DEFAULT_ALPHA, DEFAULT_THRESHOLD } from "../compare/significance.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { parseFlags, positiveInteger } from "./args.ts";
import { benchCommand, DEFAULT_PROFILE_DIR } from "./bench_command.ts";

/** The scenario run unless `--scenario` says otherwise (`bench/scenarios/builtin/nightly.json`). */
export const NIGHTLY_SCENARIO = "nightly";

const HELP = `Usage: deno task nightly [options]

Runs the nightly scenario (bench/scenarios/builtin/nightly.json), adds the profile to
this machine's history, compares it with this machine's baseline
(profiles/baselines/<machine>.json), searches the history for level shifts,
and writes profile.json, report.html, summary.md and nightly.json into one
folder. Prints the markdown summary. Exit code 1 on a regression or an errored
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
  const threshold = parseFraction("--threshold", values.threshold, { max: 10 }) ??
    DEFAULT_THRESHOLD;
  const alpha = parseFraction("--alpha", values.alpha, { exclusiveMin: true, max: 1 }) ??
    DEFAULT_ALPHA;
  const by = parseBy(values.by) ?? "time";
  const runs = positiveInteger("--runs", values.runs);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outDir = resolve(values.out ?? join(DEFAULT_PROFILE_DIR, `nightly-${stamp}`));
  const historyRoot = resolve(values.history ?? DEFAULT_HISTORY_DIR);
  const baselineDir = resolve(values.baselines ?? DEFAULT_BASELINE_DIR);

  // The run itself is a bench run, into a folder of its own.
  const before = await jsonFiles(outDir);
  const benchArgs = ["--scenario", values.scenario ?? NIGHTLY_SCENARIO, "--out", outDir];
  if (runs !== undefined) benchArgs.push("--runs", String(runs));
  if (values["no-probe"]) benchArgs.push("--no-probe");
  const benchCode = await benchCommand(benchArgs);
  const written = (await jsonFiles(outDir)).filter((name) => !before.includes(name));
  if (written.length !== 1) {
    throw new Error(`Expected one new profile in "${outDir}", found ${written.length}`);
  }
  const profilePath = join(outDir, written[0]!);
  const profile = await readProfile(profilePath);
  const warnings: string[] = [];
  const errored = profile.cases.filter((c) => c.state === "errored");
  if (errored.length > 0) {
    warnings.push(
      `${errored.length} case${errored.length === 1 ? "" : "s"} errored: ${
        errored.map((c) => `${c.id} (${c.error ?? "unknown error"})`).join("; ")
      }`,
    );
  }

  const historyPath = await appendHistory(historyRoot, profile);
  const baseline = await findBaseline(baselineDir, profile);
  let comparison: ProfileComparison | null = null;
  if (baseline !== null) {
    comparison = compareProfiles(baseline.profile, profile, { threshold, alpha, by }, {
      baseline: baseline.path,
      current: profilePath,
    });
  }
  const history = await loadHistory(historyRoot, profile);
  for (const path of history.unreadable) warnings.push(`Unreadable history file "${path}" skipped`);
  const shifts = levelShifts(history.runs, { minChange: threshold });

  const files: Record<string, string> = {
    profile: profilePath,
    history: historyPath,
  };
  const reportPath = join(outDir, "report.html");
  try {
    const inputs: { profile: Profile; source: string }[] = [];
    if (baseline !== null) inputs.push({ profile: baseline.profile, source: baseline.path });
    inputs.push({ profile, source: profilePath });
    await writeFileAtomic(reportPath, renderHtml(buildReport(inputs), await loadAssets()));
    files.report = reportPath;
  } catch (error) {
    // The numbers matter more than their page: a report that cannot be drawn is a warning.
    warnings.push(`No HTML report: ${(error as Error).message}`);
  }

  let baselineUpdated = false;
  if (values["update-baseline"]) {
    await writeBaseline(baselineDir, profile, { replace: true });
    baselineUpdated = true;
  }
  const exitCode = benchCode !== 0 || comparison?.exitCode === 1 ? 1 : 0;
  const summaryPath = join(outDir, "summary.md");
  const jsonPath = join(outDir, "nightly.json");
  files.summary = summaryPath;
  files.json = jsonPath;
  const summary = renderNightlySummary({
    profile,
    comparison,
    baselinePath: baseline?.path ?? baselinePath(baselineDir, profile),
    baselineUpdated,
    shifts,
    historyRuns: history.runs.length,
    files,
    exitCode,
    warnings,
  });
  await writeFileAtomic(summaryPath, summary);
  await writeFileAtomic(
    jsonPath,
    `${
      JSON.stringify(
        {
          exitCode,
          profile: profilePath,
          baseline: baseline?.path ?? null,
          baselineUpdated,
          comparison,
          history: { dir: history.dir, runs: history.runs.length, shifts },
          warnings,
        },
        null,
        2,
      )
    }\n`,
  );
  console.log(summary);
  return exitCode;
}

/** The `.json` files directly in `dir`; none when it does not exist yet. */
async function jsonFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    if (error instanceof Deno.errors.NotADirectory) {
      throw new InputError(`Cannot write to "${dir}": not a folder`, { cause: error });
    }
    throw error;
  }
  return names;
}
