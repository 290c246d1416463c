/**
 * GGUF files of quantized tensors with fresh random content, for tests and
 * for benchmarking the `quantized` strategy on a type the fixture generator
 * does not write (Q4_K): every block's quantized values are random bytes and
 * its scales random FP16 values of sane magnitude (or, with `wild`, random
 * bits too, NaN and infinity included).
 *
 * ```sh
 * deno run --allow-write bench/quant/gguf_fixture.ts OUT.gguf Q4_K 256MiB
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeRandomGguf } from "./gguf_fixture.ts";
 * import { openWeights } from "../formats/weights.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeRandomGguf(`${dir}/m.gguf`, [
 *   { name: "blk.0.attn_q.weight", type: "Q4_K", ne: [512, 4] },
 *   { name: "blk.0.attn_norm.weight", type: "F32", ne: [512] },
 * ]);
 * const weights = await openWeights(`${dir}/m.gguf`);
 * assert.deepEqual(weights.files[0]!.index.tensors.map((t) => t.dtype), ["Q4_K", "F32"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { encodeGguf } from "../formats/gguf.ts";
import { f32ToF16Bits, ggmlByteLength } from "../formats/ggml.ts";
import { parseSize } from "../util/size.ts";
import { DEQUANT_BLOCKS, type DequantType, isDequantType } from "./reference.ts";

/** One tensor to write. */
export interface RandomTensor {
  readonly name: string;
  /** A GGML type: Q8_0, Q4_0, Q4_K, F32 or F16. */
  readonly type: DequantType | "F32" | "F16";
  /** Dimensions, innermost first. */
  readonly ne: readonly number[];
}

/** Options of {@link writeRandomGguf}. */
export interface RandomGgufOptions {
  /** Random scale bits too, NaN and infinity included. @default false */
  readonly wild?: boolean;
}

/** Writes a GGUF file holding `tensors`, each filled with fresh random content. */
export async function writeRandomGguf(
  path: string,
  tensors: readonly RandomTensor[],
  options: RandomGgufOptions = {},
): Promise<void> {
  const header = encodeGguf({
    metadata: [
      ["general.architecture", { type: "STRING", value: "llama" }],
      ["general.alignment", { type: "UINT32", value: 32 }],
    ],
    tensors: tensors.map((t) => ({ name: t.name, type: t.type, ne: t.ne })),
  });
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await writeAll(file, header.bytes);
  let end = 0;
  for (const [i, t] of tensors.entries()) {
    const range = header.ranges[i]!;
    if (range.begin > end) await writeAll(file, new Uint8Array(range.begin - end));
    const length = ggmlByteLength(t.type, t.ne);
    const step = isDequantType(t.type) ? DEQUANT_BLOCKS[t.type].bytes * 4096 : 1 << 20;
    for (let done = 0; done < length; done += step) {
      await writeAll(file, randomContent(t.type, Math.min(step, length - done), options));
    }
    end = range.end;
  }
}

/** Random bytes of `type`: whole blocks for the quantized types, finite values for F32/F16. */
export function randomContent(
  type: RandomTensor["type"],
  length: number,
  options: RandomGgufOptions = {},
): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(length, i + 65536)));
  }
  const view = new DataView(bytes.buffer);
  const scale = () => f32ToF16Bits((1 + Math.random()) * 2 ** -(4 + Math.floor(Math.random() * 8)));
  if (type === "F32") {
    for (let i = 0; i + 4 <= length; i += 4) view.setFloat32(i, Math.random() * 2 - 1, true);
  } else if (type === "F16") {
    for (let i = 0; i + 2 <= length; i += 2) {
      view.setUint16(i, f32ToF16Bits(Math.random() * 2 - 1), true);
    }
  } else if (!options.wild) {
    const size = DEQUANT_BLOCKS[type].bytes;
    for (let at = 0; at + size <= length; at += size) {
      view.setUint16(at, scale(), true);
      if (type === "Q4_K") view.setUint16(at + 2, scale(), true);
    }
  }
  return bytes;
}

/**
 * A Llama-like set of tensors of `type` totalling about `bytes`: per layer,
 * seven quantized matrices and two F32 norms.
 */
export function llamaLikeTensors(type: DequantType, bytes: number): RandomTensor[] {
  const hidden = 1024;
  const perLayer = 7 * (hidden * hidden / DEQUANT_BLOCKS[type].elements) *
    DEQUANT_BLOCKS[type].bytes;
  const layers = Math.max(1, Math.round(bytes / perLayer));
  const tensors: RandomTensor[] = [];
  for (let l = 0; l < layers; l++) {
    for (
      const name of ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
    ) {
      tensors.push({ name: `blk.${l}.${name}.weight`, type, ne: [hidden, hidden] });
    }
    tensors.push({ name: `blk.${l}.attn_norm.weight`, type: "F32", ne: [hidden] });
    tensors.push({ name: `blk.${l}.ffn_norm.weight`, type: "F32", ne: [hidden] });
  }
  return tensors;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

if (import.meta.main) {
  const [out, type, size] = Deno.args;
  const bytes = size === undefined ? undefined : parseSize(size);
  if (out === undefined || type === undefined || !isDequantType(type) || bytes === undefined) {
    console.error("usage: gguf_fixture.ts OUT.gguf Q8_0|Q4_0|Q4_K SIZE");
    Deno.exit(2);
  }
  await writeRandomGguf(out, llamaLikeTensors(type, bytes));
  console.log(`wrote ${out}`);
}
