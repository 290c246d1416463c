/**
 * Test helpers: variants of the synthetic profile with chosen load times,
 * machines, commits and limits, with their statistics recomputed.
 *
 * @module
 */

import { syntheticProfile } from "../profile/_synthetic.ts";
import {
  caseStats,
  type MachineLimits,
  type Profile,
  type ProfileCase,
} from "../profile/profile.ts";
import type { Environment } from "../profile/environment.ts";

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
