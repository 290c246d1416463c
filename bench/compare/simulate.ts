/**
 * Synthetic load times from a realistic noise model, and the trials that
 * measure how often the comparison and the change-point search are right.
 * Used by the rates benchmark (`rates.ts`) and by its fixed-seed test.
 *
 * The noise model: a sample is `median · exp(σ·Z)` (log-normal, Z standard
 * normal), and with probability `outlierRate` it is further multiplied by a
 * uniform factor in `[outlierLow, outlierHigh]` (a sample that met a
 * background flush, a page-cache miss, a scheduling hiccup: outliers of load
 * times are slow, never fast). Nightly histories add a per-run factor
 * `exp(σ_run·Z)`: the day-to-day drift of a machine that no number of
 * samples within a run averages away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { drawSamples, REALISTIC_NOISE } from "./simulate.ts";
 * import { seededRandom } from "../util/random.ts";
 *
 * const samples = drawSamples(seededRandom(1), 10, 500, REALISTIC_NOISE);
 * assert.equal(samples.length, 10);
 * assert.ok(samples.every((x) => x > 400 && x < 1100));
 * ```
 *
 * @module
 */

import { type CompareOptions, compareSamples } from "./significance.ts";
import { seededRandom } from "../util/random.ts";
import { changePoints } from "./changepoint.ts";

/** The noise of repeated load times. */
export interface NoiseModel {
  /** Log-normal σ of a sample around the median (≈ its coefficient of variation). */
  readonly sigma: number;
  /** Probability that a sample is an outlier. */
  readonly outlierRate: number;
  /** An outlier is the sample times a uniform factor in [outlierLow, outlierHigh]. */
  readonly outlierLow: number;
  readonly outlierHigh: number;
  /** Log-normal σ of the run-to-run (day-to-day) factor shared by a run's samples. */
  readonly runSigma: number;
}

/**
 * The noise assumed of a dedicated nightly runner: 3% spread within a run,
 * one sample in 50 an outlier 20–100% slow, and 1% drift between nights. An
 * assumption, not a measurement: `rates.ts` prints the rates over a grid of
 * spreads and outlier rates too (at 5% outliers detection falls to about
 * 88%; on a shared 2-core VM, where spreads of 10–40% are common, no test
 * with 10 samples a side can see 10%).
 */
export const REALISTIC_NOISE: NoiseModel = {
  sigma: 0.03,
  outlierRate: 0.02,
  outlierLow: 1.2,
  outlierHigh: 2.0,
  runSigma: 0.01,
};

/** A standard normal variate (Box-Muller) from `random`. */
export function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log stays finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `count` load times around `median` under `noise` (without the run-to-run factor). */
export function drawSamples(
  random: () => number,
  count: number,
  median: number,
  noise: NoiseModel,
): number[] {
  return Array.from({ length: count }, () => {
    let value = median * Math.exp(noise.sigma * normal(random));
    if (random() < noise.outlierRate) {
      value *= noise.outlierLow + (noise.outlierHigh - noise.outlierLow) * random();
    }
    return value;
  });
}

/** One batch of comparison trials. */
export interface ComparisonTrials {
  /** Trials, each a fresh pair of profiles. */
  readonly trials: number;
  /** Samples per side. */
  readonly samples: number;
  /** The current side's true median over the baseline's: 1.10 plants a 10% slowdown. */
  readonly slowdown: number;
  readonly noise: NoiseModel;
  /** Whether the two sides also differ by a run-to-run factor each (different nights). */
  readonly acrossRuns?: boolean;
  readonly seed: number;
  readonly options?: CompareOptions;
}

/** The fraction of trials that each verdict got. */
export function comparisonRates(
  spec: ComparisonTrials,
): Record<"regression" | "improvement" | "unchanged" | "inconclusive", number> {
  const random = seededRandom(spec.seed);
  const counts = { regression: 0, improvement: 0, unchanged: 0, inconclusive: 0 };
  for (let trial = 0; trial < spec.trials; trial++) {
    const night = () => (spec.acrossRuns ? Math.exp(spec.noise.runSigma * normal(random)) : 1);
    const baseline = drawSamples(random, spec.samples, 500 * night(), spec.noise);
    const current = drawSamples(random, spec.samples, 500 * spec.slowdown * night(), spec.noise);
    const { verdict } = compareSamples(baseline, current, {
      resamples: 1000,
      ...spec.options,
      seed: trial,
    });
    counts[verdict]++;
  }
  for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] /= spec.trials;
  return counts;
}

/** One batch of change-point trials. */
export interface HistoryTrials {
  readonly trials: number;
  /** Runs in each history. */
  readonly runs: number;
  /** Samples per run; the history holds each run's median. */
  readonly samples: number;
  /** The factor of the planted shift; 1 plants none. */
  readonly shift: number;
  readonly noise: NoiseModel;
  readonly seed: number;
}

/** How well the planted shift was found. */
export interface HistoryRates {
  /** Histories whose detected change point nearest the planted one is within one run of it. */
  readonly locatedWithinOne: number;
  /** Histories whose nearest change point is exactly at the planted run. */
  readonly locatedExactly: number;
  /** Mean number of change points more than one run from the planted one (spurious). */
  readonly spuriousPerHistory: number;
  /** Histories with at least one spurious change point. */
  readonly anySpurious: number;
}

/**
 * Histories of `runs` per-run medians with a shift planted at a run drawn
 * uniformly from the middle 80% of the history (with `shift` 1, none), and
 * how well {@linkcode changePoints} on their logarithms finds it.
 */
export function historyRates(spec: HistoryTrials): HistoryRates {
  const random = seededRandom(spec.seed);
  let within = 0;
  let exact = 0;
  let spurious = 0;
  let anySpurious = 0;
  for (let trial = 0; trial < spec.trials; trial++) {
    const margin = Math.ceil(spec.runs * 0.1);
    const at = margin + Math.floor(random() * (spec.runs - 2 * margin));
    const series = Array.from({ length: spec.runs }, (_, run) => {
      const level = 500 * (run >= at ? spec.shift : 1) *
        Math.exp(spec.noise.runSigma * normal(random));
      const samples = drawSamples(random, spec.samples, level, spec.noise).sort((a, b) => a - b);
      const n = samples.length;
      return Math.log((samples[(n - 1) >> 1]! + samples[n >> 1]!) / 2);
    });
    const found = changePoints(series).map((p) => p.index);
    const planted = spec.shift !== 1;
    const distances = found.map((index) => Math.abs(index - at));
    const nearest = Math.min(Infinity, ...distances);
    if (planted && nearest <= 1) within++;
    if (planted && nearest === 0) exact++;
    const extra = planted ? distances.filter((d) => d > 1).length : found.length;
    spurious += extra;
    if (extra > 0) anySpurious++;
  }
  return {
    locatedWithinOne: within / spec.trials,
    locatedExactly: exact / spec.trials,
    spuriousPerHistory: spurious / spec.trials,
    anySpurious: anySpurious / spec.trials,
  };
}
