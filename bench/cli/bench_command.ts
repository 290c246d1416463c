/**
 * `weightbench bench`: run a scenario (the built-in `quick` one unless told
 * otherwise), print the answer (verdict, advice, projection) and a table that
 * fits 100 columns, and write the profile and its HTML report. Every input is
 * checked before anything runs (`planBench`), so `--dry-run` refuses what a
 * real run would.
 *
 * @module
 */

import { resolve } from "node:path";
import { EnvironmentError, InputError, InterruptedError } from "../util/errors.ts";
import { configureHttp } from "../stage/http.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { Profile } from "../../profiles/schema.ts";
import { buildReport, loadAssets, renderHtml, renderMarkdown } from "../../report/mod.ts";
import { headingLines, renderTable } from "../../report/table.ts";
import { answerOf, renderAnswer } from "../../report/answer.ts";
import { type ModelSize, parseModelSize } from "../compare/projection.ts";
import { formatBytes } from "../util/size.ts";
import { didYouMean } from "../util/suggest.ts";
import { type BenchRun, ProfileWriteError, runBench } from "../run/bench.ts";
import { DEFAULT_SLOT_MS, parseDuration, parseStartAt } from "../run/herd_sync.ts";
import { type BenchPlan, type FleetPart, planBench } from "../run/options.ts";
import { parseShard } from "../run/shard.ts";
import { commaList, nonNegativeInteger, parseFlags, positiveInteger } from "./args.ts";
import { ProbeProgress, Progress } from "./progress.ts";

const HELP = `Usage: deno task bench [options]

Measures how long model weights take to load, phase by phase, for each
strategy, target and page-cache state. With no options it runs the built-in
"quick" scenario on a generated 512 MiB Llama-3-8B-layout fixture.

Options:
  --scenario FILE|NAME   scenario file (.json or .ts) or built-in name (default: quick)
  --weights PATH         a weight file, a model folder (shards with their index), a
                         Hugging Face cache entry org/name[@revision], or an http(s)://
                         folder for prestaged loads (replaces the scenario's weights)
  --strategy a,b         strategies to run (default: the scenario's; "all" for every one)
  --target T             host | cuda:N | auto (default: the scenario's)
  --cache STATE          cold | warm | both
  --runs N|auto          timed samples per case; auto: until each median is known
                         within 3% (5 to 30 samples, at most about 10 s a case)
  --warmup N             untimed loads per case before the timed ones
  --out DIR              folder for the profile (default: profiles/runs)
  --dry-run              check the inputs, list the planned cases and run nothing
  --format F             table (default: fits 100 columns) | wide (spread, phases, memory)
                         | markdown | json (the profile)
  --wide                 the same as --format wide
  --json                 the same as --format json
  --project SIZE,...     also project these model sizes: parameters (13B, 13B@FP8, 1T@4bit)
                         or bytes (140GB, 26GiB)
  --no-probe             do not measure this machine's limits when none are cached
  --source-timeout T     an http(s) source that sends nothing for T fails (default 30s)
  --verify all|sampled   hash every loaded byte (default), or check placements and sampled
                         windows of each tensor (for models too large to hash every sample)
  -h, --help             show this help

Fleets (see deploy/README.md):
  --shard I/N            run only slice I of N of the plan (from 1: 1/4 .. 4/4); every case
                         is in exactly one slice; "deno task merge" joins the profiles
  --herd I/N             run every case as member I of a herd of N nodes loading at once
  --start-at TIME        herd: first load at TIME (epoch ms, 2030-01-01T12:00:00Z, or +2m)
  --barrier DIR          herd: wait in the shared folder DIR until all N members are ready,
                         then start together; member 1 prepares fixtures, once
  --slot DURATION        herd: each sample starts on a timetable, one slot apart (default 30s)
  --node-label NAME      the node's name in the profile (default: the scheduler's, or the host)
`;

const FLAGS = {
  scenario: { type: "string" },
  weights: { type: "string" },
  strategy: { type: "string" },
  target: { type: "string" },
  cache: { type: "string" },
  runs: { type: "string" },
  warmup: { type: "string" },
  out: { type: "string" },
  "dry-run": { type: "boolean" },
  format: { type: "string" },
  wide: { type: "boolean" },
  json: { type: "boolean" },
  project: { type: "string" },
  "no-probe": { type: "boolean" },
  "source-timeout": { type: "string" },
  verify: { type: "string" },
  shard: { type: "string" },
  herd: { type: "string" },
  "start-at": { type: "string" },
  barrier: { type: "string" },
  slot: { type: "string" },
  "node-label": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function benchCommand(args: readonly string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const format = parseOutputFormat(values);
  const json = format === "json";
  const project = (commaList(values.project) ?? []).map((size) => parseModelSize(size));
  if (values["source-timeout"] !== undefined) {
    configureHttp({ idleMs: parseDuration("--source-timeout", values["source-timeout"]) });
  }
  const plan = await planBench({
    ...(values.scenario === undefined ? {} : { scenario: values.scenario }),
    weights: values.weights,
    strategy: commaList(values.strategy),
    target: commaList(values.target),
    cache: parseCache(values.cache),
    runs: values.runs === "auto" ? "auto" : positiveInteger("--runs", values.runs),
    warmup: nonNegativeInteger("--warmup", values.warmup),
    ...(values.out === undefined ? {} : { out: values.out }),
    verify: parseVerify(values.verify),
    probe: !values["no-probe"],
    ...fleetOption(values),
    ...(values["node-label"] === undefined ? {} : { nodeLabel: values["node-label"] }),
    command: ["bench", ...args],
  });
  if (values["dry-run"]) {
    printPlan(plan, json);
    return 0;
  }
  const markdown = format === "markdown";
  const controller = new AbortController();
  const run = await runWithProgress(plan, json, controller).catch((error) => {
    // A full disk at the end: every measurement is still shown before the one line.
    if (!(error instanceof ProfileWriteError)) throw error;
    if (json) console.log(JSON.stringify(error.profile, null, 2));
    else printProfile(error.profile, { wide: format === "wide", project });
    throw error;
  });
  const { profile, path } = run;
  const reportPath = path.replace(/\.json$/, ".html");
  const report = buildReport([{ profile, source: path }], { project });
  const reportFailure = await writeFileAtomic(reportPath, renderHtml(report, await loadAssets()))
    .then(() => undefined, (error) => {
      if (error instanceof EnvironmentError) return error;
      throw error;
    });
  const reportLine = `report: ${reportFailure === undefined ? reportPath : "not written"}`;
  if (json || markdown) {
    console.log(json ? JSON.stringify(profile, null, 2) : renderMarkdown(report).trimEnd());
    console.error(`profile: ${path}`);
    console.error(reportLine);
  } else {
    printProfile(profile, { wide: format === "wide", project });
    console.log(`profile: ${path}`);
    console.log(reportLine);
  }
  const interruption = controller.signal.reason;
  if (interruption instanceof InterruptedError) {
    console.error(interruptedLine(profile, path, interruption));
    return interruption.exitCode;
  }
  if (reportFailure !== undefined) throw reportFailure;
  if (run.environmentFailed) {
    console.error(
      "A case failed because the environment did (a full disk, a source that gave up); see the table",
    );
    return 3;
  }
  const errored = profile.cases.filter((c) => c.state === "errored");
  if (errored.length > 0) {
    console.error(`${errored.length} case${errored.length === 1 ? "" : "s"} failed; see the table`);
    return 1;
  }
  return 0;
}

/** What an interrupted run kept, in one line. */
function interruptedLine(profile: Profile, path: string, interruption: InterruptedError): string {
  const timed = (c: Profile["cases"][number]) => c.samples.filter((s) => !s.warmup).length;
  const measured = profile.cases.filter((c) => timed(c) > 0).length;
  const samples = profile.cases.reduce((sum, c) => sum + timed(c), 0);
  return `Interrupted by ${interruption.signal}: ${samples} timed sample${
    samples === 1 ? "" : "s"
  } of ${measured} of ${profile.cases.length} cases kept in "${path}"`;
}

/**
 * Runs `plan` with progress on stderr (bars at a terminal); SIGINT (Ctrl-C)
 * and SIGTERM (a scheduler's stop) abort `controller`, which ends the run
 * between samples with what it measured. The plan's notes print once the
 * weights and targets are known good, so bad input stays one line.
 */
export async function runWithProgress(
  plan: BenchPlan,
  json: boolean,
  controller = new AbortController(),
): Promise<BenchRun> {
  const interactive = !json && Deno.stderr.isTerminal();
  const progress = new Progress(interactive, { quiet: json });
  const probeProgress = new ProbeProgress(interactive);
  // The first signal ends the run at the next chance, keeping every sample; a second one ends it now.
  const stop = (signal: "SIGINT" | "SIGTERM") => {
    if (!controller.signal.aborted) return controller.abort(new InterruptedError(signal));
    progress.stop();
    console.error(
      `error: Interrupted by ${signal} again: stopped at once; the profile keeps what was journaled`,
    );
    Deno.exit(new InterruptedError(signal).exitCode);
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  let probing = false;
  const showNotes = () => {
    for (const note of plan.notes) console.error(note);
  };
  if (plan.cases.length === 0) showNotes();
  try {
    return await runBench(plan, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.kind === "ready") showNotes();
        if (event.kind === "probe") {
          progress.stop();
          if (!probing && !json) {
            console.error("measuring this machine's limits (about 15 s)");
          }
          probing = true;
          probeProgress.update(event.step);
        } else if (event.kind === "limits") {
          probeProgress.stop();
          if (event.outcome === "to-measure") {
            if (!json) {
              console.error(
                "first run on this storage: after the samples, its limits are measured once to rate the results (about 15 s; cached after)",
              );
            }
          } else if (event.outcome === "measured") {
            console.error("measured this machine's limits once (deno task probe measures again)");
          } else if (event.outcome === "too-small") {
            console.error(
              "limits: weights too small to probe; run deno task probe --path DIR to rate results",
            );
          }
        } else if (event.kind === "herd-start") {
          const { startAt, slotMs } = event.schedule;
          const wait = (startAt - Date.now()) / 1000;
          console.error(
            `herd ${plan.shard!.index}/${plan.shard!.count} on ${event.node}: first load at ${
              new Date(startAt).toISOString()
            } (${wait >= 0 ? `in ${wait.toFixed(1)} s` : `${(-wait).toFixed(1)} s late`}), ` +
              `then one every ${slotMs / 1000} s`,
          );
        } else {
          progress.update(event);
        }
      },
    });
  } finally {
    progress.stop();
    probeProgress.stop();
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}

/**
 * The answer first, then the evidence, on stdout: what was measured, the
 * verdict, advice and projection, then the machine's limits and the table.
 */
export function printProfile(
  profile: Profile,
  options: { wide?: boolean; project?: readonly ModelSize[] } = {},
): void {
  const color = !Deno.noColor && Deno.stdout.isTerminal();
  const { context, limits } = headingLines(profile);
  console.log(context.join("\n"));
  if (profile.cases.length > 0) {
    console.log(`\n${renderAnswer(answerOf(profile, options.project ?? []), { color })}\n`);
  }
  console.log(limits.join("\n"));
  if (profile.cases.length > 0) {
    console.log(renderTable(profile, { color, wide: options.wide ?? false }));
  }
}

function printPlan(plan: BenchPlan, json: boolean): void {
  const { scenario, cases, notes, shard, checked } = plan;
  if (json) {
    console.log(
      JSON.stringify({ scenario, notes, ...(shard ? { shard } : {}), checked, cases }, null, 2),
    );
    return;
  }
  for (const note of notes) console.log(note);
  for (const w of checked) console.log(`weights ${checkedText(w)}`);
  const part = shard === null
    ? ""
    : `${shard.mode} ${shard.index}/${shard.count} of ${shard.plan.cases} planned cases: `;
  console.log(
    `${scenario.name}: ${part}${cases.length} case${cases.length === 1 ? "" : "s"} × ` +
      `(${scenario.warmup} warmup + ${
        scenario.sampling === null
          ? `${scenario.runs} timed`
          : `${scenario.sampling.minRuns}–${scenario.runs} timed, until each median is known within ${
            scenario.sampling.ciTarget * 100
          }%`
      }) samples`,
  );
  for (const c of cases) console.log(`  ${String(c.index + 1).padStart(3)}  ${c.id}`);
}

/** `--cache cold|warm|both`, or a comma list of cold and warm. */
function parseCache(value: string | undefined): string[] | undefined {
  const states = commaList(value);
  if (states === undefined) return undefined;
  const wrong = states.find((s) => !["cold", "warm", "both"].includes(s));
  if (wrong !== undefined || states.length === 0) {
    throw new InputError(
      `Invalid --cache "${value}": expected cold, warm or both${
        wrong === undefined ? "" : didYouMean(wrong, ["cold", "warm", "both"])
      }`,
    );
  }
  return states.includes("both") ? ["cold", "warm"] : states;
}

/** What the checks found about one weights entry, for the dry run's list. */
function checkedText(w: BenchPlan["checked"][number]): string {
  switch (w.kind) {
    case "path":
      return `${w.label}: ${w.tensorCount} tensors, ${
        formatBytes(w.tensorBytes)
      } in ${w.files} ${w.format} file${w.files === 1 ? "" : "s"} (headers checked)`;
    case "fixture":
      return `${w.label}: a generated fixture of ${formatBytes(w.tensorBytes)} (${
        w.cached ? "cached" : "generated on the first run"
      })`;
    case "remote":
      return `${w.label}: ${w.url} (checked when the run opens it)`;
  }
}

/** The output format from `--format`, `--wide` and `--json`, which must agree. */
function parseOutputFormat(
  values: { format?: string | undefined; wide?: boolean | undefined; json?: boolean | undefined },
): OutputFormat {
  const given = values.format;
  if (given !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(given)) {
    throw new InputError(
      `Invalid --format "${given}": expected ${OUTPUT_FORMATS.join(", ")}${
        didYouMean(given, OUTPUT_FORMATS)
      }`,
    );
  }
  const asked = [
    ...(given === undefined ? [] : [["--format " + given, given]]),
    ...(values.wide ? [["--wide", "wide"]] : []),
    ...(values.json ? [["--json", "json"]] : []),
  ] as [string, OutputFormat][];
  const formats = new Set(asked.map(([, format]) => format));
  if (formats.size > 1) {
    throw new InputError(
      `${asked.map(([flag]) => flag).join(" and ")} do not go together: choose one output format`,
    );
  }
  return asked[0]?.[1] ?? "table";
}

/** What `--format` accepts. */
const OUTPUT_FORMATS = ["table", "wide", "markdown", "json"] as const;
type OutputFormat = typeof OUTPUT_FORMATS[number];

/** The fleet flags, checked together before anything runs, as the plan's fleet option. */
function fleetOption(values: {
  shard?: string | undefined;
  herd?: string | undefined;
  "start-at"?: string | undefined;
  barrier?: string | undefined;
  slot?: string | undefined;
}): { fleet?: FleetPart } {
  if (values.shard !== undefined && values.herd !== undefined) {
    throw new InputError(
      "--shard and --herd do not go together: a shard runs a slice of the plan, a herd member all of it",
    );
  }
  const startText = values["start-at"];
  const barrier = values.barrier;
  for (const [flag, given] of [["--start-at", startText], ["--barrier", barrier]] as const) {
    if (given !== undefined && values.herd === undefined) {
      throw new InputError(`${flag} needs --herd I/N: it synchronises the members of a herd`);
    }
  }
  if (startText !== undefined && barrier !== undefined) {
    throw new InputError("--start-at and --barrier do not go together: choose one way to start");
  }
  if (barrier !== undefined && barrier.trim() === "") {
    throw new InputError(`Invalid --barrier "": expected a folder shared by every member`);
  }
  if (values.slot !== undefined && startText === undefined && barrier === undefined) {
    throw new InputError("--slot needs --start-at or --barrier: it spaces a synchronised herd");
  }
  if (values.shard !== undefined) {
    return { fleet: { mode: "shard", part: parseShard(values.shard, "--shard") } };
  }
  if (values.herd === undefined) return {};
  const part = parseShard(values.herd, "--herd");
  if (startText === undefined && barrier === undefined) return { fleet: { mode: "herd", part } };
  const slotMs = values.slot === undefined ? DEFAULT_SLOT_MS : parseDuration("--slot", values.slot);
  const sync = {
    ...(startText === undefined ? {} : { startAt: parseStartAt(startText, Date.now()) }),
    ...(barrier === undefined ? {} : { barrier: resolve(barrier) }),
    slotMs,
  };
  return { fleet: { mode: "herd", part, sync } };
}

function parseVerify(value: string | undefined): "all" | "sampled" {
  if (value === undefined || value === "all" || value === "sampled") return value ?? "all";
  throw new InputError(`Invalid --verify "${value}": expected all or sampled`);
}
