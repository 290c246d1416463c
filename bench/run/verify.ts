/**
 * Checks that a load put every tensor on the target, once, with the source's
 * exact bytes: each placed tensor is read back from the target and hashed
 * against the digest of the source file.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { WeightSet } from "../formats/weights.ts";
import type { LoadResult } from "../strategies/strategy.ts";
import type { Target } from "../targets/target.ts";
import { DIGEST_CHUNK, digestKey, type TensorDigests, updateHash } from "./digests.ts";

/** The loaded bytes differ from the source, or a tensor is missing or doubled. */
export class VerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerificationError";
  }
}

/** What verification checked. */
export interface Verification {
  readonly tensors: number;
  readonly bytes: number;
}

/** Throws {@link VerificationError} unless `result` holds every tensor of `weights` intact. */
export function verifyLoad(
  weights: WeightSet,
  digests: TensorDigests,
  result: LoadResult,
  target: Target,
): Verification {
  const placed = new Set<string>();
  let bytes = 0;
  for (const { file, tensor, buffer, offset } of result.placements) {
    const key = digestKey(file, tensor.name);
    const expected = digests.get(key);
    if (expected === undefined) {
      throw new VerificationError(`Tensor "${tensor.name}" from "${file}" is not in the source`);
    }
    if (placed.has(key)) {
      throw new VerificationError(`Tensor "${tensor.name}" from "${file}" was placed twice`);
    }
    placed.add(key);
    const hash = createHash("sha256");
    for (let start = 0; start < tensor.byteLength; start += DIGEST_CHUNK) {
      const length = Math.min(DIGEST_CHUNK, tensor.byteLength - start);
      updateHash(hash, target.readBack(buffer, offset + start, length));
    }
    const actual = hash.digest("hex");
    if (actual !== expected) {
      throw new VerificationError(
        `Tensor "${tensor.name}" from "${file}" differs on ${target.id}: sha256 ${
          actual.slice(0, 12)
        }… ` +
          `where the source has ${expected.slice(0, 12)}…`,
      );
    }
    bytes += tensor.byteLength;
  }
  if (placed.size !== weights.tensorCount) {
    const missing = weights.files.flatMap((f) =>
      f.index.tensors.filter((t) => !placed.has(digestKey(f.path, t.name))).map((t) => t.name)
    );
    throw new VerificationError(
      `${missing.length} of ${weights.tensorCount} tensors never reached ${target.id}, first "${
        missing[0]
      }"`,
    );
  }
  return { tensors: placed.size, bytes };
}
