/**
 * Is `current` slower than `baseline`? A comparison of two sets of load
 * times (smaller is better) that does not cry wolf on a noisy machine.
 *
 * Three numbers, then one verdict:
 *
 * - **ratio**: median(current) / median(baseline); 1.10 reads "10% slower".
 * - **ci**: a percentile-bootstrap confidence interval of that ratio. Each
 *   resample draws `baseline` and `current` again, independently and with
 *   replacement, from a {@linkcode seededRandom} stream, so the same input and
 *   seed always give the same interval.
 * - **pValue**: the two-sided Mann-Whitney U test (Wilcoxon rank-sum) on the
 *   raw samples. Exact null distribution when both sides have fewer than 50
 *   values and no value is tied (as R's `wilcox.test` chooses); otherwise the
 *   normal approximation with the tie correction of the variance and a
 *   continuity correction of 0.5 (R's `correct = TRUE`, SciPy's
 *   `use_continuity = True`).
 *
 * The verdict, with `t` the threshold (0.05 for 5%), `α` the significance
 * level, and "faster beyond the threshold" meaning `ratio < 1 / (1 + t)` so
 * that swapping the two sides swaps regression and improvement exactly:
 *
 * | condition (checked in this order) | verdict |
 * | --- | --- |
 * | fewer than {@linkcode MIN_SAMPLES} values on either side | `inconclusive` (too few samples) |
 * | p < α, ratio > 1 + t, and ci.low > 1 | `regression` |
 * | p < α, ratio < 1 / (1 + t), and ci.high < 1 | `improvement` |
 * | p < α and the ratio within the threshold | `unchanged` (a real change, smaller than the threshold) |
 * | p < α, ratio beyond the threshold, but the interval includes 1 | `inconclusive` |
 * | p ≥ α and the interval reaches past {@linkcode NOISE_FACTOR} × t on either side | `inconclusive` (too noisy to rule out a change that size) |
 * | p ≥ α otherwise | `unchanged` |
 *
 * So a regression needs both significance (the U test) and an effect beyond
 * the threshold (the ratio of medians), with an interval that agrees it is a
 * slowdown. The interval's lower end is not required to clear 1 + t: with 10
 * samples a side that would demand a far quieter machine than the claim it
 * guards (see `tools/rates.ts` for measured rates).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareSamples } from "./significance.ts";
 *
 * const baseline = [100, 101, 99, 102, 98, 100, 101, 99, 100, 103];
 * const slower = baseline.map((x) => x * 1.2);
 * const result = compareSamples(baseline, slower);
 * assert.equal(result.verdict, "regression");
 * assert.ok(Math.abs(result.ratio - 1.2) < 1e-9);
 * assert.ok(result.pValue < 0.001);
 * assert.ok(result.ci.low > 1);
 *
 * assert.equal(compareSamples([100, 101], [200, 201]).verdict, "inconclusive");
 * ```
 *
 * @module
 */

import { quantileSorted } from "simple-statistics";
import { seededRandom } from "../util/random.ts";
import { resampledMedian } from "../stats/summary.ts";

/**
 * Smallest relative slowdown (of the ratio of medians) that counts as a
 * regression, and the matching speed-up for an improvement.
 *
 * @default {0.05}
 */
export const DEFAULT_THRESHOLD = 0.05;

/**
 * Significance level of the Mann-Whitney U test: a change counts only when
 * its two-sided p-value is below this.
 *
 * @default {0.01}
 */
export const DEFAULT_ALPHA = 0.01;

/**
 * Confidence level of the bootstrap interval of the ratio.
 *
 * @default {0.95}
 */
export const DEFAULT_LEVEL = 0.95;

/**
 * Bootstrap resamples of the ratio of medians.
 *
 * @default {2000}
 */
export const DEFAULT_RESAMPLES = 2000;

/**
 * Seed of the bootstrap when none is given, so comparisons are reproducible.
 *
 * @default {0xc0ffee}
 */
export const DEFAULT_SEED = 0xc0ffee;

/**
 * Fewest values on each side for any verdict but `inconclusive`.
 *
 * @default {3}
 */
export const MIN_SAMPLES = 3;

/**
 * A comparison that is not significant is `inconclusive` rather than
 * `unchanged` when its interval reaches past this many thresholds from 1
 * (with the default threshold: below 1/1.10 or above 1.10).
 *
 * @default {2}
 */
export const NOISE_FACTOR = 2;

/**
 * Largest side for which the exact distribution of U is used (with no ties);
 * larger samples use the normal approximation.
 *
 * @default {49}
 */
export const EXACT_MAX = 49;

/** What a comparison concludes. */
export type Verdict = "regression" | "improvement" | "unchanged" | "inconclusive";

/** How to compare; every field is optional and has a named default. */
export interface CompareOptions {
  /** Relative change that matters, e.g. 0.05 for 5%. @default {DEFAULT_THRESHOLD} */
  threshold?: number;
  /** Significance level of the U test. @default {DEFAULT_ALPHA} */
  alpha?: number;
  /** Seed of the bootstrap. @default {DEFAULT_SEED} */
  seed?: number | string;
  /** Bootstrap resamples. @default {DEFAULT_RESAMPLES} */
  resamples?: number;
  /** Confidence level of the interval. @default {DEFAULT_LEVEL} */
  level?: number;
}

/** The outcome of {@linkcode compareSamples}. */
export interface SampleComparison {
  /** median(current) / median(baseline). */
  readonly ratio: number;
  /** Percentile-bootstrap interval of the ratio. */
  readonly ci: { readonly low: number; readonly high: number; readonly level: number };
  /** Two-sided Mann-Whitney U p-value. */
  readonly pValue: number;
  readonly verdict: Verdict;
  /** Why the verdict is what it is, in a few words. */
  readonly reason?: string;
}

/** The Mann-Whitney U test's result. */
export interface MannWhitneyResult {
  /** U of the first sample: pairs (x, y) with x > y, ties counting one half. */
  readonly u: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  /** Which distribution gave the p-value. */
  readonly method: "exact" | "normal";
}

/**
 * Compares two sets of load times (smaller is better); see the module doc for
 * the rules of the verdict. Throws a `RangeError` on an empty side, a value
 * that is not a positive finite number, or an option out of range.
 */
export function compareSamples(
  baseline: readonly number[],
  current: readonly number[],
  options: CompareOptions = {},
): SampleComparison {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const seed = options.seed ?? DEFAULT_SEED;
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const level = options.level ?? DEFAULT_LEVEL;
  if (!(threshold >= 0 && Number.isFinite(threshold))) {
    throw new RangeError(`Cannot compare: threshold must be ≥ 0, got "${threshold}"`);
  }
  if (!(alpha > 0 && alpha < 1)) {
    throw new RangeError(`Cannot compare: alpha must be between 0 and 1, got "${alpha}"`);
  }
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`Cannot compare: level must be between 0 and 1, got "${level}"`);
  }
  if (!Number.isSafeInteger(resamples) || resamples < 1) {
    throw new RangeError(
      `Cannot compare: resamples must be a positive integer, got "${resamples}"`,
    );
  }
  checkValues("baseline", baseline);
  checkValues("current", current);

  const base = Float64Array.from(baseline).sort();
  const curr = Float64Array.from(current).sort();
  const ratio = medianSorted(curr) / medianSorted(base);
  const ci = { ...bootstrapRatio(base, curr, seed, resamples, level), level };
  const { pValue } = mannWhitneyU(baseline, current);
  const result = { ratio, ci, pValue };

  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const change = `${ratio >= 1 ? "+" : "−"}${pct(Math.abs(ratio - 1))}`;
  if (base.length < MIN_SAMPLES || curr.length < MIN_SAMPLES) {
    return {
      ...result,
      verdict: "inconclusive",
      reason: `too few samples (${base.length} and ${curr.length}; need ${MIN_SAMPLES} a side)`,
    };
  }
  const slow = 1 + threshold;
  const fast = 1 / (1 + threshold);
  if (pValue < alpha) {
    if (ratio > slow && ci.low > 1) {
      return { ...result, verdict: "regression", reason: `${change}, beyond ${pct(threshold)}` };
    }
    if (ratio < fast && ci.high < 1) {
      return { ...result, verdict: "improvement", reason: `${change}, beyond ${pct(threshold)}` };
    }
    if (ratio <= slow && ratio >= fast) {
      return {
        ...result,
        verdict: "unchanged",
        reason: `significant ${change} is within the ${pct(threshold)} threshold`,
      };
    }
    return {
      ...result,
      verdict: "inconclusive",
      reason: `significant ${change}, but the interval includes no change`,
    };
  }
  const noisySlow = 1 + NOISE_FACTOR * threshold;
  const noisyFast = 1 / noisySlow;
  if (ci.high > noisySlow || ci.low < noisyFast) {
    return {
      ...result,
      verdict: "inconclusive",
      reason: `too noisy to rule out ±${pct(NOISE_FACTOR * threshold)}`,
    };
  }
  return { ...result, verdict: "unchanged", reason: `not significant (p ${formatP(pValue)})` };
}

/** A p-value as people read it: `< 0.001`, or `= ` and two significant digits. */
export function formatP(p: number): string {
  return p < 0.001 ? "< 0.001" : `= ${p.toPrecision(2)}`;
}

function checkValues(side: string, values: readonly number[]): void {
  if (values.length === 0) throw new RangeError(`Cannot compare: the ${side} has no values`);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!(Number.isFinite(value) && value > 0)) {
      throw new RangeError(
        `Cannot compare: ${side} value at index ${i} is "${value}", not a positive number`,
      );
    }
  }
}

function medianSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const low = sorted[(n - 1) >> 1]!;
  return low + 0.5 * (sorted[n >> 1]! - low);
}

/**
 * Percentile bootstrap of median(current*) / median(baseline*). A resample is
 * drawn as counts of each sorted position, so its median is a linear scan:
 * no sorting and no allocation per resample (as in `summary.ts`).
 */
function bootstrapRatio(
  base: Float64Array,
  curr: Float64Array,
  seed: number | string,
  resamples: number,
  level: number,
): { low: number; high: number } {
  const random = seededRandom(seed);
  const baseCounts = new Uint32Array(base.length);
  const currCounts = new Uint32Array(curr.length);
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const b = resampledMedian(base, baseCounts, random);
    const c = resampledMedian(curr, currCounts, random);
    ratios[r] = c / b;
  }
  ratios.sort();
  const tail = (1 - level) / 2;
  const distribution = Array.from(ratios);
  return { low: quantileSorted(distribution, tail), high: quantileSorted(distribution, 1 - tail) };
}

/**
 * The two-sided Mann-Whitney U test of `x` against `y` (any finite numbers).
 *
 * U counts the pairs with x > y (ties one half), computed from mid-ranks. The
 * p-value is exact (the distribution of U enumerated by the q-binomial
 * recurrence, in big integers) when both sides have at most
 * {@linkcode EXACT_MAX} values and there are no ties; otherwise it is the
 * normal approximation with the tie-corrected variance
 * `n₁n₂/12 · ((N + 1) − Σ(t³ − t) / (N(N − 1)))` and a continuity correction
 * of 0.5. Two-sided: twice the smaller tail, at most 1. `method` forces one
 * distribution (`exact` throws a `RangeError` on ties).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mannWhitneyU } from "./significance.ts";
 *
 * // R: wilcox.test(c(1, 2, 3), c(4, 5, 6))  ->  W = 0, p-value = 0.1
 * const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
 * assert.equal(r.u, 0);
 * assert.equal(r.method, "exact");
 * assert.ok(Math.abs(r.pValue - 0.1) < 1e-12);
 * ```
 */
export function mannWhitneyU(
  x: readonly number[],
  y: readonly number[],
  options: { method?: "auto" | "exact" | "normal" } = {},
): MannWhitneyResult {
  const method = options.method ?? "auto";
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new RangeError("Cannot test: a sample is empty");
  const all = [...x.map((v) => ({ v, first: true })), ...y.map((v) => ({ v, first: false }))];
  for (const { v } of all) {
    if (!Number.isFinite(v)) throw new RangeError(`Cannot test: value "${v}" is not finite`);
  }
  all.sort((a, b) => a.v - b.v);
  const n = n1 + n2;
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && all[j]!.v === all[i]!.v) j++;
    const midRank = (i + 1 + j) / 2;
    const t = j - i;
    tieTerm += t * t * t - t;
    for (let k = i; k < j; k++) if (all[k]!.first) rankSumX += midRank;
    i = j;
  }
  const u = rankSumX - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;

  const exact = method === "exact" ||
    (method === "auto" && tieTerm === 0 && n1 <= EXACT_MAX && n2 <= EXACT_MAX);
  if (exact) {
    if (tieTerm !== 0) throw new RangeError("Cannot test: the exact distribution needs no ties");
    // U is an integer here. P(U ≤ k) for the smaller tail; the law is symmetric.
    const k = Math.min(u, n1 * n2 - u);
    const p = Math.min(1, 2 * exactCdf(n1, n2, k));
    return { u, pValue: p, method: "exact" };
  }
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, pValue: 1, method: "normal" };
  const diff = u - mean;
  const corrected = Math.max(0, Math.abs(diff) - 0.5);
  const z = corrected / Math.sqrt(variance);
  return { u, pValue: Math.min(1, 2 * normalUpperTail(z)), method: "normal" };
}

const exactCache = new Map<string, number[]>();

/**
 * P(U ≤ k) under the null, for sides of `m` and `n` values without ties.
 *
 * The number of arrangements with U = u is the coefficient of qᵘ in the
 * Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i),
 * built one factor at a time; after each factor the polynomial is again a
 * Gaussian binomial with non-negative integer coefficients, so BigInt keeps
 * every count exact.
 */
function exactCdf(m: number, n: number, k: number): number {
  const key = m <= n ? `${m},${n}` : `${n},${m}`;
  let cdf = exactCache.get(key);
  if (cdf === undefined) {
    const a = Math.min(m, n);
    const b = Math.max(m, n);
    const degree = a * b;
    const coefficients = new Array<bigint>(degree + 1).fill(0n);
    coefficients[0] = 1n;
    let top = 0;
    for (let i = 1; i <= a; i++) {
      // Multiply by (1 − q^{b+i}): top down, so each term uses the old value. Terms above
      // the quotient's degree are never read by the division, so they are not formed.
      const shift = b + i;
      const newTop = top + b;
      for (let d = newTop; d >= shift; d--) {
        coefficients[d] = coefficients[d]! - coefficients[d - shift]!;
      }
      // Divide by (1 − q^i): c[d] += c[d − i], bottom up.
      for (let d = i; d <= newTop; d++) {
        coefficients[d] = coefficients[d]! + coefficients[d - i]!;
      }
      top = newTop;
    }
    let total = 0n;
    for (const c of coefficients) total += c;
    cdf = [];
    let running = 0n;
    for (const c of coefficients) {
      running += c;
      cdf.push(bigRatio(running, total));
    }
    exactCache.set(key, cdf);
  }
  const index = Math.floor(k);
  if (index < 0) return 0;
  return cdf[Math.min(index, cdf.length - 1)]!;
}

/** a / b for big integers, to double precision. */
function bigRatio(a: bigint, b: bigint): number {
  // Scale both down together so that each fits a double's exponent range.
  const bits = b.toString(2).length;
  const shift = BigInt(Math.max(0, bits - 60));
  return Number(a >> shift) / Number(b >> shift);
}

/**
 * P(Z > z) for a standard normal Z, to about 15 significant digits: a series
 * for erf below z/√2 = 2.5 and a continued fraction for erfc above it, so the
 * far tail keeps its relative precision.
 */
export function normalUpperTail(z: number): number {
  if (z < 0) return 1 - normalUpperTail(-z);
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  if (x < 2.5) {
    // erf(x) = 2/√π · e^{−x²} · Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1)), every term positive.
    let term = x;
    let sum = x;
    for (let k = 1; k < 200; k++) {
      term *= (2 * x * x) / (2 * k + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by modified Lentz.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}
