/**
 * Quantizers that write valid blocks for fixtures and tests: Q8_0 and Q4_0
 * are ggml's reference quantizers (from `formats/ggml.ts`); Q4_K here is a
 * plain min/max quantizer — each 32-element sub-block gets the scale and
 * minimum that cover its range, both stored as 6-bit multiples of the
 * super-block's `d` and `dmin` — not ggml's iterative search
 * (`make_qkx2_quants`), which picks slightly better scales. The layout, and
 * so every dequantizer's result, is exactly ggml's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeBlocks } from "./quantize.ts";
 * import { referenceDequantizeF32 } from "./reference.ts";
 *
 * const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i) * 2);
 * const q = quantizeBlocks("Q4_K", x);
 * assert.equal(q.length, 144);
 * const back = referenceDequantizeF32("Q4_K", q);
 * assert.ok(back.every((v, i) => Math.abs(v - x[i]!) < 0.2));
 * ```
 *
 * @module
 */

import { f16BitsToF32, f32ToF16Bits, quantize } from "../formats/ggml.ts";
import { DEQUANT_BLOCKS, type DequantType } from "./reference.ts";

/** Quantizes `x` (a whole number of blocks of `type`) to `type`'s blocks. */
export function quantizeBlocks(type: DequantType, x: Float32Array): Uint8Array {
  const { elements, bytes } = DEQUANT_BLOCKS[type];
  if (x.length % elements !== 0) {
    throw new RangeError(`${type} needs a multiple of ${elements} elements, not ${x.length}`);
  }
  if (type !== "Q4_K") return quantize(type, x);
  const blocks = x.length / elements;
  const out = new Uint8Array(blocks * bytes);
  for (let b = 0; b < blocks; b++) {
    out.set(quantizeQ4KBlock(x.subarray(b * 256, b * 256 + 256)), b * bytes);
  }
  return out;
}

/** Packs eight 6-bit scales and eight 6-bit mins into Q4_K's 12 bytes (the inverse of `get_scale_min_k4`). */
export function packScalesK4(scales: readonly number[], mins: readonly number[]): Uint8Array {
  const q = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    const sc = scales[j]! & 63;
    const m = mins[j]! & 63;
    if (j < 4) {
      q[j] = (q[j]! & 0xc0) | sc;
      q[j + 4] = (q[j + 4]! & 0xc0) | m;
    } else {
      q[j + 4] = (sc & 0x0f) | ((m & 0x0f) << 4);
      q[j - 4] = q[j - 4]! | ((sc >> 4) << 6);
      q[j] = q[j]! | ((m >> 4) << 6);
    }
  }
  return q;
}

function quantizeQ4KBlock(x: Float32Array): Uint8Array {
  const f = Math.fround;
  const scale: number[] = [];
  const min: number[] = [];
  for (let s = 0; s < 8; s++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      const v = x[s * 32 + l]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    lo = Math.min(lo, 0); // ggml's mins are subtracted: keep them non-negative
    scale.push((hi - lo) / 15);
    min.push(-lo);
  }
  const maxScale = Math.max(...scale);
  const maxMin = Math.max(...min);
  const dBits = f32ToF16Bits(maxScale / 63);
  const dminBits = f32ToF16Bits(maxMin / 63);
  const d = f16BitsToF32(dBits);
  const dmin = f16BitsToF32(dminBits);
  const sc = scale.map((v) => (d > 0 ? Math.min(63, Math.round(v / d)) : 0));
  const m = min.map((v) => (dmin > 0 ? Math.min(63, Math.round(v / dmin)) : 0));
  const block = new Uint8Array(144);
  const view = new DataView(block.buffer);
  view.setUint16(0, dBits, true);
  view.setUint16(2, dminBits, true);
  block.set(packScalesK4(sc, m), 4);
  for (let g = 0; g < 4; g++) {
    for (let half = 0; half < 2; half++) {
      const s = 2 * g + half;
      const ds = f(d * sc[s]!);
      const ms = f(dmin * m[s]!);
      for (let l = 0; l < 32; l++) {
        const q = ds > 0 ? Math.max(0, Math.min(15, Math.round((x[s * 32 + l]! + ms) / ds))) : 0;
        block[16 + g * 32 + l] = block[16 + g * 32 + l]! | (q << (4 * half));
      }
    }
  }
  return block;
}
