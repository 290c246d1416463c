/**
 * The fast CPU dequantizers: the same results as {@link referenceDequantizeF16}
 * bit for bit, written for V8. Q8_0 computes float32 products into a scratch
 * array and converts them to FP16 with one typed-array `set` (done natively);
 * Q4_0 and Q4_K have only 16 possible values per 32 elements (one scale per
 * block or sub-block), so each block or sub-block fills a 16-entry table of
 * FP16 values and the elements are table look-ups.
 *
 * Both arrays may be views of native memory; the destination's byte offset
 * must be even.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dequantizeF16Into } from "./fast.ts";
 * import { referenceDequantizeF16 } from "./reference.ts";
 *
 * const blocks = new Uint8Array(144 * 4);
 * crypto.getRandomValues(blocks);
 * const out = new Uint16Array(256 * 4);
 * dequantizeF16Into("Q4_K", blocks, out);
 * assert.deepEqual(out, referenceDequantizeF16("Q4_K", blocks));
 * ```
 *
 * @module
 */

import { CANONICAL_NAN_F16, DEQUANT_BLOCKS, type DequantType, scaleMinK4 } from "./reference.ts";

/** Float32 value of every FP16 bit pattern. */
const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  const half = new Float16Array(1);
  const bits = new Uint16Array(half.buffer);
  for (let i = 0; i < 65536; i++) {
    bits[0] = i;
    table[i] = half[0]!;
  }
  return table;
})();

/** Blocks of Q8_0 converted per typed-array `set`. */
const Q8_BATCH = 256;

/**
 * Writes the FP16 bits of `src` (whole blocks of `type`) to `dst`, which
 * holds exactly as many elements as the blocks.
 */
export function dequantizeF16Into(type: DequantType, src: Uint8Array, dst: Uint16Array): void {
  const { elements, bytes } = DEQUANT_BLOCKS[type];
  const blocks = src.length / bytes;
  if (!Number.isInteger(blocks) || dst.length !== blocks * elements) {
    throw new RangeError(
      `${src.length} bytes of ${type} do not dequantize to ${dst.length} elements`,
    );
  }
  if (type === "Q8_0") q8_0(src, dst, blocks);
  else if (type === "Q4_0") q4_0(src, dst, blocks);
  else q4_k(src, dst, blocks);
}

const scratch = new Float32Array(Q8_BATCH * 32);

function q8_0(src: Uint8Array, dst: Uint16Array, blocks: number): void {
  const i8 = new Int8Array(src.buffer, src.byteOffset, src.length);
  const half = new Float16Array(dst.buffer, dst.byteOffset, dst.length);
  for (let b0 = 0; b0 < blocks; b0 += Q8_BATCH) {
    const end = Math.min(blocks, b0 + Q8_BATCH);
    let o = 0;
    let special = false;
    for (let b = b0; b < end; b++) {
      const at = b * 34;
      const bits = src[at]! | (src[at + 1]! << 8);
      if ((bits & 0x7c00) === 0x7c00) special = true;
      const d = HALF_TO_FLOAT[bits]!;
      for (let j = 0; j < 32; j++) scratch[o++] = i8[at + 2 + j]! * d;
    }
    half.set(o === scratch.length ? scratch : scratch.subarray(0, o), b0 * 32);
    if (special) canonicalizeNaN(dst, b0 * 32, o);
  }
}

const lut = new Float16Array(16);
const lutBits = new Uint16Array(lut.buffer);

function q4_0(src: Uint8Array, dst: Uint16Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const at = b * 18;
    const bits = src[at]! | (src[at + 1]! << 8);
    const d = HALF_TO_FLOAT[bits]!;
    for (let k = 0; k < 16; k++) lut[k] = (k - 8) * d;
    if ((bits & 0x7c00) === 0x7c00) canonicalizeNaN(lutBits, 0, 16);
    const o = b * 32;
    for (let j = 0; j < 16; j++) {
      const byte = src[at + 2 + j]!;
      dst[o + j] = lutBits[byte & 0x0f]!;
      dst[o + j + 16] = lutBits[byte >> 4]!;
    }
  }
}

const lutHigh = new Float16Array(16);
const lutHighBits = new Uint16Array(lutHigh.buffer);

function q4_k(src: Uint8Array, dst: Uint16Array, blocks: number): void {
  const f = Math.fround;
  for (let b = 0; b < blocks; b++) {
    const at = b * 144;
    const dBits = src[at]! | (src[at + 1]! << 8);
    const mBits = src[at + 2]! | (src[at + 3]! << 8);
    const d = HALF_TO_FLOAT[dBits]!;
    const min = HALF_TO_FLOAT[mBits]!;
    const special = (dBits & 0x7c00) === 0x7c00 || (mBits & 0x7c00) === 0x7c00;
    const scales = src.subarray(at + 4, at + 16);
    let q = at + 16;
    let o = b * 256;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1] = scaleMinK4(is, scales);
      const [sc2, m2] = scaleMinK4(is + 1, scales);
      const d1 = f(d * sc1);
      const min1 = f(min * m1);
      const d2 = f(d * sc2);
      const min2 = f(min * m2);
      for (let k = 0; k < 16; k++) {
        lut[k] = f(d1 * k - min1);
        lutHigh[k] = f(d2 * k - min2);
      }
      if (special) {
        canonicalizeNaN(lutBits, 0, 16);
        canonicalizeNaN(lutHighBits, 0, 16);
      }
      for (let l = 0; l < 32; l++) {
        const byte = src[q + l]!;
        dst[o + l] = lutBits[byte & 0x0f]!;
        dst[o + 32 + l] = lutHighBits[byte >> 4]!;
      }
      q += 32;
      o += 64;
    }
  }
}

/** Replaces every NaN among `length` FP16 values at `start` with the canonical NaN. */
function canonicalizeNaN(bits: Uint16Array, start: number, length: number): void {
  for (let i = start; i < start + length; i++) {
    const h = bits[i]!;
    if ((h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0) bits[i] = CANONICAL_NAN_F16;
  }
}
