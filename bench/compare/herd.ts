/**
 * What a thundering herd did: for each case of a merged herd profile, every
 * node's median load time, the spread between the fastest and the slowest
 * node, how far apart the nodes' loads really started, and the throughput
 * the shared storage gave the whole fleet at once (every node's bytes over
 * the time from the first start to the last finish, per round, median over
 * rounds). A pure function of the profile, which the schema has checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { herdSummary } from "./herd.ts";
 * import { mergeProfiles } from "./merge_profiles.ts";
 * import { herdProfiles } from "./_testing.ts";
 *
 * const summary = herdSummary(mergeProfiles(herdProfiles(3)).profile)!;
 * const cold = summary.cases[0]!;
 * assert.equal(cold.nodes.length, 3);
 * assert.ok(Math.abs(cold.spread! - 2) < 1e-9); // the slowest member takes twice as long
 * assert.equal(cold.startSkewMs, 2);
 * ```
 *
 * @module
 */

import type { Profile, ProfileCase, Sample } from "../../profiles/schema.ts";

/** One node's part in a herd case. */
export interface HerdNodeResult {
  /** Index in the profile's `nodes`. */
  readonly node: number;
  readonly label: string;
  readonly state: string;
  /** Median load time of its timed samples, ms. */
  readonly medianMs: number | null;
  readonly gbps: number | null;
  /** The latest a timed load started against its slot, ms. */
  readonly lateMs: number | null;
}

/** One case across the herd. */
export interface HerdCase {
  /** The case's id on every node. */
  readonly id: string;
  readonly strategy: string;
  readonly cache: string;
  readonly nodes: readonly HerdNodeResult[];
  readonly fastestMs: number | null;
  readonly slowestMs: number | null;
  /** Slowest / fastest node median. */
  readonly spread: number | null;
  /** Median over rounds of the gap between the first and last node's load start, ms. */
  readonly startSkewMs: number | null;
  /** Median over rounds of all nodes' bytes / (last finish − first start), decimal GB/s. */
  readonly fleetGBps: number | null;
}

/** The herd as a whole. */
export interface HerdSummary {
  readonly members: number;
  readonly nodes: readonly string[];
  /** T0 and slot, when the start was synchronised. */
  readonly start:
    | { readonly startAt: number; readonly slotMs: number; readonly source: string }
    | null;
  readonly cases: readonly HerdCase[];
}

/** The summary of a merged herd profile, or null for any other profile. */
export function herdSummary(profile: Profile): HerdSummary | null {
  if (profile.merged?.mode !== "herd") return null;
  const nodes = profile.nodes ?? [];
  const names = nodes.map((n) => n.label);
  // Two members on one machine share its name: the member's key tells them apart.
  const labels = names.map((name, i) =>
    names.indexOf(name) === names.lastIndexOf(name) ? name : `${name} #${nodes[i]!.key}`
  );
  const groups = new Map<string, ProfileCase[]>();
  for (const c of profile.cases) {
    const id = c.planId ?? c.id;
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  const cases: HerdCase[] = [];
  for (const [id, copies] of groups) {
    const results = copies.map((c): HerdNodeResult => {
      const node = c.node ?? 0;
      const lates = timedSamples(c).map((s) => s.lateMs).filter((v) => v !== undefined);
      return {
        node,
        label: labels[node] ?? `node ${node + 1}`,
        state: c.state,
        medianMs: c.stats?.durationMs.median ?? null,
        gbps: c.stats?.throughputGBps.median ?? null,
        lateMs: lates.length > 0 ? Math.max(...lates) : null,
      };
    });
    const medians = results.map((r) => r.medianMs).filter((v): v is number => v !== null && v > 0);
    const fastest = medians.length > 0 ? Math.min(...medians) : null;
    const slowest = medians.length > 0 ? Math.max(...medians) : null;
    const rounds = roundsOf(copies);
    const first = copies[0]!;
    cases.push({
      id,
      strategy: first.strategyLabel,
      cache: first.cache,
      nodes: results,
      fastestMs: fastest,
      slowestMs: slowest,
      spread: fastest !== null && slowest !== null && medians.length > 1 ? slowest / fastest : null,
      startSkewMs: median(rounds.map((r) => r.skewMs)),
      fleetGBps: median(rounds.map((r) => r.gbps)),
    });
  }
  const start = nodes[0]?.shard?.start ?? null;
  return {
    members: nodes.length,
    nodes: labels,
    start: start === null ? null : { ...start },
    cases,
  };
}

/** Per round where at least two nodes have a timed sample with a wall-clock start. */
function roundsOf(copies: readonly ProfileCase[]): { skewMs: number; gbps: number }[] {
  const byRound = new Map<number, { start: number; end: number; bytes: number }[]>();
  for (const c of copies) {
    for (const s of timedSamples(c)) {
      const start = s.startedAtEpochMs;
      if (start === undefined) continue;
      const loads = byRound.get(s.round) ?? [];
      loads.push({ start, end: start + s.durationMs, bytes: s.bytes });
      byRound.set(s.round, loads);
    }
  }
  const out: { skewMs: number; gbps: number }[] = [];
  for (const loads of byRound.values()) {
    if (loads.length < 2) continue;
    const first = Math.min(...loads.map((l) => l.start));
    const last = Math.max(...loads.map((l) => l.start));
    const finish = Math.max(...loads.map((l) => l.end));
    const bytes = loads.reduce((sum, l) => sum + l.bytes, 0);
    out.push({ skewMs: last - first, gbps: finish > first ? bytes / ((finish - first) * 1e6) : 0 });
  }
  return out;
}

function timedSamples(c: ProfileCase): Sample[] {
  return c.samples.filter((s) => !s.warmup);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return (sorted[(n - 1) >> 1]! + sorted[n >> 1]!) / 2;
}
