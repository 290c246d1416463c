/**
 * What a thundering herd did: for each case of a merged herd profile, every
 * node's median load time, the spread between the fastest and the slowest
 * node, how far apart the nodes' loads really started, and the throughput
 * the shared storage gave the whole fleet at once (every node's bytes over
 * the time from the first start to the last finish, per round, median over
 * rounds). A pure function of the profile, read defensively: a profile is
 * untrusted input.
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

import type { Profile } from "../../profiles/profile.ts";

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
  const p = profile as unknown as Record<string, unknown>;
  const merged = obj(p.merged);
  if (merged.mode !== "herd") return null;
  const nodes = arr(p.nodes).map(obj);
  const names = nodes.map((n, i) => str(n.label) ?? `node ${i + 1}`);
  // Two members on one machine share its name: the member's key tells them apart.
  const labels = names.map((name, i) =>
    names.indexOf(name) === names.lastIndexOf(name)
      ? name
      : `${name} #${str(nodes[i]!.key) ?? i + 1}`
  );
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const c of arr(p.cases).map(obj)) {
    const id = str(c.planId) ?? str(c.id) ?? "?";
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  const cases: HerdCase[] = [];
  for (const [id, copies] of groups) {
    const results: HerdNodeResult[] = copies.map((c) => {
      const node = num(c.node) ?? 0;
      const timed = timedSamples(c);
      const lates = timed.map((s) => num(s.lateMs)).filter((v): v is number => v !== null);
      const stats = obj(c.stats);
      return {
        node,
        label: labels[node] ?? `node ${node + 1}`,
        state: str(c.state) ?? "?",
        medianMs: num(obj(stats.durationMs).median),
        gbps: num(obj(stats.throughputGBps).median),
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
      strategy: str(first.strategyLabel) ?? str(obj(first.strategy).name) ?? "?",
      cache: str(first.cache) ?? "?",
      nodes: results,
      fastestMs: fastest,
      slowestMs: slowest,
      spread: fastest !== null && slowest !== null && medians.length > 1 ? slowest / fastest : null,
      startSkewMs: median(rounds.map((r) => r.skewMs)),
      fleetGBps: median(rounds.map((r) => r.gbps)),
    });
  }
  const shard = obj(nodes[0]?.shard);
  const start = obj(shard.start);
  const startAt = num(start.startAt);
  const slotMs = num(start.slotMs);
  return {
    members: nodes.length,
    nodes: labels,
    start: startAt === null || slotMs === null
      ? null
      : { startAt, slotMs, source: str(start.source) ?? "?" },
    cases,
  };
}

/** Per round where at least two nodes have a timed sample with a wall-clock start. */
function roundsOf(copies: readonly Record<string, unknown>[]): { skewMs: number; gbps: number }[] {
  const byRound = new Map<number, { start: number; end: number; bytes: number }[]>();
  for (const c of copies) {
    for (const s of timedSamples(c)) {
      const round = num(s.round);
      const start = num(s.startedAtEpochMs);
      const duration = num(s.durationMs);
      const bytes = num(s.bytes);
      if (round === null || start === null || duration === null || bytes === null) continue;
      byRound.set(round, [...(byRound.get(round) ?? []), { start, end: start + duration, bytes }]);
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

function timedSamples(c: Record<string, unknown>): Record<string, unknown>[] {
  return arr(c.samples).map(obj).filter((s) => s.warmup !== true);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return (sorted[(n - 1) >> 1]! + sorted[n >> 1]!) / 2;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function obj(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function arr(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}
