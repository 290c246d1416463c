/**
 * Records the named phases of one sample as spans on a shared clock, so a
 * table can say where the time went and a report can draw the overlap of
 * streamed strategies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Recorder } from "./recorder.ts";
 *
 * const recorder = new Recorder();
 * const value = recorder.time("parse", () => JSON.parse('{"a":1}'));
 * await recorder.timeAsync("read", () => Promise.resolve());
 * const end = recorder.start("copy", "shard 1");
 * end();
 * assert.ok(value.a === 1);
 * assert.ok(recorder.spans.map((s) => s.phase).join() === "parse,read,copy");
 *
 * // Waiting for another run is a span of its own, and the clock stops for it.
 * const before = recorder.now();
 * const endWait = recorder.startWait("the staging lock");
 * await new Promise((resolve) => setTimeout(resolve, 30));
 * endWait();
 * assert.ok(recorder.waitedMs >= 25 && recorder.now() - before < 25);
 * assert.ok(recorder.spans.at(-1)!.phase === "wait");
 * ```
 *
 * @module
 */

/**
 * The phases weightbench knows; spans of several phases may overlap. `wait`
 * is time spent waiting for another run (its staging lock): recorded, shown,
 * and left out of the load's time.
 */
export const PHASES = [
  "wait",
  "open",
  "parse",
  "alloc",
  "read",
  "copy",
  "h2d",
  "dequant",
  "stage",
  "verify",
  "free",
] as const;

/** One of {@link PHASES}. */
export type Phase = typeof PHASES[number];

/** A timed interval of one phase, in milliseconds from the sample's start. */
export interface Span {
  readonly phase: Phase;
  readonly start: number;
  readonly end: number;
  /** What the span worked on: a file, a tensor, a chunk. */
  readonly detail?: string | undefined;
}

/**
 * Collects {@link Span}s against a clock that starts when the recorder is
 * made and stops while the load waits for another run ({@link Recorder.startWait}).
 */
export class Recorder {
  /** `performance.now()` at the sample's start. */
  readonly origin: number;
  readonly spans: Span[] = [];
  #waited = 0;

  constructor(origin: number = performance.now()) {
    this.origin = origin;
  }

  /** Milliseconds since the origin, less the time spent waiting. */
  now(): number {
    return performance.now() - this.origin - this.#waited;
  }

  /** Milliseconds spent waiting for other runs, left out of {@link Recorder.now}. */
  get waitedMs(): number {
    return this.#waited;
  }

  /**
   * Starts a wait for another run (its lock, its staging); call the returned
   * function when it ends. The wait is a `wait` span as long as the wait was,
   * starting where the clock stopped, and the clock does not count it: what
   * comes after starts where the wait began, as if there had been none.
   */
  startWait(detail?: string): () => void {
    const start = this.now();
    const began = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const waited = performance.now() - began;
      this.#waited += waited;
      const span: Span = detail === undefined
        ? { phase: "wait", start, end: start + waited }
        : { phase: "wait", start, end: start + waited, detail };
      this.spans.push(span);
    };
  }

  /** Starts a span; call the returned function to end it. Spans may overlap. */
  start(phase: Phase, detail?: string): () => void {
    const start = this.now();
    return () => {
      const span: Span = detail === undefined
        ? { phase, start, end: this.now() }
        : { phase, start, end: this.now(), detail };
      this.spans.push(span);
    };
  }

  /** Runs `work` inside a span of `phase`. */
  time<T>(phase: Phase, work: () => T, detail?: string): T {
    const end = this.start(phase, detail);
    try {
      return work();
    } finally {
      end();
    }
  }

  /** Awaits `work` inside a span of `phase`. */
  async timeAsync<T>(phase: Phase, work: () => Promise<T>, detail?: string): Promise<T> {
    const end = this.start(phase, detail);
    try {
      return await work();
    } finally {
      end();
    }
  }
}

/** Total milliseconds spent in each phase (overlapping spans of one phase are summed). */
export function phaseTotals(spans: readonly Span[]): Partial<Record<Phase, number>> {
  const totals: Partial<Record<Phase, number>> = {};
  for (const span of spans) {
    totals[span.phase] = (totals[span.phase] ?? 0) + (span.end - span.start);
  }
  return totals;
}

/**
 * Wall time covered by each phase: overlapping spans of one phase count once,
 * so four reads in flight for 100 ms are 100 ms of `read`, not 400.
 */
export function phaseWallTimes(spans: readonly Span[]): Partial<Record<Phase, number>> {
  const byPhase = new Map<Phase, { start: number; end: number }[]>();
  for (const span of spans) {
    const list = byPhase.get(span.phase) ?? [];
    list.push(span);
    byPhase.set(span.phase, list);
  }
  const times: Partial<Record<Phase, number>> = {};
  for (const [phase, list] of byPhase) {
    list.sort((a, b) => a.start - b.start);
    let total = 0;
    let start = -Infinity;
    let end = -Infinity;
    for (const span of list) {
      if (span.start > end) {
        if (end > start) total += end - start;
        start = span.start;
        end = span.end;
      } else {
        end = Math.max(end, span.end);
      }
    }
    if (end > start) total += end - start;
    times[phase] = total;
  }
  return times;
}
