/**
 * The answer a user came for, read out of one profile: per weights and
 * target, which strategy loads fastest cold and warm, by how much it beats
 * `full-read` (the naive loader), how close it comes to the machine's limit,
 * and whether that ranking is sure — its 95% interval apart from every other
 * strategy's — or a tie within noise; then one piece of advice per target. A
 * pure function of the profile: nothing is hard-coded, everything comes from
 * the measured cases. Words are the report's job (`report/answer.ts`).
 *
 * A case counts when it completed with statistics. Its interval is the
 * bootstrap 95% interval of its median when it has at least
 * {@linkcode MIN_SAMPLES_FOR_CI} timed samples; with fewer it has none, and a
 * ranking that rests on it is `unsure`, never a zero-width certainty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { variantProfile } from "./_testing.ts";
 * import { profileVerdict } from "./verdict.ts";
 *
 * // mmap loads in half the time full-read takes, cold and warm.
 * const profile = variantProfile({
 *   durations: (c, ms) => (c.strategy.name === "mmap" ? ms / 2 : ms),
 * });
 * const { groups, advice } = profileVerdict(profile);
 * const cold = groups[0]!.caches[0]!;
 * assert.equal(cold.cache, "cold");
 * assert.equal(cold.fastest.strategy, "mmap");
 * assert.equal(cold.certainty, "sure");
 * assert.ok(Math.abs(cold.fastest.vsFullRead! - 2) < 0.1);
 * assert.equal(advice[0]!.target, "host");
 * assert.equal(advice[0]!.picks[0]!.strategy, "mmap");
 * ```
 *
 * @module
 */

import type { OfLimit, Profile, ProfileCase } from "../../profiles/schema.ts";
import type { CacheState } from "../core/cache_state.ts";
import { MIN_SAMPLES } from "./significance.ts";

/**
 * Fewest timed samples whose bootstrap interval of the median is shown and
 * trusted; with fewer, tables say "n too small for a CI" instead of an
 * interval that was never measured. The same minimum `compare` needs a side.
 *
 * @default 3
 */
export const MIN_SAMPLES_FOR_CI = MIN_SAMPLES;

/** Fewest timed samples whose quartiles mean anything: one sample has no spread. @default 2 */
export const MIN_SAMPLES_FOR_IQR = 2;

/** The naive loader every speed-up is measured against. */
export const REFERENCE_STRATEGY = "full-read";

/** One measured case in a ranking. */
export interface Contender {
  readonly id: string;
  /** The strategy with its non-default options: `mmap(advice=sequential)`. */
  readonly strategy: string;
  readonly medianMs: number;
  readonly samples: number;
  /** The 95% interval of the median; null with fewer than {@linkcode MIN_SAMPLES_FOR_CI} samples. */
  readonly ci: { readonly low: number; readonly high: number } | null;
  /** Decimal GB/s of tensor bytes at the median. */
  readonly gbps: number;
  /** Tensor bytes each load placed. */
  readonly bytes: number;
  /** Throughput against the machine's limit that bounds the case, when measured. */
  readonly ofLimit: OfLimit | null;
  readonly cv: number;
  readonly noisy: boolean;
  /** Whether some samples' cache state (cold or warm) could not be established. */
  readonly cacheUncertain: boolean;
  /** `full-read`'s median over this one's: 2 reads "twice as fast"; null without full-read. */
  readonly vsFullRead: number | null;
}

/**
 * How sure the ranking's first place is: `sure` when its interval is apart
 * from every other case's, `tie` when some overlap it, `alone` when it is the
 * only case, `unsure` when it or the next lacks an interval (too few samples).
 */
export type Certainty = "sure" | "tie" | "alone" | "unsure";

/** The ranking of one cache state. */
export interface CacheVerdict {
  readonly cache: CacheState;
  /** Every completed case, fastest first. */
  readonly ranking: readonly Contender[];
  readonly fastest: Contender;
  /** The other cases whose interval overlaps the fastest's, fastest first. */
  readonly withinNoise: readonly Contender[];
  readonly certainty: Certainty;
  /** The reference, when measured (it may be the fastest itself). */
  readonly fullRead: Contender | null;
}

/** The verdict of one weights and target. */
export interface GroupVerdict {
  readonly weights: string;
  readonly target: string;
  /** Tensor bytes of the weights, from the samples. */
  readonly bytes: number;
  /** Cold first, then warm; only the states measured. */
  readonly caches: readonly CacheVerdict[];
}

/** What advice recommends, for the cache states it names. */
export interface AdvicePick {
  readonly strategy: string;
  /** The cache states this pick is for, each with its speed-up over full-read. */
  readonly caches: readonly {
    readonly cache: CacheState;
    readonly vsFullRead: number | null;
    /** Whether the pick is the fastest there, or within noise of the fastest (named). */
    readonly fastest: boolean;
    readonly fastestStrategy: string;
  }[];
  /** Other strategies within noise of the fastest in every one of those states. */
  readonly alternatives: readonly string[];
  /** The weakest certainty over those states. */
  readonly certainty: Certainty;
}

/** One line of advice for a target. */
export interface Advice {
  readonly target: string;
  /** The weights it rests on: the largest measured on the target. */
  readonly weights: string;
  /** Whether the target measured several weights (the advice then names them). */
  readonly severalWeights: boolean;
  /** One pick for every state, when one strategy is fastest or within noise in all; else one each. */
  readonly picks: readonly AdvicePick[];
}

/** The verdict of a whole profile. */
export interface ProfileVerdict {
  readonly groups: readonly GroupVerdict[];
  readonly advice: readonly Advice[];
}

const CACHE_ORDER: readonly CacheState[] = ["cold", "warm"];

/** Ranks every weights × target × cache state of `profile`, and advises per target. */
export function profileVerdict(profile: Profile): ProfileVerdict {
  const byGroup = new Map<string, ProfileCase[]>();
  for (const c of profile.cases) {
    if (c.state !== "completed" || c.stats === null) continue;
    const key = JSON.stringify([c.weights, c.target]);
    const list = byGroup.get(key) ?? [];
    list.push(c);
    byGroup.set(key, list);
  }
  const groups: GroupVerdict[] = [];
  for (const cases of byGroup.values()) {
    const first = cases[0]!;
    const caches = CACHE_ORDER.map((cache) =>
      cacheVerdict(cache, cases.filter((c) => c.cache === cache))
    ).filter((v): v is CacheVerdict => v !== null);
    groups.push({
      weights: first.weights,
      target: first.target,
      bytes: Math.max(...caches.map((v) => v.fastest.bytes)),
      caches,
    });
  }
  return { groups, advice: adviceOf(groups) };
}

/** The ranking of one cache state's cases; null when none completed. */
export function cacheVerdict(
  cache: CacheState,
  cases: readonly ProfileCase[],
): CacheVerdict | null {
  const measured = cases.map(contender).filter((c): c is Omit<Contender, "vsFullRead"> =>
    c !== null
  ).sort((a, b) => a.medianMs - b.medianMs);
  // Each strategy once: in a merged herd every node ran it, and its fastest node stands for it.
  const contenders = measured.filter((c, i) =>
    measured.findIndex((d) => d.strategy === c.strategy) === i
  );
  if (contenders.length === 0) return null;
  const reference = referenceOf(cases, contenders);
  const ranking: Contender[] = contenders.map((c) => ({
    ...c,
    vsFullRead: reference === undefined ? null : reference.medianMs / c.medianMs,
  }));
  const fastest = ranking[0]!;
  const withinNoise = ranking.slice(1).filter((c) => overlaps(fastest, c));
  const next = ranking[1];
  const certainty: Certainty = next === undefined
    ? "alone"
    : fastest.ci === null || next.ci === null
    ? "unsure"
    : withinNoise.length > 0
    ? "tie"
    : "sure";
  return {
    cache,
    ranking,
    fastest,
    withinNoise: certainty === "unsure" ? [] : withinNoise,
    certainty,
    fullRead: ranking.find((c) => c.id === reference?.id) ?? null,
  };
}

function contender(c: ProfileCase): Omit<Contender, "vsFullRead"> | null {
  const s = c.stats;
  if (c.state !== "completed" || s === null) return null;
  const d = s.durationMs;
  const timed = c.samples.filter((sample) => !sample.warmup);
  return {
    id: c.id,
    strategy: c.strategyLabel,
    medianMs: d.median,
    samples: s.samples,
    ci: s.samples >= MIN_SAMPLES_FOR_CI ? { low: d.ci.low, high: d.ci.high } : null,
    gbps: s.throughputGBps.median,
    bytes: timed[0]?.bytes ?? 0,
    ofLimit: s.ofLimit ?? null,
    cv: d.cv,
    noisy: d.noisy,
    cacheUncertain: s.cache.established < s.samples,
  };
}

/** `full-read` with its default options where measured, else any full-read variant. */
function referenceOf(
  cases: readonly ProfileCase[],
  contenders: readonly Omit<Contender, "vsFullRead">[],
): Omit<Contender, "vsFullRead"> | undefined {
  const ids = new Set(
    cases.filter((c) => c.strategy.name === REFERENCE_STRATEGY).map((c) => c.id),
  );
  return contenders.find((c) => ids.has(c.id) && c.strategy === REFERENCE_STRATEGY) ??
    contenders.find((c) => ids.has(c.id));
}

/** Whether two cases' intervals overlap (a case without one is its median alone). */
function overlaps(a: Omit<Contender, "vsFullRead">, b: Omit<Contender, "vsFullRead">): boolean {
  const [aLow, aHigh] = a.ci === null ? [a.medianMs, a.medianMs] : [a.ci.low, a.ci.high];
  const [bLow, bHigh] = b.ci === null ? [b.medianMs, b.medianMs] : [b.ci.low, b.ci.high];
  return aLow <= bHigh && bLow <= aHigh;
}

const CERTAINTY_RANK: Record<Certainty, number> = { unsure: 0, tie: 1, alone: 2, sure: 3 };

/** Per target, on its largest weights: one strategy for every cache state if one will do. */
function adviceOf(groups: readonly GroupVerdict[]): Advice[] {
  const targets = [...new Set(groups.map((g) => g.target))];
  return targets.map((target) => {
    const mine = groups.filter((g) => g.target === target);
    const group = mine.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    return {
      target,
      weights: group.weights,
      severalWeights: new Set(mine.map((g) => g.weights)).size > 1,
      picks: picksOf(group.caches),
    };
  });
}

function picksOf(caches: readonly CacheVerdict[]): AdvicePick[] {
  const good = (v: CacheVerdict) => [v.fastest, ...v.withinNoise].map((c) => c.strategy);
  const everywhere = good(caches[0]!).filter((s) => caches.every((v) => good(v).includes(s)));
  if (everywhere.length > 0) {
    // The one that gives up least against the fastest in its worst state.
    const worst = (strategy: string) =>
      Math.max(
        ...caches.map((v) =>
          v.ranking.find((c) => c.strategy === strategy)!.medianMs / v.fastest.medianMs
        ),
      );
    const [strategy, ...alternatives] = [...everywhere].sort((a, b) => worst(a) - worst(b));
    return [pick(strategy!, caches, alternatives)];
  }
  return caches.map((v) => pick(v.fastest.strategy, [v], v.withinNoise.map((c) => c.strategy)));
}

function pick(
  strategy: string,
  caches: readonly CacheVerdict[],
  alternatives: readonly string[],
): AdvicePick {
  return {
    strategy,
    caches: caches.map((v) => ({
      cache: v.cache,
      vsFullRead: v.ranking.find((c) => c.strategy === strategy)!.vsFullRead,
      fastest: v.fastest.strategy === strategy,
      fastestStrategy: v.fastest.strategy,
    })),
    alternatives,
    certainty: caches.map((v) => v.certainty).reduce((a, b) =>
      CERTAINTY_RANK[b] < CERTAINTY_RANK[a] ? b : a
    ),
  };
}
