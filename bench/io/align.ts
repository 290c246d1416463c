/**
 * Alignment of O_DIRECT reads: buffers, file offsets and lengths must all be
 * multiples of the device's logical block size; 4096 covers every block size
 * in use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alignDown, alignUp, DIRECT_ALIGNMENT } from "./align.ts";
 *
 * assert.equal(alignDown(5000), DIRECT_ALIGNMENT);
 * assert.equal(alignUp(5000), 2 * DIRECT_ALIGNMENT);
 * assert.equal(alignUp(4096), 4096);
 * ```
 *
 * @module
 */

/** Alignment of O_DIRECT buffers, offsets and lengths: the largest logical block size in use. */
export const DIRECT_ALIGNMENT = 4096;

/** `value` rounded down to a multiple of `alignment`. */
export function alignDown(value: number, alignment: number = DIRECT_ALIGNMENT): number {
  return Math.floor(value / alignment) * alignment;
}

/** `value` rounded up to a multiple of `alignment`. */
export function alignUp(value: number, alignment: number = DIRECT_ALIGNMENT): number {
  return Math.ceil(value / alignment) * alignment;
}
