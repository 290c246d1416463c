/**
 * Splits a byte range into chunks and works through them with a bounded
 * number in flight, for reads and copies that run on pool threads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { forEachChunk } from "./parallel.ts";
 *
 * const seen: string[] = [];
 * await forEachChunk(10, 4, 2, async (offset, length) => {
 *   seen.push(`${offset}+${length}`);
 * });
 * assert.ok(seen.sort().join() === "0+4,4+4,8+2");
 * ```
 *
 * @module
 */

/**
 * Calls `work(offset, length)` for each `chunkSize` piece of `[0, total)`,
 * at most `concurrency` at a time; rejects with the first failure once every
 * started piece has settled, so no buffer is released while still in use.
 */
export async function forEachChunk(
  total: number,
  chunkSize: number,
  concurrency: number,
  work: (offset: number, length: number) => Promise<void>,
): Promise<void> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`Chunk size ${chunkSize} is not a positive integer`);
  }
  if (total <= 0) return;
  const size = chunkSize;
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < total) {
      const offset = next;
      const length = Math.min(size, total - offset);
      next += length;
      try {
        await work(offset, length);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes = Math.max(1, Math.min(concurrency, Math.ceil(total / size)));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure !== undefined) throw failure.error;
}
