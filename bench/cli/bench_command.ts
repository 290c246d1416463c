/**
 * `weightbench bench`: run a scenario (the built-in `quick` one unless told
 * otherwise), print a table, and write the profile.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError, InterruptedError } from "../util/errors.ts";
import { renderHeading, renderTable } from "../../report/table.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { collectEnvironment } from "../probe/environment.ts";
import { buildProfile, writeProfile } from "../../profiles/profile.ts";
import { type Case, planCases } from "../run/plan.ts";
import { runCases, type RunResult } from "../run/runner.ts";
import {
  arriveAtBarrier,
  DEFAULT_SLOT_MS,
  parseDuration,
  parseStartAt,
  prepareOnce,
  timetableGate,
} from "../run/herd_sync.ts";
import { currentNode } from "../run/scheduler.ts";
import { formatShard, parseShard, planIdentity, shardCases, type ShardSpec } from "../run/shard.ts";
import { ensureFixture } from "../../fixtures/generate.ts";
import { loadScenario } from "../scenarios/load.ts";
import { parseScenario, type Scenario } from "../scenarios/schema.ts";
import { resolveAutoTarget } from "../targets/registry.ts";
import { optionalEnv } from "../util/env.ts";
import { commaList, nonNegativeInteger, parseFlags, positiveInteger } from "./args.ts";
import { ProbeProgress, Progress } from "./progress.ts";
import { limitsForFiles } from "../probe/probe.ts";
import type { HerdStart, MachineLimits, ShardInfo } from "../../profiles/profile.ts";
import type { WeightSet } from "../formats/weights.ts";
import { isRemoteWeights } from "../stage/remote_weights.ts";

/** Where profiles go unless `--out` says otherwise. */
export const DEFAULT_PROFILE_DIR = fileURLToPath(new URL("../../profiles/runs/", import.meta.url));
/** Where generated fixtures are cached, unless `WEIGHTBENCH_CACHE` says otherwise. */
export const DEFAULT_FIXTURE_CACHE = fileURLToPath(
  new URL("../../fixtures/.cache/", import.meta.url),
);
/** The scenario run with no `--scenario`. */
export const DEFAULT_SCENARIO = "quick";

const HELP = `Usage: deno task bench [options]

Measures how long model weights take to load, phase by phase, for each
strategy, target and page-cache state. With no options it runs the built-in
"quick" scenario on a generated 512 MiB Llama-3-8B-layout fixture.

Options:
  --scenario FILE|NAME   scenario file (.json or .ts) or built-in name (default: quick)
  --weights PATH         a weight file, or a folder of shards (replaces the scenario's weights)
  --strategy a,b         strategies to run (default: the scenario's; "all" for every one)
  --target T             host | cuda:N | auto (default: the scenario's)
  --cache STATE          cold | warm | both
  --runs N               timed samples per case
  --warmup N             untimed loads per case before the timed ones
  --out DIR              folder for the profile (default: profiles/runs)
  --dry-run              list the planned cases and run nothing
  --json                 print the profile as JSON instead of the table
  --no-probe             do not measure this machine's limits when none are cached
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
  json: { type: "boolean" },
  "no-probe": { type: "boolean" },
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
  const runs = positiveInteger("--runs", values.runs);
  const warmup = nonNegativeInteger("--warmup", values.warmup);
  const fleet = parseFleetFlags(values);
  const base = await loadScenario(values.scenario ?? DEFAULT_SCENARIO);
  const scenarioSource = values.scenario === undefined ? DEFAULT_SCENARIO : values.scenario;
  const scenario = applyFlags(base, {
    weights: values.weights,
    strategy: values.strategy,
    target: values.target,
    cache: values.cache,
    runs,
    warmup,
  });

  const notes: string[] = [];
  const targets = scenario.targets.map((target) => {
    if (target !== "auto") return target;
    const auto = resolveAutoTarget();
    notes.push(`target ${auto.id}: ${auto.reason}`);
    return auto.id;
  });
  const resolved: Scenario = { ...scenario, targets: [...new Set(targets)] };
  let cases = planCases(resolved);
  let shardInfo: ShardInfo | undefined;
  const part = fleet.shard ?? fleet.herd;
  if (part !== undefined) {
    // The slice is taken from the plan as written, the same on every node; `auto` resolves here.
    const planned = planCases(scenario);
    const all = planCases({ ...scenario, targets });
    const seen = new Map<string, number>();
    for (const c of all) {
      const earlier = seen.get(c.id);
      if (earlier !== undefined) {
        throw new InputError(
          `Cannot shard: cases ${earlier + 1} and ${c.index + 1} are both "${c.id}" on this node ` +
            `(auto is ${targets.join(", ")} here); list distinct targets`,
        );
      }
      seen.set(c.id, c.index);
    }
    cases = fleet.shard === undefined ? all : shardCases(all, fleet.shard);
    shardInfo = {
      mode: fleet.shard === undefined ? "herd" : "shard",
      index: part.index,
      count: part.count,
      plan: planIdentity(planned),
    };
    if (cases.length === 0) {
      notes.push(
        `shard ${
          formatShard(part)
        } has no cases: the plan has ${all.length}, fewer than ${part.count} shards; ` +
          "writing an empty profile, so merge knows this shard ran",
      );
    }
  }

  if (values["dry-run"]) {
    printPlan(resolved, cases, values.json ?? false, notes, shardInfo);
    return 0;
  }

  const outDir = resolve(values.out ?? DEFAULT_PROFILE_DIR);
  await ensureWritableDir(outDir);
  const progress = new Progress(!values.json && Deno.stderr.isTerminal());
  const controller = new AbortController();
  const onSignal = () => controller.abort(new InterruptedError());
  Deno.addSignalListener("SIGINT", onSignal);
  const fixtureRoot = optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE;
  const node = currentNode(values["node-label"]);
  let herdStart: HerdStart | null = null;
  const gate = fleet.herd && fleet.sync
    ? timetableGate(
      async () => {
        const sync = fleet.sync!;
        return sync.barrier === undefined
          ? sync.startAt!
          : await arriveAtBarrier(sync.barrier, fleet.herd!, {
            host: node.name,
            signal: controller.signal,
          });
      },
      fleet.sync.slotMs,
      shardInfo!.plan.cases,
      {
        signal: controller.signal,
        onStart: (schedule) => {
          herdStart = {
            startAt: schedule.startAt,
            slotMs: schedule.slotMs,
            source: fleet.sync!.barrier === undefined ? "start-at" : fleet.sync!.barrier,
          };
          const wait = (schedule.startAt - Date.now()) / 1000;
          console.error(
            `herd ${formatShard(fleet.herd!)} on ${node.name}: first load at ${
              new Date(schedule.startAt).toISOString()
            } (${wait >= 0 ? `in ${wait.toFixed(1)} s` : `${(-wait).toFixed(1)} s late`}), ` +
              `then one every ${schedule.slotMs / 1000} s`,
          );
        },
      },
    )
    : undefined;
  let result: RunResult;
  try {
    if (fleet.herd && fleet.sync?.barrier !== undefined) {
      const fixtures = cases.map((c) => c.weights).filter((w) => w.kind === "fixture");
      await prepareOnce(fleet.sync.barrier, fleet.herd, async () => {
        for (const { layout, size, dtype, shards, format } of fixtures) {
          await ensureFixture({ layout, size, dtype, shards, format }, fixtureRoot);
        }
      }, { host: node.name, signal: controller.signal });
    }
    if (cases.length === 0) {
      for (const note of notes) console.error(note);
      result = emptyRun();
    } else {
      result = await runCases(cases, {
        runs: resolved.runs,
        warmup: resolved.warmup,
        fixtureRoot,
        signal: controller.signal,
        ...(gate === undefined ? {} : { gate }),
        verify: parseVerify(values.verify),
        onEvent: (event) => {
          // Notes wait until the weights and targets are known good, so bad input stays one line.
          if (event.kind === "ready") { for (const note of notes) console.error(note); }
          progress.update(event);
        },
      });
    }
  } finally {
    progress.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }

  // Remote weights (http URLs) have no local folder to describe.
  const weightDirs = result.weights.map(({ weights }) => weights.files[0]!.path)
    .filter((path) => !isRemoteWeights(path)).map((path) => dirname(path));
  const environment = await collectEnvironment([...new Set(weightDirs)]);
  const limits = values["no-probe"] || result.weights.length === 0 ||
      isRemoteWeights(result.weights[0]!.weights.source)
    ? undefined
    : await measuredLimits(result.weights[0]!.weights, values.json ?? false);
  const profile = buildProfile({
    scenario: resolved,
    scenarioSource,
    command: ["bench", ...args],
    environment,
    limits: limits ?? null,
    result,
    runs: resolved.runs,
    warmup: resolved.warmup,
    node,
    ...(shardInfo === undefined
      ? {}
      : { shard: shardInfo.mode === "herd" ? { ...shardInfo, start: herdStart } : shardInfo }),
  });
  const path = await writeProfile(profile, outDir);
  const reportPath = path.replace(/\.json$/, ".html");
  await writeFileAtomic(
    reportPath,
    renderHtml(buildReport([{ profile, source: path }]), await loadAssets()),
  );

  if (values.json) {
    console.log(JSON.stringify(profile, null, 2));
    console.error(`profile: ${path}`);
    console.error(`report: ${reportPath}`);
  } else {
    console.log(renderHeading(profile));
    if (profile.cases.length > 0) {
      console.log(renderTable(profile, { color: !Deno.noColor && Deno.stdout.isTerminal() }));
    }
    console.log(`profile: ${path}`);
    console.log(`report: ${reportPath}`);
  }
  const errored = profile.cases.filter((c) => c.state === "errored");
  if (errored.length > 0) {
    console.error(`${errored.length} case${errored.length === 1 ? "" : "s"} failed; see the table`);
    return 1;
  }
  return 0;
}

/** The scenario with the command-line overrides applied and validated like a scenario file. */
export function applyFlags(
  scenario: Scenario,
  flags: {
    weights?: string | undefined;
    strategy?: string | undefined;
    target?: string | undefined;
    cache?: string | undefined;
    runs?: number | undefined;
    warmup?: number | undefined;
  },
): Scenario {
  const input: Record<string, unknown> = {
    name: scenario.name,
    description: scenario.description,
    weights: scenario.weights.map((w) =>
      w.kind === "path" ? { path: w.path } : { fixture: { ...w, kind: undefined } }
    ),
    strategies: scenario.strategies.map((s) => ({ name: s.name, options: s.options })),
    targets: scenario.targets,
    cache: scenario.cache,
    runs: flags.runs ?? scenario.runs,
    warmup: flags.warmup ?? scenario.warmup,
  };
  if (flags.weights !== undefined) {
    input.weights = [{ path: flags.weights }];
    input.description = `${
      scenario.description ? `${scenario.description}; ` : ""
    }weights replaced by --weights ${flags.weights}`;
  }
  const strategies = commaList(flags.strategy);
  if (strategies !== undefined) {
    input.strategies = strategies.includes("all") ? "all" : strategies.map((name) => {
      const configured = scenario.strategies.find((s) => s.name === name);
      return configured ? { name, options: configured.options } : name;
    });
  }
  if (flags.target !== undefined) input.targets = commaList(flags.target);
  if (flags.cache !== undefined) {
    input.cache = flags.cache === "both" ? ["cold", "warm"] : commaList(flags.cache);
  }
  return parseScenario(stripUndefined(input), "command line", FLAG_OF_FIELD);
}

const FLAG_OF_FIELD = {
  weights: "--weights",
  strategies: "--strategy",
  targets: "--target",
  cache: "--cache",
  runs: "--runs",
  warmup: "--warmup",
};

function stripUndefined(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

function printPlan(
  scenario: Scenario,
  cases: readonly Case[],
  json: boolean,
  notes: readonly string[],
  shard: ShardInfo | undefined,
): void {
  if (json) {
    console.log(
      JSON.stringify({ scenario, notes, ...(shard ? { shard } : {}), cases }, null, 2),
    );
    return;
  }
  for (const note of notes) console.log(note);
  const part = shard === undefined
    ? ""
    : `${shard.mode} ${shard.index}/${shard.count} of ${shard.plan.cases} planned cases: `;
  console.log(
    `${scenario.name}: ${part}${cases.length} case${cases.length === 1 ? "" : "s"} × ` +
      `(${scenario.warmup} warmup + ${scenario.runs} timed) samples`,
  );
  for (const c of cases) console.log(`  ${String(c.index + 1).padStart(3)}  ${c.id}`);
}

/** The fleet flags, checked together before anything runs. */
interface FleetFlags {
  readonly shard?: ShardSpec;
  readonly herd?: ShardSpec;
  /** Herds: when to start, and the timetable's slot. */
  readonly sync?: { readonly startAt?: number; readonly barrier?: string; readonly slotMs: number };
}

function parseFleetFlags(values: {
  shard?: string | undefined;
  herd?: string | undefined;
  "start-at"?: string | undefined;
  barrier?: string | undefined;
  slot?: string | undefined;
}): FleetFlags {
  if (values.shard !== undefined && values.herd !== undefined) {
    throw new InputError(
      "--shard and --herd do not go together: a shard runs a slice of the plan, a herd member all of it",
    );
  }
  const shard = values.shard === undefined ? undefined : parseShard(values.shard, "--shard");
  const herd = values.herd === undefined ? undefined : parseShard(values.herd, "--herd");
  const startText = values["start-at"];
  const barrier = values.barrier;
  for (const [flag, given] of [["--start-at", startText], ["--barrier", barrier]] as const) {
    if (given !== undefined && herd === undefined) {
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
  const slotMs = values.slot === undefined ? DEFAULT_SLOT_MS : parseDuration("--slot", values.slot);
  const sync = startText === undefined && barrier === undefined ? undefined : {
    ...(startText === undefined ? {} : { startAt: parseStartAt(startText, Date.now()) }),
    ...(barrier === undefined ? {} : { barrier: resolve(barrier) }),
    slotMs,
  };
  return {
    ...(shard === undefined ? {} : { shard }),
    ...(herd === undefined ? {} : { herd }),
    ...(sync === undefined ? {} : { sync }),
  };
}

function emptyRun(): RunResult {
  return {
    startedAt: new Date().toISOString(),
    durationMs: 0,
    weights: [],
    targets: {},
    cases: [],
  };
}

/** Fails before a run, not after it, when profiles cannot be written to `dir`. */
async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = await Deno.makeTempFile({ dir, prefix: ".write-check-" });
    await Deno.remove(probe);
  } catch (error) {
    const reason =
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
        ? "permission denied"
        : error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory
        ? "not a folder"
        : (error as Error).message;
    throw new InputError(`Cannot write profiles to "${dir}": ${reason}`, { cause: error });
  }
}

/** The cached limits of the weights' storage, or a probe of it (once per machine and storage). */
async function measuredLimits(
  weights: WeightSet,
  json: boolean,
): Promise<MachineLimits | undefined> {
  const progress = new ProbeProgress(!json && Deno.stderr.isTerminal());
  try {
    const found = await limitsForFiles(weights.files.map((f) => f.path), {
      onStep: (step) => progress.update(step),
    });
    if (found && !found.cached) {
      console.error(`measured this machine's limits once (deno task probe measures again)`);
    }
    if (!found) {
      console.error(
        "limits: weights too small to probe; run deno task probe --path DIR to rate results",
      );
    }
    return found?.limits;
  } finally {
    progress.stop();
  }
}

function parseVerify(value: string | undefined): "all" | "sampled" {
  if (value === undefined || value === "all" || value === "sampled") return value ?? "all";
  throw new InputError(`Invalid --verify "${value}": expected all or sampled`);
}
