/**
 * What a bench run is asked to do, as a caller writes it ({@link BenchOptions}:
 * every field optional), and the same resolved once, before anything runs
 * ({@link BenchPlan}: the scenario loaded and overridden, `auto` targets
 * decided, the matrix expanded into cases, the fleet slice taken). The CLI,
 * nightly runs, the GPU check and the fleet runners all start here, so a
 * dry run lists exactly the cases a real run measures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planBench } from "./options.ts";
 *
 * const plan = await planBench({ scenario: "quick", strategy: ["mmap"], target: ["host"], runs: 2 });
 * assert.deepEqual(plan.cases.map((c) => c.id), [
 *   "llama-3-8b-512MiB-F16-2shards/mmap/host/cold",
 *   "llama-3-8b-512MiB-F16-2shards/mmap/host/warm",
 * ]);
 * assert.equal(plan.scenario.runs, 2);
 * ```
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../util/errors.ts";
import { optionalEnv } from "../util/env.ts";
import { loadScenario } from "../scenarios/load.ts";
import { overrideScenario, type Scenario, type ScenarioOverrides } from "../scenarios/schema.ts";
import { checkTarget, resolveAutoTarget } from "../targets/registry.ts";
import type { ShardInfo } from "../../profiles/schema.ts";
import { type Case, planCases } from "./plan.ts";
import { type CheckedWeights, preflight } from "./preflight.ts";
import { formatShard, planIdentity, shardCases, type ShardSpec } from "./shard.ts";

/** Where profiles go unless told otherwise. @default profiles/runs/ */
export const DEFAULT_PROFILE_DIR = fileURLToPath(new URL("../../profiles/runs/", import.meta.url));
/** Where generated fixtures are cached, unless `WEIGHTBENCH_CACHE` says otherwise. @default fixtures/.cache/ */
export const DEFAULT_FIXTURE_CACHE = fileURLToPath(
  new URL("../../fixtures/.cache/", import.meta.url),
);
/** The scenario run when none is named. @default "quick" */
export const DEFAULT_SCENARIO = "quick";
/** How loaded bytes are checked. @default "all" */
export const DEFAULT_VERIFY = "all";

/** A herd's synchronised start: at a given time, or when every member reached a barrier. */
export interface HerdSync {
  /** Epoch ms of the first load. */
  readonly startAt?: number;
  /** A folder every member sees; members wait there for each other. */
  readonly barrier?: string;
  /** Time each sample gets in the timetable. */
  readonly slotMs: number;
}

/** The part of a fleet run this process is: a slice of the plan, or a herd member. */
export type FleetPart =
  | { readonly mode: "shard"; readonly part: ShardSpec }
  | { readonly mode: "herd"; readonly part: ShardSpec; readonly sync?: HerdSync };

/** A bench run as a caller asks for it; every field has a default. */
export interface BenchOptions extends ScenarioOverrides {
  /** A scenario file, a built-in name, or a scenario already made. @default {@link DEFAULT_SCENARIO} */
  readonly scenario?: string | Scenario;
  /** Folder for the profile. @default {@link DEFAULT_PROFILE_DIR} */
  readonly out?: string;
  /** `all` hashes every loaded byte; `sampled` checks placements and windows. @default "all" */
  readonly verify?: "all" | "sampled";
  /** Measure the machine's limits when none are cached. @default true */
  readonly probe?: boolean;
  /** Where fixtures are generated. @default `WEIGHTBENCH_CACHE`, else {@link DEFAULT_FIXTURE_CACHE} */
  readonly fixtureRoot?: string;
  /** Run one slice of the plan, or every case as one member of a herd. */
  readonly fleet?: FleetPart;
  /** The node's name in the profile. @default the scheduler's, else the host name */
  readonly nodeLabel?: string;
  /** The command line recorded in the profile. @default ["bench"] */
  readonly command?: readonly string[];
}

/** A bench run resolved: every default filled in and the cases planned, once. */
export interface BenchPlan {
  readonly scenario: Scenario;
  /** The scenario's file or built-in name; null when given as an object. */
  readonly scenarioSource: string | null;
  /** The cases this process runs, in plan order. */
  readonly cases: readonly Case[];
  /** What the user should know before the run: how `auto` resolved, an empty shard. */
  readonly notes: readonly string[];
  readonly out: string;
  readonly verify: "all" | "sampled";
  readonly probe: boolean;
  readonly fixtureRoot: string;
  readonly fleet: FleetPart | null;
  /** The fleet part as the profile records it. */
  readonly shard: ShardInfo | null;
  readonly nodeLabel: string | undefined;
  readonly command: readonly string[];
  /** What the checks before the run found (`preflight.ts`): each weights entry of the cases. */
  readonly checked: readonly CheckedWeights[];
}

/** Resolves `options` into a plan; throws {@link InputError} for anything a run would refuse. */
export async function planBench(options: BenchOptions = {}): Promise<BenchPlan> {
  const given = options.scenario ?? DEFAULT_SCENARIO;
  const base = typeof given === "string" ? await loadScenario(given) : given;
  const scenario = overrideScenario(base, options);
  const notes: string[] = [];
  const targets = scenario.targets.map((target) => {
    checkTarget(target); // a dry run refuses what a run would: `cuda:N` needs that GPU here
    if (target !== "auto") return target;
    const auto = resolveAutoTarget();
    notes.push(`target ${auto.id}: ${auto.reason}`);
    return auto.id;
  });
  const resolved: Scenario = { ...scenario, targets: [...new Set(targets)] };
  const fleet = options.fleet ?? null;
  let cases = planCases(resolved);
  let shard: ShardInfo | null = null;
  if (fleet !== null) {
    // The slice is taken from the plan as written, the same on every node; `auto` resolves here.
    const all = planCases({ ...scenario, targets });
    refuseRepeatedIds(all, targets);
    cases = fleet.mode === "shard" ? shardCases(all, fleet.part) : all;
    shard = {
      mode: fleet.mode,
      index: fleet.part.index,
      count: fleet.part.count,
      plan: planIdentity(planCases(scenario)),
    };
    if (cases.length === 0) {
      notes.push(
        `shard ${
          formatShard(fleet.part)
        } has no cases: the plan has ${all.length}, fewer than ${fleet.part.count} shards; writing an empty profile, so merge knows this shard ran`,
      );
    }
  }
  const out = resolve(options.out ?? DEFAULT_PROFILE_DIR);
  const fixtureRoot = options.fixtureRoot ?? optionalEnv("WEIGHTBENCH_CACHE") ??
    DEFAULT_FIXTURE_CACHE;
  // What the run would refuse, refused now: a dry run checks what a real run checks.
  const used = [...new Set(cases.map((c) => c.weights))];
  const checked = await preflight({ ...resolved, weights: used }, { out, fixtureRoot });
  return {
    scenario: resolved,
    scenarioSource: typeof given === "string" ? given : null,
    cases,
    notes,
    out,
    verify: options.verify ?? DEFAULT_VERIFY,
    probe: options.probe ?? true,
    fixtureRoot,
    fleet,
    shard,
    nodeLabel: options.nodeLabel,
    command: options.command ?? ["bench"],
    checked,
  };
}

/** A fleet run needs distinct ids on every node: two `auto` targets that resolve alike would not. */
function refuseRepeatedIds(cases: readonly Case[], targets: readonly string[]): void {
  const seen = new Map<string, number>();
  for (const c of cases) {
    const earlier = seen.get(c.id);
    if (earlier !== undefined) {
      throw new InputError(
        `Cannot shard: cases ${earlier + 1} and ${c.index + 1} are both "${c.id}" on this node ` +
          `(auto is ${targets.join(", ")} here); list distinct targets`,
      );
    }
    seen.set(c.id, c.index);
  }
}
