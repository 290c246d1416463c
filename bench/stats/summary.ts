/**
 * Robust summaries of repeated timings: median and quartiles, mean and sample
 * standard deviation, MAD, a bootstrap confidence interval of the median,
 * outlier flags and a "noisy" verdict.
 *
 * Quartiles come from simple-statistics `quantileSorted`, the sorted-input form
 * of its `quantile`, which in version 7.12 uses linear interpolation between
 * order statistics at position `(n − 1)·p` (Hyndman & Fan type 7, the default
 * of R and NumPy). For `[1, 2, 3, 4]` that gives q1 = 1.75 and q3 = 3.25.
 *
 * The confidence interval of the median is a percentile bootstrap drawn with
 * {@linkcode seededRandom}, so the same values and seed always give the same
 * interval.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./summary.ts";
 *
 * const s = summarize([10, 10.2, 9.9, 10.1, 10, 50]);
 * assert.equal(s.median, 10.05);
 * assert.ok(s.ci.low <= s.median && s.median <= s.ci.high);
 * assert.deepEqual(s.outliers, [5]);
 * assert.ok(s.noisy); // the outlier drags the CV far above 10%
 *
 * // The interval is reproducible: same values, same seed, same bounds.
 * assert.deepEqual(summarize([10, 10.2, 9.9, 10.1, 10, 50]).ci, s.ci);
 * ```
 *
 * @module
 */

import {
  mean as sampleMean,
  medianAbsoluteDeviation,
  quantileSorted,
  sampleStandardDeviation,
} from "simple-statistics";
import { seededRandom } from "../util/random.ts";

/**
 * A case is noisy when its coefficient of variation (stddev / |mean|) exceeds
 * this fraction.
 *
 * @default {0.10}
 */
export const NOISY_CV = 0.10;

/**
 * A value is an outlier when its modified z-score, 0.6745·|x − median| / MAD
 * (Iglewicz & Hoaglin), exceeds this threshold.
 *
 * @default {3.5}
 */
export const OUTLIER_SCORE = 3.5;

/**
 * How many bootstrap resamples estimate the confidence interval of the median.
 *
 * @default {2000}
 */
export const BOOTSTRAP_RESAMPLES = 2000;

/**
 * Confidence level of the interval around the median.
 *
 * @default {0.95}
 */
export const CONFIDENCE = 0.95;

/**
 * Seed of the bootstrap when none is given, so that summaries are
 * reproducible by default.
 *
 * @default {0x5eed}
 */
export const BOOTSTRAP_SEED = 0x5eed;

/** How to summarize; every field is optional and has a named default. */
export interface SummaryOptions {
  /** Seed of the bootstrap's random numbers. @default {BOOTSTRAP_SEED} */
  seed?: number | string;
  /** Number of bootstrap resamples, a positive integer. @default {BOOTSTRAP_RESAMPLES} */
  resamples?: number;
  /** Confidence level of the interval, strictly between 0 and 1. @default {CONFIDENCE} */
  confidence?: number;
}

/** Summary statistics of one sample. */
export interface Summary {
  /** Number of values. */
  readonly n: number;
  /** Median (type 7 quantile at 0.5: the mean of the two middle values for even n). */
  readonly median: number;
  /** First quartile (type 7, see the module doc). */
  readonly q1: number;
  /** Third quartile (type 7, see the module doc). */
  readonly q3: number;
  /** Interquartile range, q3 − q1. */
  readonly iqr: number;
  /** Smallest value. */
  readonly min: number;
  /** Largest value. */
  readonly max: number;
  /** Arithmetic mean. */
  readonly mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 when n = 1. */
  readonly stddev: number;
  /** Coefficient of variation, stddev / |mean|; 0 when the mean is 0. */
  readonly cv: number;
  /** Median absolute deviation from the median, unscaled. */
  readonly mad: number;
  /** Percentile-bootstrap confidence interval of the median, at `level`. */
  readonly ci: { readonly low: number; readonly high: number; readonly level: number };
  /** Indices into the input of the values flagged as outliers, ascending. */
  readonly outliers: readonly number[];
  /** Whether `cv` exceeds {@linkcode NOISY_CV}. */
  readonly noisy: boolean;
}

interface _ResolvedOptions {
  readonly seed: number | string;
  readonly resamples: number;
  readonly confidence: number;
}

function _resolve(options: SummaryOptions): _ResolvedOptions {
  const resolved = {
    seed: options.seed ?? BOOTSTRAP_SEED,
    resamples: options.resamples ?? BOOTSTRAP_RESAMPLES,
    confidence: options.confidence ?? CONFIDENCE,
  };
  if (!Number.isSafeInteger(resolved.resamples) || resolved.resamples < 1) {
    throw new RangeError(
      `Cannot summarize: resamples must be a positive integer, got "${resolved.resamples}"`,
    );
  }
  if (!(resolved.confidence > 0 && resolved.confidence < 1)) {
    throw new RangeError(
      `Cannot summarize: confidence must be between 0 and 1, got "${resolved.confidence}"`,
    );
  }
  return resolved;
}

/**
 * Summarizes `values` (in any order; they are not modified).
 *
 * Throws a `RangeError` when `values` is empty, when any value is NaN or
 * infinite, or when `resamples` or `confidence` is out of range.
 *
 * With a single value the interval is `[x, x]`, nothing is an outlier and the
 * case is not noisy. When the MAD is 0 (most values equal the median), the
 * values that differ from the median are the outliers, provided fewer than
 * half of them differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./summary.ts";
 *
 * const s = summarize([2, 4, 4, 4, 5, 5, 7, 9], { seed: "case-1", resamples: 500 });
 * assert.deepEqual([s.q1, s.median, s.q3], [4, 4.5, 5.5]);
 * assert.equal(s.ci.level, 0.95);
 * ```
 */
export function summarize(values: readonly number[], options: SummaryOptions = {}): Summary {
  const { seed, resamples, confidence } = _resolve(options);
  const n = values.length;
  if (n === 0) throw new RangeError("Cannot summarize an empty sample");
  for (let i = 0; i < n; i++) {
    const value = values[i]!;
    if (!Number.isFinite(value)) {
      throw new RangeError(`Cannot summarize: value at index ${i} is "${value}", not finite`);
    }
  }

  // One sorted copy serves the quartiles, min/max and the bootstrap.
  const sortedTyped = Float64Array.from(values).sort();
  const sorted = Array.from(sortedTyped);
  const median = quantileSorted(sorted, 0.5);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  const mean = sampleMean(values);
  const stddev = n > 1 ? sampleStandardDeviation(values) : 0;
  const cv = mean === 0 ? 0 : stddev / Math.abs(mean);
  const mad = medianAbsoluteDeviation(values);
  const ci = n > 1
    ? _bootstrapMedian(sortedTyped, seed, resamples, confidence)
    : { low: median, high: median };

  return {
    n,
    median,
    q1,
    q3,
    iqr: q3 - q1,
    min: sortedTyped[0]!,
    max: sortedTyped[n - 1]!,
    mean,
    stddev,
    cv,
    mad,
    ci: { low: ci.low, high: ci.high, level: confidence },
    outliers: _outliers(values, median, mad),
    noisy: cv > NOISY_CV,
  };
}

/** Indices of values whose modified z-score exceeds {@linkcode OUTLIER_SCORE}. */
function _outliers(values: readonly number[], median: number, mad: number): number[] {
  const flagged: number[] = [];
  if (mad > 0) {
    for (let i = 0; i < values.length; i++) {
      if ((0.6745 * Math.abs(values[i]! - median)) / mad > OUTLIER_SCORE) flagged.push(i);
    }
    return flagged;
  }
  // MAD = 0: every differing value has an infinite score; flag them only while
  // they are a minority, so there is no division by zero.
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== median) flagged.push(i);
  }
  return flagged.length < values.length / 2 ? flagged : [];
}

/**
 * Percentile bootstrap of the median of `sorted` (ascending, n ≥ 2).
 *
 * A resample is drawn as counts of each sorted position, so its median is a
 * linear scan of the counts: no sorting and no allocation per resample.
 */
function _bootstrapMedian(
  sorted: Float64Array,
  seed: number | string,
  resamples: number,
  confidence: number,
): { low: number; high: number } {
  const n = sorted.length;
  const random = seededRandom(seed);
  const counts = new Uint32Array(n);
  const medians = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) medians[r] = resampledMedian(sorted, counts, random);
  medians.sort();
  const tail = (1 - confidence) / 2;
  const distribution = Array.from(medians);
  return {
    low: quantileSorted(distribution, tail),
    high: quantileSorted(distribution, 1 - tail),
  };
}

/**
 * The median of one bootstrap resample of `sorted` (ascending), drawn with
 * `random` as counts of each sorted position into `counts` (length n, reused
 * across calls), so no sorting and no allocation happens per resample. The
 * median has the type 7 quantile's form at p = 0.5.
 */
export function resampledMedian(
  sorted: Float64Array,
  counts: Uint32Array,
  random: () => number,
): number {
  const n = sorted.length;
  if (n === 1) return sorted[0]!;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(random() * n);
    counts[j] = counts[j]! + 1;
  }
  // Ranks (0-based) of the middle values: equal for odd n, adjacent for even n.
  const lowRank = (n - 1) >> 1;
  const highRank = n >> 1;
  let seen = 0;
  let low = 0;
  let haveLow = false;
  for (let j = 0; j < n; j++) {
    seen += counts[j]!;
    if (!haveLow && seen > lowRank) {
      low = sorted[j]!;
      haveLow = true;
    }
    if (seen > highRank) return low + 0.5 * (sorted[j]! - low);
  }
  return low;
}
