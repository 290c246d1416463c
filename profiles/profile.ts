/**
 * Profiles: what a run leaves behind, one JSON file per run. A profile holds
 * the environment, the scenario, every sample with its spans, and the
 * statistics of each case, under a `schemaVersion` so later tools can tell
 * what they are reading. Tables, reports and comparisons are built from
 * profiles alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { caseStats } from "./profile.ts";
 *
 * const sample = (durationMs: number) => ({
 *   round: 1, warmup: false, startedAt: 0, durationMs, bytes: 1e9, bytesRead: 1e9,
 *   cache: { residentFraction: 0, residentBytes: 0, established: true },
 *   peakRssBytes: 2e9, rssBeforeBytes: 1e9, harnessMs: 0.1, cachePrepMs: 5, verified: true,
 *   spans: [{ phase: "read" as const, start: 0, end: durationMs }],
 * });
 * const stats = caseStats([sample(500), sample(510), sample(490)])!;
 * assert.equal(stats.durationMs.median, 500);
 * assert.equal(stats.throughputGBps.median, 2);
 * assert.equal(stats.phases.read!.median, 500);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../bench/util/atomic.ts";
import { limitFor } from "../bench/probe/limits.ts";
import { InputError } from "../bench/util/errors.ts";
import type { Case } from "../bench/run/plan.ts";
import type { NodeInfo } from "../bench/run/scheduler.ts";
import type { PlanIdentity } from "../bench/run/shard.ts";
import { type Phase, PHASES, phaseTotals } from "../bench/core/recorder.ts";
import type { RunResult, Sample } from "../bench/run/runner.ts";
import type { Scenario } from "../bench/scenarios/schema.ts";
import { summarize, type Summary } from "../bench/stats/summary.ts";
import type { Environment } from "../bench/probe/environment.ts";

/** The version of the profile layout this tool writes and reads. */
export const SCHEMA_VERSION = 1;
/** The tool's version, recorded in every profile. */
export const TOOL_VERSION = "0.1.0";
/** Largest profile read. @default 512 MiB */
const MAX_PROFILE_BYTES = 512 << 20;

/** What this machine can do, measured by `deno task probe`; throughputs in decimal GB/s. */
export interface MachineLimits {
  /** When the probe ran (ISO 8601). */
  readonly measuredAt: string;
  /** The cache key: host, storage device and file system, GPUs. */
  readonly key: string;
  readonly storage: {
    /** The folder whose storage was measured. */
    readonly path: string;
    /** Best O_DIRECT sequential read, with the settings that reached it; null where O_DIRECT is refused. */
    readonly cold:
      | { readonly gbps: number; readonly blockSize: number; readonly depth: number }
      | null;
    /** Sequential read from the page cache. */
    readonly warm: { readonly gbps: number };
  };
  /** Large host memory copy. */
  readonly memoryCopyGBps: number;
  /** Host-to-device and device-to-host links, per GPU. */
  readonly devices: readonly {
    readonly id: string;
    readonly pinnedH2DGBps: number;
    readonly pageableH2DGBps: number;
    readonly pinnedD2HGBps: number;
    readonly pageableD2HGBps: number;
  }[];
}

/** A case's throughput against the machine limit that bounds it. */
export interface OfLimit {
  /** Median throughput / limit. */
  readonly fraction: number;
  /** Which limit: `storage cold`, `page cache`, `memory copy`, `cuda:0 pinned h2d`, … */
  readonly limit: string;
  readonly limitGBps: number;
}

/** Statistics of one case's timed samples. */
export interface CaseStats {
  readonly samples: number;
  /** Load wall time. */
  readonly durationMs: Summary;
  /** Decimal GB/s of tensor bytes at the median time, and at the CI's ends. */
  readonly throughputGBps: { readonly median: number; readonly low: number; readonly high: number };
  /** Per phase, the wall time its spans cover inside the load (overlapping spans count once). */
  readonly phases: Readonly<Partial<Record<Phase, Summary>>>;
  /** Time to verify the loaded bytes, after the load. */
  readonly verifyMs: Summary | null;
  readonly peakRssBytes: { readonly median: number; readonly max: number } | null;
  /** The most a load added to resident memory: its peak less the RSS when it started. */
  readonly loadRssBytes: { readonly max: number } | null;
  readonly verified: { readonly passed: number; readonly samples: number };
  readonly cache: {
    readonly established: number;
    readonly residentFraction: { readonly min: number; readonly max: number };
  };
  readonly harnessMs: { readonly median: number; readonly max: number };
  /** Throughput as a fraction of the machine's limit; null without probe figures. */
  readonly ofLimit?: OfLimit | null;
}

/** One case in a profile. */
export interface ProfileCase {
  readonly id: string;
  readonly index: number;
  readonly weights: string;
  readonly strategy: { readonly name: string; readonly options: Readonly<Record<string, unknown>> };
  readonly strategyLabel: string;
  readonly target: string;
  readonly cache: "cold" | "warm";
  readonly state: "completed" | "errored" | "skipped";
  readonly error?: string;
  readonly reason?: string;
  readonly samples: readonly Sample[];
  readonly stats: CaseStats | null;
  /** In a merged profile: the index in `nodes` of the node that ran the case. */
  readonly node?: number;
  /**
   * In a merged profile whose case ids would repeat (a herd: every node runs
   * every case), the id the case had in its node's profile; `id` then ends in
   * `@<node key>`.
   */
  readonly planId?: string;
}

/** How a run's start was synchronised with the other members of a herd. */
export interface HerdStart {
  /** T0, epoch ms: when the first slot started. */
  readonly startAt: number;
  /** Time each sample gets in the timetable. */
  readonly slotMs: number;
  /** `start-at` (given) or `barrier` (the folder's path). */
  readonly source: string;
}

/**
 * Which part of a fleet run a profile is: one slice of a plan (`--shard I/N`,
 * mode `shard`), or one member of a herd running every case (`--herd I/N`,
 * mode `herd`). Indices count from 1.
 */
export interface ShardInfo {
  readonly mode: "shard" | "herd";
  readonly index: number;
  readonly count: number;
  /** The whole plan, before `auto` targets resolve: the same on every node. */
  readonly plan: PlanIdentity;
  /** Herds: the synchronised start, when there was one. */
  readonly start?: HerdStart | null;
}

/** One source profile of a merged profile: the machine and what it ran. */
export interface ProfileNode {
  /** Short and unique in the profile: the shard or member index, else the position (from 1). */
  readonly key: string;
  /** The node's name. */
  readonly label: string;
  /** The source profile's id and the file it was read from. */
  readonly profile: string;
  readonly source: string | null;
  readonly scenario: string;
  readonly shard: ShardInfo | null;
  readonly node: NodeInfo | null;
  readonly environment: Environment;
  readonly limits: MachineLimits | null;
  readonly targets: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly run: Profile["run"];
  readonly command: readonly string[];
  readonly cases: number;
}

/** What a merged profile was made of. */
export interface MergeInfo {
  /** `shards` of one plan, members of one `herd`, or profiles `combined` as given. */
  readonly mode: "shards" | "herd" | "combined";
  readonly sources: number;
  /** Shards or members named by the inputs' `I/N` that were not given (with `--allow-missing`). */
  readonly missing: readonly string[];
}

/** The weights a profile measured. */
export interface ProfileWeights {
  readonly label: string;
  readonly source: string;
  readonly format: string;
  readonly fixture: Readonly<Record<string, unknown>> | null;
  readonly files: readonly {
    readonly path: string;
    readonly size: number;
    readonly tensors: number;
  }[];
  readonly tensorCount: number;
  readonly tensorBytes: number;
  readonly fileBytes: number;
}

/** A whole profile, as written to disk. */
export interface Profile {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly tool: { readonly name: "weightbench"; readonly version: string };
  readonly id: string;
  readonly createdAt: string;
  readonly command: readonly string[];
  readonly scenario: Scenario & { readonly source: string | null };
  readonly environment: Environment;
  /** The probe's figures for this machine, when measured. */
  readonly limits?: MachineLimits | null;
  readonly targets: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly weights: readonly ProfileWeights[];
  readonly run: {
    readonly startedAt: string;
    readonly durationMs: number;
    readonly runs: number;
    readonly warmup: number;
  };
  readonly cases: readonly ProfileCase[];
  /** The part of a fleet run this profile is, or null for a whole run. */
  readonly shard?: ShardInfo | null;
  /** The machine and scheduler job that ran it. */
  readonly node?: NodeInfo | null;
  /** Set on a profile made by `merge`; `environment` is then the first node's. */
  readonly merged?: MergeInfo | null;
  /** A merged profile's nodes; each case's `node` indexes this list. */
  readonly nodes?: readonly ProfileNode[];
}

/** Statistics over the timed (non-warmup) samples, or null when there are none. */
export function caseStats(samples: readonly Sample[]): CaseStats | null {
  const timed = samples.filter((s) => !s.warmup);
  if (timed.length === 0) return null;
  const durations = timed.map((s) => s.durationMs);
  const durationMs = summarize(durations);
  const bytes = timed[0]!.bytes;
  const gbps = (ms: number) => (ms > 0 ? bytes / (ms * 1e6) : 0);

  const perSample = timed.map((s) =>
    phaseTotals(s.spans.filter((span) => span.start < s.durationMs))
  );
  const verify = timed.map((s) =>
    phaseTotals(s.spans.filter((span) => span.start >= s.durationMs)).verify
  )
    .filter((v): v is number => v !== undefined);
  const phases: Partial<Record<Phase, Summary>> = {};
  for (const phase of PHASES) {
    if (perSample.some((totals) => totals[phase] !== undefined)) {
      phases[phase] = summarize(perSample.map((totals) => totals[phase] ?? 0));
    }
  }

  const rss = timed.map((s) => s.peakRssBytes).filter((v): v is number => v !== null);
  const added = timed.filter((s) => s.peakRssBytes !== null && s.rssBeforeBytes !== null)
    .map((s) => s.peakRssBytes! - s.rssBeforeBytes!);
  const fractions = timed.map((s) => s.cache.residentFraction);
  const harness = summarize(timed.map((s) => s.harnessMs));
  return {
    samples: timed.length,
    durationMs,
    throughputGBps: {
      median: gbps(durationMs.median),
      low: gbps(durationMs.ci.high),
      high: gbps(durationMs.ci.low),
    },
    phases,
    verifyMs: verify.length === 0 ? null : summarize(verify),
    peakRssBytes: rss.length === 0
      ? null
      : { median: summarize(rss).median, max: Math.max(...rss) },
    loadRssBytes: added.length === 0 ? null : { max: Math.max(...added) },
    verified: { passed: timed.filter((s) => s.verified).length, samples: timed.length },
    cache: {
      established: timed.filter((s) => s.cache.established).length,
      residentFraction: { min: Math.min(...fractions), max: Math.max(...fractions) },
    },
    harnessMs: { median: harness.median, max: harness.max },
  };
}

/** Assembles the profile of a run. */
export function buildProfile(input: {
  scenario: Scenario;
  scenarioSource: string | null;
  command: readonly string[];
  environment: Environment;
  /** The machine's limits, when measured. */
  limits?: MachineLimits | null;
  result: RunResult;
  runs: number;
  warmup: number;
  now?: Date;
  /** The slice or herd member this run is. */
  shard?: ShardInfo | null;
  /** The machine and scheduler job. */
  node?: NodeInfo | null;
}): Profile {
  const { result } = input;
  const createdAt = (input.now ?? new Date()).toISOString();
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: "weightbench", version: TOOL_VERSION },
    id: `${createdAt.replace(/[:.]/g, "-")}-${safeName(input.scenario.name)}${
      input.shard ? `-${input.shard.mode}-${input.shard.index}-of-${input.shard.count}` : ""
    }`,
    createdAt,
    command: [...input.command],
    scenario: { ...input.scenario, source: input.scenarioSource },
    environment: input.environment,
    limits: input.limits ?? null,
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
    })),
    run: {
      startedAt: result.startedAt,
      durationMs: result.durationMs,
      runs: input.runs,
      warmup: input.warmup,
    },
    cases: result.cases.map(({ case: c, outcome }) =>
      profileCase(c, outcome, input.limits ?? null)
    ),
    ...(input.shard === undefined ? {} : { shard: input.shard }),
    ...(input.node === undefined ? {} : { node: input.node }),
  };
}

function profileCase(
  c: Case,
  outcome: RunResult["cases"][number]["outcome"],
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

/** A name safe in file names: letters, digits, `.`, `_` and `-`. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80) || "run";
}

const versionOnly = z.object({ schemaVersion: z.number() }).loose();
const summaryShape = z.object({ n: z.number(), median: z.number() }).loose();
const profileShape = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  tool: z.object({ name: z.literal("weightbench"), version: z.string() }),
  id: z.string(),
  createdAt: z.string(),
  scenario: z.object({ name: z.string() }).loose(),
  environment: z.object({ host: z.string() }).loose(),
  weights: z.array(z.object({ label: z.string(), tensorBytes: z.number() }).loose()),
  cases: z.array(
    z.object({
      id: z.string(),
      state: z.enum(["completed", "errored", "skipped"]),
      samples: z.array(z.object({ durationMs: z.number(), warmup: z.boolean() }).loose()),
      stats: z.object({ durationMs: summaryShape }).loose().nullable(),
      node: z.number().int().nonnegative().optional(),
    }).loose(),
  ),
  shard: z.object({
    mode: z.enum(["shard", "herd"]),
    index: z.number().int().positive(),
    count: z.number().int().positive(),
    plan: z.object({ cases: z.number().int().nonnegative(), digest: z.string() }).loose(),
  }).loose().nullable().optional(),
  node: z.object({ name: z.string() }).loose().nullable().optional(),
  nodes: z.array(
    z.object({ key: z.string(), label: z.string(), environment: z.object({}).loose() }).loose(),
  ).optional(),
}).loose().superRefine((profile, ctx) => {
  for (const [i, c] of profile.cases.entries()) {
    if (c.node !== undefined && c.node >= (profile.nodes?.length ?? 0)) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", i, "node"],
        message: `node ${c.node} is not in "nodes" (${profile.nodes?.length ?? 0} nodes)`,
      });
    }
  }
  const shard = profile.shard;
  if (shard && shard.index > shard.count) {
    ctx.addIssue({
      code: "custom",
      path: ["shard"],
      message: `shard ${shard.index}/${shard.count} does not exist`,
    });
  }
});

/** Reads and checks a profile; throws {@link InputError} naming the file and the problem. */
export async function readProfile(path: string): Promise<Profile> {
  let text: string;
  try {
    const { size } = await Deno.stat(path);
    if (size > MAX_PROFILE_BYTES) {
      throw new InputError(
        `Cannot read profile "${path}": ${size} bytes exceeds the ${MAX_PROFILE_BYTES}-byte limit`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read profile "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `Cannot read profile "${path}": not valid JSON (truncated?): ${(error as Error).message}`,
    );
  }
  const version = versionOnly.safeParse(json);
  if (!version.success) {
    throw new InputError(
      `Cannot read profile "${path}": no schemaVersion, not a weightbench profile`,
    );
  }
  if (version.data.schemaVersion !== SCHEMA_VERSION) {
    throw new InputError(
      `Cannot read profile "${path}": schemaVersion ${version.data.schemaVersion} is not ${SCHEMA_VERSION}, the version this tool reads`,
    );
  }
  const checked = profileShape.safeParse(json);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new InputError(
      `Cannot read profile "${path}": ${issue.path.join(".") || "profile"}: ${issue.message}`,
    );
  }
  return json as Profile;
}

/** Writes `profile` atomically as `<dir>/<id>.json` and returns the path. */
export async function writeProfile(profile: Profile, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(profile, null, 2)}\n`;
  for (let attempt = 0;; attempt++) {
    // Two runs finishing in the same millisecond get distinct names, never one over the other.
    const name = attempt === 0 ? profile.id : `${profile.id}-${attempt}`;
    const path = join(dir, `${name}.json`);
    try {
      await writeFileAtomic(path, text, { createNew: true });
      return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 99) throw error;
    }
  }
}
