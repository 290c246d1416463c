/**
 * The reference dequantizers: ggml's `dequantize_row_q8_0`, `_q4_0` and
 * `_q4_K`, element by element in float32 exactly as ggml's C computes them,
 * then rounded to IEEE half precision (round to nearest even), the FP16 a
 * loader places on a device. Written for clarity, not speed: every faster
 * path (the CPU workers, the CUDA kernels) is checked against these bit for
 * bit, and so is every loaded tensor.
 *
 * The FP16 is exact where the formula is: `q × d` of Q8_0 and Q4_0 is exact
 * in float32 (a 7- or 4-bit integer times an 11-bit significand), so only the
 * final rounding to FP16 happens; Q4_K's `d1 × q − m1` is rounded once to
 * float32 (the product is exact, so a fused multiply-add gives the same
 * float32), then to FP16. A NaN comes out as the canonical `0x7e00`.
 *
 * Block layouts (little endian), as ggml-common.h defines them:
 *
 * - Q8_0, 34 bytes per 32 elements: `d` (f16), then 32 × int8 `q`; `y = q·d`.
 * - Q4_0, 18 bytes per 32 elements: `d` (f16), then 16 bytes of nibbles,
 *   element `j` in the low nibble of byte `j` and element `j+16` in its high
 *   nibble; `y = (q − 8)·d`.
 * - Q4_K, 144 bytes per 256 elements: `d`, `dmin` (f16), 12 bytes packing
 *   eight 6-bit scales and eight 6-bit mins, then 128 bytes of nibbles; each
 *   64 elements take 32 bytes, low nibbles first: `y = d·sc·q − dmin·m`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referenceDequantizeF16 } from "./reference.ts";
 * import { f16BitsToF32, f32ToF16Bits } from "../formats/ggml.ts";
 *
 * const block = new Uint8Array(34);
 * new DataView(block.buffer).setUint16(0, f32ToF16Bits(0.5), true);
 * block[2] = 3; // q[0] = 3
 * block[3] = 0xfe; // q[1] = -2
 * const half = referenceDequantizeF16("Q8_0", block);
 * assert.equal(half.length, 32);
 * assert.deepEqual([f16BitsToF32(half[0]!), f16BitsToF32(half[1]!)], [1.5, -1]);
 * ```
 *
 * @module
 */

import { f16BitsToF32, f32ToF16Bits } from "../formats/ggml.ts";

/** The quantized types weightbench dequantizes. */
export const DEQUANT_TYPES = ["Q8_0", "Q4_0", "Q4_K"] as const;
/** One of {@link DEQUANT_TYPES}. */
export type DequantType = typeof DEQUANT_TYPES[number];

/** Elements per block and bytes per block of each dequantized type. */
export const DEQUANT_BLOCKS: Readonly<
  Record<DequantType, { readonly elements: number; readonly bytes: number }>
> = Object.freeze({
  Q8_0: { elements: 32, bytes: 34 },
  Q4_0: { elements: 32, bytes: 18 },
  Q4_K: { elements: 256, bytes: 144 },
});

/** The FP16 bits of a NaN result. */
export const CANONICAL_NAN_F16 = 0x7e00;

/** Whether `dtype` is one of {@link DEQUANT_TYPES}. */
export function isDequantType(dtype: string): dtype is DequantType {
  return (DEQUANT_TYPES as readonly string[]).includes(dtype);
}

/**
 * Bytes of FP16 that `byteLength` bytes of `type` dequantize to; throws a
 * `RangeError` when `byteLength` is not a whole number of blocks.
 */
export function dequantizedByteLength(type: DequantType, byteLength: number): number {
  const { elements, bytes } = DEQUANT_BLOCKS[type];
  if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % bytes !== 0) {
    throw new RangeError(`${byteLength} bytes are not whole ${type} blocks of ${bytes} bytes`);
  }
  return (byteLength / bytes) * elements * 2;
}

/** The float32 values ggml's `dequantize_row_*` gives for `bytes` (whole blocks). */
export function referenceDequantizeF32(type: DequantType, bytes: Uint8Array): Float32Array {
  const { elements, bytes: size } = DEQUANT_BLOCKS[type];
  const blocks = Math.floor(bytes.length / size);
  if (blocks * size !== bytes.length) {
    throw new RangeError(`${bytes.length} bytes are not whole ${type} blocks of ${size} bytes`);
  }
  const f = Math.fround;
  const out = new Float32Array(blocks * elements);
  const half = (at: number) => f16BitsToF32(bytes[at]! | (bytes[at + 1]! << 8));
  for (let b = 0; b < blocks; b++) {
    const at = b * size;
    const y = b * elements;
    if (type === "Q8_0") {
      const d = half(at);
      for (let j = 0; j < 32; j++) out[y + j] = f(((bytes[at + 2 + j]! << 24) >> 24) * d);
    } else if (type === "Q4_0") {
      const d = half(at);
      for (let j = 0; j < 16; j++) {
        const byte = bytes[at + 2 + j]!;
        out[y + j] = f(((byte & 0x0f) - 8) * d);
        out[y + j + 16] = f(((byte >> 4) - 8) * d);
      }
    } else {
      const d = half(at);
      const min = half(at + 2);
      const scales = bytes.subarray(at + 4, at + 16);
      let q = at + 16;
      let out_ = y;
      for (let is = 0; is < 8; is += 2) {
        const [sc1, m1] = scaleMinK4(is, scales);
        const [sc2, m2] = scaleMinK4(is + 1, scales);
        const d1 = f(d * sc1);
        const min1 = f(min * m1);
        const d2 = f(d * sc2);
        const min2 = f(min * m2);
        for (let l = 0; l < 32; l++) out[out_ + l] = f(f(d1 * (bytes[q + l]! & 0x0f)) - min1);
        for (let l = 0; l < 32; l++) out[out_ + 32 + l] = f(f(d2 * (bytes[q + l]! >> 4)) - min2);
        q += 32;
        out_ += 64;
      }
    }
  }
  return out;
}

/** The FP16 bits of the reference dequantization of `bytes` (whole blocks of `type`). */
export function referenceDequantizeF16(type: DequantType, bytes: Uint8Array): Uint16Array {
  const values = referenceDequantizeF32(type, bytes);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = Number.isNaN(v) ? CANONICAL_NAN_F16 : f32ToF16Bits(v);
  }
  return out;
}

/** ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0–7). */
export function scaleMinK4(j: number, q: Uint8Array): [number, number] {
  if (j < 4) return [q[j]! & 63, q[j + 4]! & 63];
  return [
    (q[j + 4]! & 0x0f) | ((q[j - 4]! >> 6) << 4),
    (q[j + 4]! >> 4) | ((q[j]! >> 6) << 4),
  ];
}
