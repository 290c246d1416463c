/**
 * The GGML tensor types GGUF files use — their ids, block sizes and bytes per
 * block, as ggml's `type_traits` table defines them — and the reference
 * quantizers and dequantizers of Q8_0 and Q4_0 (ggml's
 * `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref` and their inverses),
 * computed in float32 as ggml does, so fixtures hold what llama.cpp writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dequantize, ggmlByteLength, quantize } from "./ggml.ts";
 *
 * assert.equal(ggmlByteLength("Q8_0", [64, 2]), 4 * 34);
 * const x = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 8);
 * const q = quantize("Q8_0", x);
 * assert.equal(q.length, 34);
 * const back = dequantize("Q8_0", q, 32);
 * assert.ok(back.every((v, i) => Math.abs(v - x[i]!) < 0.01));
 * ```
 *
 * @module
 */

/** One GGML tensor type. */
export interface GgmlType {
  /** The name llama.cpp prints (`Q4_K`). */
  readonly name: string;
  /** The id stored in a GGUF tensor info. */
  readonly id: number;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const QK_K = 256;

/** Every type ggml defines that a GGUF file may hold, by id (removed ids 4, 5, 31–33, 36–38 are absent). */
export const GGML_TYPES: readonly GgmlType[] = Object.freeze([
  { name: "F32", id: 0, blockSize: 1, typeSize: 4 },
  { name: "F16", id: 1, blockSize: 1, typeSize: 2 },
  { name: "Q4_0", id: 2, blockSize: 32, typeSize: 2 + 16 },
  { name: "Q4_1", id: 3, blockSize: 32, typeSize: 2 + 2 + 16 },
  { name: "Q5_0", id: 6, blockSize: 32, typeSize: 2 + 4 + 16 },
  { name: "Q5_1", id: 7, blockSize: 32, typeSize: 2 + 2 + 4 + 16 },
  { name: "Q8_0", id: 8, blockSize: 32, typeSize: 2 + 32 },
  { name: "Q8_1", id: 9, blockSize: 32, typeSize: 4 + 4 + 32 },
  { name: "Q2_K", id: 10, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 16 + QK_K / 4 },
  { name: "Q3_K", id: 11, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + 12 },
  { name: "Q4_K", id: 12, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + 12 },
  { name: "Q5_K", id: 13, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + QK_K / 8 + 12 },
  { name: "Q6_K", id: 14, blockSize: QK_K, typeSize: 2 + QK_K / 2 + QK_K / 4 + QK_K / 16 },
  { name: "Q8_K", id: 15, blockSize: QK_K, typeSize: 4 + QK_K + QK_K / 8 },
  { name: "IQ2_XXS", id: 16, blockSize: QK_K, typeSize: 2 + QK_K / 4 },
  { name: "IQ2_XS", id: 17, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 32 },
  { name: "IQ3_XXS", id: 18, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 },
  { name: "IQ1_S", id: 19, blockSize: QK_K, typeSize: 2 + QK_K / 8 + QK_K / 16 },
  { name: "IQ4_NL", id: 20, blockSize: 32, typeSize: 2 + 16 },
  { name: "IQ3_S", id: 21, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  { name: "IQ2_S", id: 22, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 16 },
  { name: "IQ4_XS", id: 23, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + QK_K / 64 },
  { name: "I8", id: 24, blockSize: 1, typeSize: 1 },
  { name: "I16", id: 25, blockSize: 1, typeSize: 2 },
  { name: "I32", id: 26, blockSize: 1, typeSize: 4 },
  { name: "I64", id: 27, blockSize: 1, typeSize: 8 },
  { name: "F64", id: 28, blockSize: 1, typeSize: 8 },
  { name: "IQ1_M", id: 29, blockSize: QK_K, typeSize: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  { name: "BF16", id: 30, blockSize: 1, typeSize: 2 },
  { name: "TQ1_0", id: 34, blockSize: QK_K, typeSize: 2 + 4 * 13 },
  { name: "TQ2_0", id: 35, blockSize: QK_K, typeSize: 2 + 64 },
  { name: "MXFP4", id: 39, blockSize: 32, typeSize: 1 + 16 },
]);

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

/** The type with GGUF id `id`, or `undefined`. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** The type called `name`, or `undefined`. */
export function ggmlType(name: string): GgmlType | undefined {
  return BY_NAME.get(name);
}

/**
 * Bytes of a tensor of type `name` and GGUF shape `ne` (innermost first).
 * Throws a plain `Error` for an unknown type or a first dimension that is not
 * a whole number of blocks.
 */
export function ggmlByteLength(name: string, ne: readonly number[]): number {
  const type = ggmlType(name);
  if (type === undefined) throw new Error(`Unknown GGML type "${name}"`);
  const first = ne[0] ?? 1;
  if (first % type.blockSize !== 0) {
    throw new Error(`${name} rows hold blocks of ${type.blockSize}, not ${first} elements`);
  }
  return ne.slice(1).reduce((n, d) => n * d, (first / type.blockSize) * type.typeSize);
}

/** The types {@link quantize} writes. */
export type QuantType = "Q8_0" | "Q4_0";

const QK = 32;

/**
 * Quantizes `x` (a whole number of 32-element blocks) as ggml's reference
 * quantizer does: Q8_0 keeps `d = max|x| / 127` and `round(x / d)`; Q4_0
 * keeps `d = m / -8`, where `m` is the element of largest magnitude, and
 * `min(15, trunc(x / d + 8.5))` two to a byte, low nibbles first.
 */
export function quantize(type: QuantType, x: Float32Array): Uint8Array {
  if (x.length % QK !== 0) throw new Error(`${type} needs a multiple of ${QK} elements`);
  const blocks = x.length / QK;
  const size = type === "Q8_0" ? 34 : 18;
  const out = new Uint8Array(blocks * size);
  const view = new DataView(out.buffer);
  const f = Math.fround;
  for (let b = 0; b < blocks; b++) {
    const base = b * QK;
    const at = b * size;
    if (type === "Q8_0") {
      let amax = 0;
      for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
      const d = f(amax / 127);
      const id = d !== 0 ? f(1 / d) : 0;
      view.setUint16(at, f32ToF16Bits(d), true);
      for (let j = 0; j < QK; j++) {
        view.setInt8(at + 2 + j, _roundf(f(x[base + j]! * id)));
      }
    } else {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[base + j]!;
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = f(max / -8);
      const id = d !== 0 ? f(1 / d) : 0;
      view.setUint16(at, f32ToF16Bits(d), true);
      for (let j = 0; j < QK / 2; j++) {
        const x0 = f(x[base + j]! * id);
        const x1 = f(x[base + QK / 2 + j]! * id);
        const xi0 = Math.min(15, _int8(f(x0 + 8.5)));
        const xi1 = Math.min(15, _int8(f(x1 + 8.5)));
        out[at + 2 + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
      }
    }
  }
  return out;
}

/** The float32 values of `count` elements of Q8_0 or Q4_0 `bytes`, as ggml's `dequantize_row_*` gives them. */
export function dequantize(type: QuantType, bytes: Uint8Array, count: number): Float32Array {
  const size = type === "Q8_0" ? 34 : 18;
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b * QK < count; b++) {
    const at = b * size;
    const d = f16BitsToF32(view.getUint16(at, true));
    for (let j = 0; j < QK; j++) {
      if (type === "Q8_0") {
        out[b * QK + j] = Math.fround(view.getInt8(at + 2 + j) * d);
      } else if (j < QK / 2) {
        const byte = bytes[at + 2 + j]!;
        out[b * QK + j] = Math.fround(((byte & 0xf) - 8) * d);
        out[b * QK + j + QK / 2] = Math.fround(((byte >> 4) - 8) * d);
      }
    }
  }
  return out;
}

/** The IEEE half-precision bits nearest to `value` (round to nearest even, as ggml's FP32_TO_FP16). */
export function f32ToF16Bits(value: number): number {
  _f16[0] = Math.f16round(value);
  return _f16Bits[0]!;
}

/** The value of IEEE half-precision `bits`. */
export function f16BitsToF32(bits: number): number {
  _f16Bits[0] = bits;
  return _f16[0]!;
}

const _f16 = new Float16Array(1);
const _f16Bits = new Uint16Array(_f16.buffer);

/** C's `roundf`: halves away from zero. */
function _roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** C's `(int8_t)` cast of a float in range: toward zero. */
function _int8(v: number): number {
  return Math.trunc(v);
}
