/**
 * The profile of a run: what the runner measured, with the scenario, the
 * environment, the machine's limits and each case's statistics, in the layout
 * `profiles/schema.ts` describes.
 *
 * @module
 */

import type { Scenario } from "../scenarios/schema.ts";
import { InterruptedError } from "../util/errors.ts";
import { caseStats } from "../../profiles/case_stats.ts";
import { safeName } from "../../profiles/files.ts";
import { limitFor } from "../../profiles/limits.ts";
import {
  type Environment,
  type MachineLimits,
  type NodeInfo,
  type Profile,
  type ProfileCase,
  SCHEMA_VERSION,
  type ShardInfo,
  TOOL_VERSION,
} from "../../profiles/schema.ts";
import type { Case } from "./plan.ts";
import type { CaseOutcome, RunResult } from "./runner.ts";

/** What a profile is built from. */
export interface ProfileInput {
  readonly scenario: Scenario;
  /** The file or built-in name the scenario came from. */
  readonly scenarioSource: string | null;
  readonly command: readonly string[];
  readonly environment: Environment;
  /** The machine's limits, when measured. */
  readonly limits?: MachineLimits | null;
  readonly result: RunResult;
  readonly now?: Date;
  /** The slice or herd member this run is. */
  readonly shard?: ShardInfo | null;
  /** The machine and scheduler job. */
  readonly node?: NodeInfo | null;
  /** Put in the id after the time, so no other run's profile takes it: {@link processTag}. */
  readonly unique?: string;
}

/** Assembles the profile of a run. */
export function buildProfile(input: ProfileInput): Profile {
  const { result, scenario } = input;
  const createdAt = (input.now ?? new Date()).toISOString();
  const limits = input.limits ?? null;
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: "weightbench", version: TOOL_VERSION },
    id: `${createdAt.replace(/[:.]/g, "-")}${
      input.unique === undefined ? "" : `-${input.unique}`
    }-${safeName(scenario.name)}${
      input.shard ? `-${input.shard.mode}-${input.shard.index}-of-${input.shard.count}` : ""
    }`,
    createdAt,
    command: [...input.command],
    scenario: { ...scenario, source: input.scenarioSource },
    environment: input.environment,
    limits,
    targets: result.targets,
    weights: result.weights.map(({ label, spec, weights }) => ({
      label,
      source: weights.source,
      format: weights.format,
      fixture: spec.kind === "fixture" ? { ...spec } : null,
      files: weights.files.map((f) => ({
        path: f.path,
        size: f.size,
        tensors: f.index.tensors.length,
      })),
      tensorCount: weights.tensorCount,
      tensorBytes: weights.tensorBytes,
      fileBytes: weights.fileBytes,
      ...(weights.skipped === undefined || weights.skipped.length === 0 ? {} : {
        skipped: weights.skipped.map(({ file, reason, count }) => ({ file, reason, count })),
      }),
    })),
    run: {
      startedAt: result.startedAt,
      durationMs: result.durationMs,
      runs: scenario.runs,
      warmup: scenario.warmup,
      state: result.state,
      ...(result.state === "interrupted" ? { interruptedBy: interruptionName(result) } : {}),
    },
    cases: result.cases.map(({ case: c, outcome }) => profileCase(c, outcome, limits)),
    ...(input.shard === undefined ? {} : { shard: input.shard }),
    ...(input.node === undefined ? {} : { node: input.node }),
  };
}

/** One case of the profile: its plan entry, outcome, samples and statistics. */
export function profileCase(
  c: Case,
  outcome: CaseOutcome,
  limits: MachineLimits | null,
): ProfileCase {
  const stats = outcome.state === "completed" ? caseStats(outcome.samples) : null;
  const base = {
    id: c.id,
    index: c.index,
    weights: c.weightsLabel,
    strategy: { name: c.strategy.name, options: c.strategy.options },
    strategyLabel: c.strategyLabel,
    target: c.target,
    cache: c.cache,
    state: outcome.state,
    samples: outcome.samples,
    stats: stats &&
      { ...stats, ofLimit: limitFor(c.cache, c.target, stats.throughputGBps.median, limits) },
  };
  if (outcome.state === "errored") return { ...base, error: outcome.error };
  if (outcome.state === "skipped") return { ...base, reason: outcome.reason };
  return base;
}

/**
 * This process's pid and 4 random bytes (`12345-9f3a07c1`): with the time, an
 * id no other run takes, even one started in the same millisecond.
 */
export function processTag(): string {
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `${Deno.pid}-${random}`;
}

/** The signal that interrupted a run, or what its abort reason says. */
function interruptionName(result: RunResult): string {
  const reason = result.interruption;
  if (reason instanceof InterruptedError) return reason.signal;
  return reason instanceof Error ? reason.message : String(reason ?? "abort");
}
