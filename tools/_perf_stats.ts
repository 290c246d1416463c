/**
 * The figures `deno task perf` prints, as pure functions of what each round
 * measured: a rate per tool, cache state and round, its median with the
 * spread over rounds (min–max), and the ratio of two tools taken round by
 * round (both measured in the same round, so a machine that slows down for a
 * while slows both), with its own median and spread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSpread, Rounds, spreadOf } from "./_perf_stats.ts";
 *
 * const rounds = new Rounds();
 * for (const [ours, peer] of [[1.9, 2.0], [1.8, 2.0], [2.1, 2.0]]) {
 *   rounds.next();
 *   rounds.record("weightbench mmap", "cold", ours);
 *   rounds.record("cat", "cold", peer);
 * }
 * const ratio = rounds.ratio("weightbench mmap", "cat", "cold");
 * assert.deepEqual(ratio.map((r) => r.toFixed(2)), ["0.95", "0.90", "1.05"]);
 * assert.equal(formatSpread(spreadOf(ratio)!), "0.95 (0.90–1.05)");
 * ```
 *
 * @module
 */

/** A cache state the perf task measures. */
export type Cache = "cold" | "warm";

/** The median of some values and their range. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** The median, min and max of `values`; undefined for none. */
export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, count: sorted.length };
}

/** `median (min–max)`, or only the median for one value. */
export function formatSpread(spread: Spread | undefined, digits = 2): string {
  if (spread === undefined) return "";
  const median = spread.median.toFixed(digits);
  if (spread.count === 1) return median;
  return `${median} (${spread.min.toFixed(digits)}–${spread.max.toFixed(digits)})`;
}

/** Rates by tool and cache state, one slot per round. */
export class Rounds {
  readonly #values = new Map<string, (number | undefined)[]>();
  #round = -1;

  /** Starts the next round. */
  next(): void {
    this.#round++;
  }

  /** How many rounds were started. */
  get count(): number {
    return this.#round + 1;
  }

  /** Records `tool`'s rate in this round; `undefined` (the tool could not run) is skipped. */
  record(tool: string, cache: Cache, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    const key = `${tool}|${cache}`;
    const values = this.#values.get(key) ?? [];
    values[Math.max(0, this.#round)] = value;
    this.#values.set(key, values);
  }

  /** Every tool recorded, in the order first seen. */
  tools(): string[] {
    return [...new Set([...this.#values.keys()].map((key) => key.split("|")[0]!))];
  }

  /** `tool`'s rates in the rounds that have one. */
  values(tool: string, cache: Cache): number[] {
    return (this.#values.get(`${tool}|${cache}`) ?? []).filter((v) => v !== undefined);
  }

  /** `tool`'s median rate over rounds, with the spread. */
  spread(tool: string, cache: Cache): Spread | undefined {
    return spreadOf(this.values(tool, cache));
  }

  /** `tool` ÷ `peer`, round by round, in the rounds that measured both. */
  ratio(tool: string, peer: string, cache: Cache, peerCache: Cache = cache): number[] {
    const ours = this.#values.get(`${tool}|${cache}`) ?? [];
    const theirs = this.#values.get(`${peer}|${peerCache}`) ?? [];
    const ratios: number[] = [];
    for (let round = 0; round < Math.max(ours.length, theirs.length); round++) {
      const a = ours[round];
      const b = theirs[round];
      if (a !== undefined && b !== undefined && b > 0) ratios.push(a / b);
    }
    return ratios;
  }

  /**
   * The best of `tools` round by round: per round the highest rate among them,
   * recorded as `name` (the best cold strategy, the best fio setting).
   */
  recordBest(name: string, tools: readonly string[], cache: Cache): void {
    for (let round = 0; round < this.count; round++) {
      let best: number | undefined;
      for (const tool of tools) {
        const value = this.#values.get(`${tool}|${cache}`)?.[round];
        if (value !== undefined && (best === undefined || value > best)) best = value;
      }
      if (best === undefined) continue;
      const key = `${name}|${cache}`;
      const values = this.#values.get(key) ?? [];
      values[round] = best;
      this.#values.set(key, values);
    }
  }
}

/** A speed target: `tool` at least `at least` × `peer` in `cache`. */
export interface SpeedTarget {
  readonly tool: string;
  readonly peer: string;
  readonly cache: Cache;
  /** The least ratio that meets it. @default 0.95 */
  readonly atLeast?: number;
}

/** A target's outcome: the ratio over rounds, and whether its median meets it. */
export interface TargetOutcome extends SpeedTarget {
  readonly ratio: Spread | undefined;
  /** `met` by the median; `held` when even the worst round meets it. */
  readonly verdict: "held" | "met" | "missed" | "not measured";
}

/** Each target's ratio over rounds and verdict. */
export function judgeTargets(rounds: Rounds, targets: readonly SpeedTarget[]): TargetOutcome[] {
  return targets.map((target) => {
    const atLeast = target.atLeast ?? 0.95;
    const ratio = spreadOf(rounds.ratio(target.tool, target.peer, target.cache));
    const verdict = ratio === undefined
      ? "not measured"
      : ratio.min >= atLeast
      ? "held"
      : ratio.median >= atLeast
      ? "met"
      : "missed";
    return { ...target, atLeast, ratio, verdict };
  });
}
