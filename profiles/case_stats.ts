/**
 * The statistics of one case, from its samples: the spread of its load times
 * (median, quartiles, bootstrap interval, outliers), its throughput, the wall
 * time of each phase, memory, cache state and what verification checked.
 * Warmup samples are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { caseStats } from "./case_stats.ts";
 *
 * const sample = (durationMs: number) => ({
 *   round: 1, warmup: false, startedAt: 0, durationMs, bytes: 1e9, bytesRead: 1e9,
 *   cache: { residentFraction: 0, residentBytes: 0, established: true },
 *   peakRssBytes: 2e9, rssBeforeBytes: 1e9, harnessMs: 0.1, cachePrepMs: 5,
 *   verification: { mode: "all" as const, checkedBytes: 1e9 },
 *   spans: [{ phase: "read" as const, start: 0, end: durationMs }],
 * });
 * const stats = caseStats([sample(500), sample(510), sample(490)])!;
 * assert.equal(stats.durationMs.median, 500);
 * assert.equal(stats.throughputGBps.median, 2);
 * assert.equal(stats.phases.read!.median, 500);
 * assert.deepEqual(stats.verified, { samples: 3, mode: "all" });
 * ```
 *
 * @module
 */

import { type Phase, PHASES, phaseTotals } from "../bench/core/recorder.ts";
import { summarize, type Summary } from "../bench/stats/summary.ts";
import type { CaseStats, Sample } from "./schema.ts";

/** Statistics over the timed (non-warmup) samples, or null when there are none. */
export function caseStats(samples: readonly Sample[]): CaseStats | null {
  const timed = samples.filter((s) => !s.warmup);
  if (timed.length === 0) return null;
  const durationMs = summarize(timed.map((s) => s.durationMs));
  const bytes = timed[0]!.bytes;
  const gbps = (ms: number) => (ms > 0 ? bytes / (ms * 1e6) : 0);
  const rss = timed.map((s) => s.peakRssBytes).filter((v): v is number => v !== null);
  const added = timed.filter((s) => s.peakRssBytes !== null && s.rssBeforeBytes !== null)
    .map((s) => s.peakRssBytes! - s.rssBeforeBytes!);
  const fractions = timed.map((s) => s.cache.residentFraction);
  const harness = summarize(timed.map((s) => s.harnessMs));
  const modes = new Set(timed.map((s) => s.verification.mode));
  return {
    samples: timed.length,
    durationMs,
    throughputGBps: {
      median: gbps(durationMs.median),
      low: gbps(durationMs.ci.high),
      high: gbps(durationMs.ci.low),
    },
    ...phaseStats(timed),
    peakRssBytes: rss.length === 0
      ? null
      : { median: summarize(rss).median, max: Math.max(...rss) },
    loadRssBytes: added.length === 0 ? null : { max: Math.max(...added) },
    verified: { samples: timed.length, mode: modes.size === 1 ? [...modes][0]! : "mixed" },
    cache: {
      established: timed.filter((s) => s.cache.established).length,
      residentFraction: { min: Math.min(...fractions), max: Math.max(...fractions) },
    },
    harnessMs: { median: harness.median, max: harness.max },
  };
}

/** Per phase, the wall time its spans cover inside each load; and verification, after it. */
function phaseStats(
  timed: readonly Sample[],
): { phases: Partial<Record<Phase, Summary>>; verifyMs: Summary | null } {
  const inside = timed.map((s) => phaseTotals(s.spans.filter((span) => span.start < s.durationMs)));
  const verify = timed
    .map((s) => phaseTotals(s.spans.filter((span) => span.start >= s.durationMs)).verify)
    .filter((v): v is number => v !== undefined);
  const phases: Partial<Record<Phase, Summary>> = {};
  for (const phase of PHASES) {
    if (inside.some((totals) => totals[phase] !== undefined)) {
      phases[phase] = summarize(inside.map((totals) => totals[phase] ?? 0));
    }
  }
  return { phases, verifyMs: verify.length === 0 ? null : summarize(verify) };
}
