/**
 * Test helpers: variants of the synthetic profile with chosen load times,
 * machines, commits and limits, with their statistics recomputed.
 *
 * @module
 */

import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { caseStats } from "../../profiles/case_stats.ts";
import { type MachineLimits, type Profile, type ProfileCase } from "../../profiles/schema.ts";
import type { Environment } from "../../profiles/schema.ts";
import { planIdentity, shardOfCase } from "../run/shard.ts";
import type { MergeInput } from "./merge_profiles.ts";
import { limitFor } from "../../profiles/limits.ts";

/** What to change in the synthetic profile. */
export interface Variant {
  /** New load time of each timed sample, from the case and the old time. */
  readonly durations?: (c: ProfileCase, ms: number, index: number) => number;
  /** Fields of the environment to replace. */
  readonly environment?: Partial<Environment>;
  readonly commit?: string;
  /** The profile's creation time, which its id also carries. */
  readonly createdAt?: string;
  /** Storage and memory-copy limits in GB/s; every completed case gets its `ofLimit`. */
  readonly limitGBps?: number;
  readonly targets?: Profile["targets"];
}

/** The synthetic profile, changed as `variant` says. */
export function variantProfile(variant: Variant = {}): Profile {
  const base = syntheticProfile();
  const createdAt = variant.createdAt ?? base.createdAt;
  const limits: MachineLimits | null = variant.limitGBps === undefined ? null : {
    measuredAt: createdAt,
    key: "test",
    storage: {
      path: "/models",
      cold: { gbps: variant.limitGBps, blockSize: 1 << 20, depth: 4 },
      warm: { gbps: variant.limitGBps },
    },
    memoryCopyGBps: variant.limitGBps,
    devices: [],
  };
  const cases = base.cases.map((c) => {
    if (c.state !== "completed") return c;
    let timed = 0;
    const samples = c.samples.map((s) =>
      s.warmup || !variant.durations
        ? s
        : { ...s, durationMs: variant.durations(c, s.durationMs, timed++) }
    );
    const stats = caseStats(samples);
    const ofLimit = limits && stats
      ? {
        fraction: stats.throughputGBps.median / limits.memoryCopyGBps,
        limit: c.cache === "cold" ? "storage" : "page cache",
        limitGBps: limits.memoryCopyGBps,
      }
      : null;
    return { ...c, samples, stats: stats && { ...stats, ofLimit } };
  });
  const git = variant.commit === undefined
    ? base.environment.git
    : { commit: variant.commit, dirty: false };
  return {
    ...base,
    id: `${createdAt.replace(/[:.]/g, "-")}-synthetic`,
    createdAt,
    environment: { ...base.environment, git, ...variant.environment },
    limits,
    targets: variant.targets ?? base.targets,
    cases,
  };
}

/**
 * The synthetic profile cut into `count` shards as `bench --shard I/N` cuts
 * it, one node each (`gpu-01`, …, as Slurm array tasks of job 500), with
 * sources `shard-I.json`.
 */
export function shardedProfiles(count: number): MergeInput[] {
  const base = syntheticProfile();
  const plan = planIdentity(base.cases);
  return Array.from({ length: count }, (_, i) => {
    const index = i + 1;
    const name = `gpu-${String(index).padStart(2, "0")}`;
    const createdAt = `2026-01-01T00:0${Math.min(index, 9)}:00.000Z`;
    const profile: Profile = {
      ...base,
      id: `${createdAt.replace(/[:.]/g, "-")}-synthetic-shard-${index}-of-${count}`,
      createdAt,
      environment: { ...base.environment, host: name },
      run: { ...base.run, startedAt: createdAt, durationMs: 1000 * index },
      cases: base.cases.filter((c) => shardOfCase(c.index, count) === index),
      shard: { mode: "shard", index, count, plan },
      node: {
        name,
        host: name,
        scheduler: {
          kind: "slurm",
          jobId: "500",
          taskId: String(index),
          env: { SLURM_JOB_ID: String(500 + index), SLURM_ARRAY_JOB_ID: "500" },
        },
      },
    };
    return { profile, source: `shard-${index}.json` };
  });
}

/** Wall-clock start of the synthetic herd: T0. */
export const HERD_T0 = Date.UTC(2026, 0, 1, 1, 0, 0);

/**
 * The synthetic profile run by a herd of `count` members: member I's loads
 * take `1 + 0.5 × (I - 1)` times as long and start I - 1 ms after each slot
 * (10 s apart), as `bench --herd I/N --start-at` records them.
 */
export function herdProfiles(count: number): MergeInput[] {
  const base = syntheticProfile();
  const plan = planIdentity(base.cases);
  const slotMs = 10_000;
  return Array.from({ length: count }, (_, i) => {
    const index = i + 1;
    const name = `node-${index}`;
    const factor = 1 + 0.5 * i;
    const cases = base.cases.map((c): ProfileCase => {
      if (c.state !== "completed") return c;
      const samples = c.samples.map((s) => ({
        ...s,
        durationMs: s.durationMs * factor,
        startedAtEpochMs: HERD_T0 + (s.round * base.cases.length + c.index) * slotMs + i,
        lateMs: 0,
      }));
      return { ...c, samples, stats: caseStats(samples) };
    });
    const profile: Profile = {
      ...base,
      id: `2026-01-01T00-59-00-000Z-synthetic-herd-${index}-of-${count}`,
      environment: { ...base.environment, host: name },
      cases,
      shard: {
        mode: "herd",
        index,
        count,
        plan,
        start: { startAt: HERD_T0, slotMs, source: "start-at" },
      },
      node: { name, host: name, scheduler: null },
    };
    return { profile, source: `herd-${index}.json` };
  });
}

/** One case of {@linkcode measuredProfile}: a strategy's timed load times in one cache state. */
export interface MeasuredCase {
  /** A strategy name, or its label with options: `mmap(advice=sequential)`. */
  readonly strategy: string;
  readonly cache: "cold" | "warm";
  /** Timed load times, ms. */
  readonly durations: readonly number[];
  /** Tensor bytes of each load. @default 512 MiB */
  readonly bytes?: number;
  /** @default "host" */
  readonly target?: string;
  /** The weights' label. @default `w-<bytes>` */
  readonly weights?: string;
}

/** `n` load times around `ms`, spread ±`spread` of it, deterministic. */
export function around(ms: number, spread = 0.01, n = 7): number[] {
  return Array.from({ length: n }, (_, i) => ms * (1 + spread * (((i * 5) % n) / (n - 1) * 2 - 1)));
}

/** Limits of a machine whose storage reads `coldGBps` cold and whose page cache and copies run at 20 GB/s. */
export function testLimits(coldGBps = 2): MachineLimits {
  return {
    measuredAt: "2026-01-01T00:00:00.000Z",
    key: "k",
    storage: {
      path: "/m",
      cold: { gbps: coldGBps, blockSize: 8 << 20, depth: 4 },
      warm: { gbps: 20 },
    },
    memoryCopyGBps: 20,
    devices: [],
  };
}

/**
 * A profile of exactly the cases given, each with its samples and statistics
 * (rated against `limits` when given), on the synthetic machine.
 */
export function measuredProfile(
  cases: readonly MeasuredCase[],
  options: { limits?: MachineLimits; memoryBytes?: number } = {},
): Profile {
  const base = syntheticProfile();
  const template = base.cases[0]!.samples.find((s) => !s.warmup)!;
  const profileCases = cases.map((m, index): ProfileCase => {
    const bytes = m.bytes ?? 512 * 1024 ** 2;
    const target = m.target ?? "host";
    const weights = m.weights ?? `w-${bytes}`;
    const name = m.strategy.replace(/\(.*$/, "");
    const samples = m.durations.map((durationMs, round) => ({
      ...template,
      round,
      durationMs,
      bytes,
      bytesRead: bytes,
      spans: [{ phase: "read" as const, start: 0, end: durationMs }],
      verification: { mode: "all" as const, checkedBytes: bytes },
    }));
    const stats = caseStats(samples)!;
    return {
      id: `${weights}/${m.strategy}/${target}/${m.cache}`,
      index,
      weights,
      strategy: { name, options: {} },
      strategyLabel: m.strategy,
      target,
      cache: m.cache,
      state: "completed",
      samples,
      stats: {
        ...stats,
        ofLimit: limitFor(m.cache, target, stats.throughputGBps.median, options.limits),
      },
    };
  });
  return {
    ...base,
    limits: options.limits ?? null,
    environment: {
      ...base.environment,
      memoryBytes: options.memoryBytes ?? base.environment.memoryBytes,
    },
    cases: profileCases,
  };
}
