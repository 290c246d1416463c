/**
 * The process's resident memory and its peak, read from `/proc/self/status`,
 * with the peak reset between samples through `/proc/self/clear_refs`.
 * Where these files are absent the functions return `undefined` / `false` and
 * the profile says the peak is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMemory, resetPeakRss } from "./memory.ts";
 *
 * resetPeakRss();
 * const memory = readMemory();
 * assert.ok(memory === undefined || memory.peakRss >= memory.rss * 0.5);
 * ```
 *
 * @module
 */

import { readProcText, writeProcText } from "../ffi/procfs.ts";

/** Current and peak resident set size, in bytes. */
export interface MemoryReading {
  readonly rss: number;
  readonly peakRss: number;
}

/** Reads VmRSS and VmHWM; `undefined` where `/proc/self/status` is absent. */
export function readMemory(): MemoryReading | undefined {
  const text = readProcText("/proc/self/status");
  if (text === undefined) return undefined;
  const rss = /VmRSS:\s+(\d+) kB/.exec(text)?.[1];
  const peak = /VmHWM:\s+(\d+) kB/.exec(text)?.[1];
  if (rss === undefined || peak === undefined) return undefined;
  return { rss: Number(rss) * 1024, peakRss: Number(peak) * 1024 };
}

/** Resets the peak to the current RSS; false where the kernel does not allow it. */
export function resetPeakRss(): boolean {
  return writeProcText("/proc/self/clear_refs", "5");
}
