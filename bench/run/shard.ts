/**
 * Slices of a plan for a fleet: `--shard I/N` runs the I-th of N slices, so N
 * machines (Slurm array tasks, Kubernetes Indexed Job pods) share one
 * scenario, and `merge` puts their profiles back together.
 *
 * Shards are numbered from 1: `1/3`, `2/3`, `3/3`, as Slurm arrays written
 * `--array=1-N` and the `--shard` flags of Playwright and Jest count them
 * (a Kubernetes completion index, which starts at 0, is index + 1).
 *
 * The cases are dealt round-robin in plan order: case `k` goes to shard
 * `k mod N + 1`. The plan is weights outermost, so every shard gets an even
 * share of each weights' cases, and shard sizes differ by at most one. Every
 * node computes the same plan from the same scenario (a pure function), so
 * every case lands in exactly one shard. A shard may be empty when N exceeds
 * the number of cases; it still writes a profile, so a merge can tell an
 * empty shard from a missing one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShard, shardOfCase } from "./shard.ts";
 *
 * assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
 * assert.equal(shardOfCase(4, 3), 2);
 * assert.throws(() => parseShard("3/2"), /Invalid --shard "3\/2": shard 3 of 2/);
 * assert.throws(() => parseShard("0/0"), /Invalid --shard "0\/0"/);
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { InputError } from "../util/errors.ts";
import type { Case } from "./plan.ts";
import type { PlanIdentity } from "../../profiles/schema.ts";

/** One slice of a plan, or one member of a herd: `index` of `count`, from 1. */
export interface ShardSpec {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
}

/** The most shards (or herd members) a run may be split into. @default 100000 */
export const MAX_SHARDS = 100_000;

/** Parses `I/N` (1 ≤ I ≤ N); anything else is an {@link InputError} naming `flag`. */
export function parseShard(text: string, flag = "--shard"): ShardSpec {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const bad = (why: string) => new InputError(`Invalid ${flag} "${text}": ${why}`);
  if (!match) throw bad("expected I/N, such as 1/4 (shards count from 1)");
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw bad("N must be at least 1");
  }
  if (count > MAX_SHARDS) throw bad(`N must be at most ${MAX_SHARDS}`);
  if (index < 1) throw bad("shards count from 1 (a Kubernetes completion index is index + 1)");
  if (index > count) {
    throw bad(`shard ${index} of ${count} does not exist (I must be 1 to ${count})`);
  }
  return { index, count };
}

/** `2/3`. */
export function formatShard(shard: ShardSpec): string {
  return `${shard.index}/${shard.count}`;
}

/** The shard (1-based) that runs the case at plan position `caseIndex` of a plan cut in `count`. */
export function shardOfCase(caseIndex: number, count: number): number {
  return (caseIndex % count) + 1;
}

/** The cases of `shard`, in plan order, each keeping its plan index and id. */
export function shardCases<C extends Pick<Case, "index">>(
  cases: readonly C[],
  shard: ShardSpec,
): C[] {
  return cases.filter((c) => shardOfCase(c.index, shard.count) === shard.index);
}

/**
 * The identity of a plan. Take it before `auto` targets are resolved, since
 * `auto` is `cuda:0` on one node and `host` on another.
 */
export function planIdentity(cases: readonly Pick<Case, "id">[]): PlanIdentity {
  const digest = createHash("sha256").update(cases.map((c) => c.id).join("\n")).digest("hex");
  return { cases: cases.length, digest: digest.slice(0, 16) };
}
