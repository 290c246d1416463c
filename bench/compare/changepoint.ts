/**
 * Change-point detection: where did a series change level?
 *
 * The method is penalized optimal partitioning (Jackson et al. 2005, the
 * exact search that PELT prunes) with an L1 cost, the robust cost that asv
 * uses for its step detection: a segment costs Σ|xᵢ − median(segment)|, and
 * each extra segment costs a penalty β. The partition with the least total
 * cost is found exactly by dynamic programming over where the last segment
 * starts.
 *
 * The penalty scales with the noise: β = {@linkcode PENALTY_FACTOR} · σ̂ · ln n,
 * where σ̂ is a robust estimate of the point-to-point noise from the median
 * absolute difference of neighbours, 1.4826 · median|xᵢ₊₁ − xᵢ| / √2, which a
 * few level shifts do not inflate. A segment must span at least
 * {@linkcode MIN_SEGMENT} points: a single odd point is an outlier, not a level.
 *
 * Feed it logarithms of per-run medians, so a shift is a ratio and the noise
 * is relative (see `history.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { changePoints } from "./changepoint.ts";
 *
 * const series = [...Array(20)].map((_, i) => (i < 12 ? 10 : 11) + ((i * 7) % 5) * 0.05);
 * const found = changePoints(series);
 * assert.equal(found.length, 1);
 * assert.equal(found[0]!.index, 12);
 * ```
 *
 * @module
 */

/**
 * Penalty per extra segment, in units of σ̂ · ln n. Chosen by simulation
 * (`tools/rates.ts`): fewer than 5% of flat 60-run histories with
 * realistic noise get a spurious change point, while a shift of 4σ̂ is found.
 *
 * @default {3}
 */
export const PENALTY_FACTOR = 3;

/**
 * Fewest points in a segment.
 *
 * @default {3}
 */
export const MIN_SEGMENT = 3;

/**
 * Longest series searched (the last points are kept); the search costs
 * O(n³) arithmetic: about 30 ms per case at this length on one core.
 *
 * @default {500}
 */
export const MAX_POINTS = 500;

/** Options of {@linkcode changePoints}. */
export interface ChangePointOptions {
  /** Penalty per extra segment, in units of σ̂ · ln n. @default {PENALTY_FACTOR} */
  penaltyFactor?: number;
  /** Fewest points per segment. @default {MIN_SEGMENT} */
  minSegment?: number;
}

/** One change of level. */
export interface ChangePoint {
  /** Index of the first point of the new level. */
  readonly index: number;
  /** Median of the segment before. */
  readonly before: number;
  /** Median of the segment from `index` on. */
  readonly after: number;
}

/**
 * The change points of `values` (finite numbers, in order), ascending. A
 * series shorter than two segments has none. Series longer than
 * {@linkcode MAX_POINTS} are searched over their last {@linkcode MAX_POINTS}
 * points, with indices still into `values`.
 */
export function changePoints(
  values: readonly number[],
  options: ChangePointOptions = {},
): ChangePoint[] {
  const minSegment = options.minSegment ?? MIN_SEGMENT;
  const penaltyFactor = options.penaltyFactor ?? PENALTY_FACTOR;
  if (!Number.isSafeInteger(minSegment) || minSegment < 1) {
    throw new RangeError(
      `Cannot search: minSegment must be a positive integer, got "${minSegment}"`,
    );
  }
  for (const value of values) {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Cannot search: value "${value}" is not finite`);
    }
  }
  const offset = Math.max(0, values.length - MAX_POINTS);
  const x = values.slice(offset);
  const n = x.length;
  if (n < 2 * minSegment) return [];

  const sigma = noiseScale(x);
  const penalty = penaltyFactor * sigma * Math.log(n);
  const cost = segmentCosts(x);

  // best[t]: least cost of x[0..t); start[t]: where its last segment starts.
  const best = new Float64Array(n + 1).fill(Infinity);
  const start = new Int32Array(n + 1).fill(-1);
  best[0] = -penalty;
  for (let t = minSegment; t <= n; t++) {
    for (let s = 0; s <= t - minSegment; s++) {
      if (best[s] === Infinity) continue;
      const total = best[s]! + cost(s, t) + penalty;
      if (total < best[t]!) {
        best[t] = total;
        start[t] = s;
      }
    }
  }
  const bounds: number[] = [];
  for (let t = n; t > 0; t = start[t]!) bounds.unshift(start[t]!);
  const points: ChangePoint[] = [];
  for (let i = 1; i < bounds.length; i++) {
    const from = bounds[i - 1]!;
    const at = bounds[i]!;
    const to = bounds[i + 1] ?? n;
    points.push({
      index: at + offset,
      before: median(x.slice(from, at)),
      after: median(x.slice(at, to)),
    });
  }
  return points;
}

/** Robust noise scale from neighbour differences; never 0, so the penalty stays positive. */
export function noiseScale(x: readonly number[]): number {
  const diffs = [];
  for (let i = 1; i < x.length; i++) diffs.push(Math.abs(x[i]! - x[i - 1]!));
  const sigma = (1.4826 * median(diffs)) / Math.SQRT2;
  const level = Math.max(...x.map(Math.abs));
  return Math.max(sigma, level * 1e-9, 1e-12);
}

/**
 * cost(s, t) = Σ|xᵢ − median(x[s..t))|, every pair precomputed by growing a
 * sorted copy of each suffix: O(n³) time, O(n²) memory.
 */
function segmentCosts(x: readonly number[]): (s: number, t: number) => number {
  const n = x.length;
  const table = new Float64Array(n * (n + 1));
  for (let s = 0; s < n; s++) {
    const sorted: number[] = [];
    for (let t = s + 1; t <= n; t++) {
      const value = x[t - 1]!;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]! < value) lo = mid + 1;
        else hi = mid;
      }
      sorted.splice(lo, 0, value);
      // Σ|x − median| = (sum of the upper half) − (sum of the lower half).
      const len = sorted.length;
      const half = len >> 1;
      let total = 0;
      for (let i = 0; i < half; i++) total -= sorted[i]!;
      for (let i = len - half; i < len; i++) total += sorted[i]!;
      table[s * (n + 1) + t] = total;
    }
  }
  return (s, t) => table[s * (n + 1) + t]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return (sorted[(n - 1) >> 1]! + sorted[n >> 1]!) / 2;
}
