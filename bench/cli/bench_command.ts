/**
 * `weightbench bench`: run a scenario (the built-in `quick` one unless told
 * otherwise), print a table, and write the profile.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError, InterruptedError } from "../errors.ts";
import { renderHeading, renderTable } from "../output/table.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { collectEnvironment } from "../profile/environment.ts";
import { buildProfile, writeProfile } from "../profile/profile.ts";
import { type Case, planCases } from "../run/plan.ts";
import { runCases } from "../run/runner.ts";
import { loadScenario } from "../scenario/load.ts";
import { parseScenario, type Scenario } from "../scenario/schema.ts";
import { resolveAutoTarget } from "../targets/registry.ts";
import { optionalEnv } from "../util/env.ts";
import { commaList, nonNegativeInteger, parseFlags, positiveInteger } from "./args.ts";
import { ProbeProgress, Progress } from "./progress.ts";
import { limitsForFiles } from "../probe/probe.ts";
import type { MachineLimits } from "../profile/profile.ts";
import type { WeightSet } from "../formats/weights.ts";

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
  -h, --help             show this help
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
  const cases = planCases(resolved);

  if (values["dry-run"]) {
    printPlan(resolved, cases, values.json ?? false, notes);
    return 0;
  }

  const outDir = resolve(values.out ?? DEFAULT_PROFILE_DIR);
  await ensureWritableDir(outDir);
  const progress = new Progress(!values.json && Deno.stderr.isTerminal());
  const controller = new AbortController();
  const onSignal = () => controller.abort(new InterruptedError());
  Deno.addSignalListener("SIGINT", onSignal);
  let result;
  try {
    result = await runCases(cases, {
      runs: resolved.runs,
      warmup: resolved.warmup,
      fixtureRoot: optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE,
      signal: controller.signal,
      onEvent: (event) => {
        // Notes wait until the weights and targets are known good, so bad input stays one line.
        if (event.kind === "ready") { for (const note of notes) console.error(note); }
        progress.update(event);
      },
    });
  } finally {
    progress.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }

  const weightDirs = result.weights.map(({ weights }) => dirname(weights.files[0]!.path));
  const environment = await collectEnvironment([...new Set(weightDirs)]);
  const limits = values["no-probe"]
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
    console.log(renderTable(profile, { color: !Deno.noColor && Deno.stdout.isTerminal() }));
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
): void {
  if (json) {
    console.log(JSON.stringify({ scenario, notes, cases }, null, 2));
    return;
  }
  for (const note of notes) console.log(note);
  console.log(
    `${scenario.name}: ${cases.length} case${cases.length === 1 ? "" : "s"} × ` +
      `(${scenario.warmup} warmup + ${scenario.runs} timed) samples`,
  );
  for (const c of cases) console.log(`  ${String(c.index + 1).padStart(3)}  ${c.id}`);
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
