/**
 * SHA-256 of every tensor's bytes, read from the source files: the truth that
 * each sample's loaded bytes are checked against, and what `inspect --hash`
 * prints. Files are read in order with a fixed-size buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { digestKey, tensorDigests } from "./digests.ts";
 * import { openWeights } from "../formats/weights.ts";
 * import { encodeSafetensorsHeader } from "../formats/safetensors.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const { bytes } = encodeSafetensorsHeader([{ name: "w", dtype: "U8", shape: [3] }]);
 * await Deno.writeFile(`${dir}/m.safetensors`, new Uint8Array([...bytes, 97, 98, 99]));
 * const weights = await openWeights(dir);
 * const digests = await tensorDigests(weights);
 * assert.equal(
 *   digests.get(digestKey(weights.files[0]!.path, "w")),
 *   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", // sha256("abc")
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type { WeightSet } from "../formats/weights.ts";

/** Bytes read at a time. @default 16 MiB */
export const DIGEST_CHUNK = 16 << 20;

/** Hex SHA-256 per tensor, keyed by {@link digestKey}. */
export type TensorDigests = ReadonlyMap<string, string>;

/** The key of a tensor in {@link TensorDigests}. */
export function digestKey(file: string, tensor: string): string {
  return `${file}\u0000${tensor}`;
}

/** Reads every tensor of `weights` and returns its SHA-256. */
export async function tensorDigests(weights: WeightSet): Promise<TensorDigests> {
  const digests = new Map<string, string>();
  const buffer = new Uint8Array(DIGEST_CHUNK);
  for (const { path, index } of weights.files) {
    using file = await Deno.open(path, { read: true });
    for (const tensor of index.tensors) {
      const hash = createHash("sha256");
      await file.seek(tensor.offset, Deno.SeekMode.Start);
      let left = tensor.byteLength;
      while (left > 0) {
        const got = await file.read(buffer.subarray(0, Math.min(left, buffer.length)));
        if (got === null || got === 0) {
          throw new Error(`Cannot read "${path}": file ended inside tensor "${tensor.name}"`);
        }
        hash.update(buffer.subarray(0, got));
        left -= got;
      }
      digests.set(digestKey(path, tensor.name), hash.digest("hex"));
    }
  }
  return digests;
}

/** Feeds `bytes` to `hash` in pieces, so views of any size work. */
export function updateHash(hash: Hash, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; offset += DIGEST_CHUNK) {
    hash.update(bytes.subarray(offset, Math.min(bytes.length, offset + DIGEST_CHUNK)));
  }
}
