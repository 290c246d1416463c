/**
 * Checks that a load put every tensor on the target, once, with the source's
 * exact bytes: each placed tensor is read back from the target and hashed
 * against the digest of the source file.
 *
 * A placement may declare that the target holds a transform of the source
 * (`transform`: the FP16 of a dequantized tensor). Then the source bytes are
 * read from the file, checked against the source digest, put through the
 * reference transform (`bench/quant/reference.ts`, never the strategy's own
 * code), and the target's bytes are compared with that, bit for bit. The
 * reference's digest is computed once per tensor and kept with the digests.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { WeightSet } from "../formats/weights.ts";
import {
  DEQUANT_BLOCKS,
  dequantizedByteLength,
  isDequantType,
  referenceDequantizeF16,
} from "../quant/reference.ts";
import type { TensorInfo } from "../formats/format.ts";
import type { LoadResult, PlacementTransform } from "./load.ts";
import type { Target } from "./target.ts";
import { DIGEST_CHUNK, digestKey, type TensorDigests, updateHash } from "./digests.ts";
import type { HashJob, HashPool } from "./hash_pool.ts";

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

/**
 * Which tensors of `weights` a load placed: each must come from the source,
 * once, and every one must arrive. Both verifiers keep their books with it.
 */
export class PlacementLedger {
  readonly #placed = new Set<string>();

  constructor(readonly weights: WeightSet, readonly targetId: string) {}

  /**
   * Records `tensor` of `file` and returns what the source knows of it
   * (`found`); throws when the source lacks it or it was placed already.
   */
  claim<T>(file: string, tensor: string, found: T | undefined): T {
    const key = digestKey(file, tensor);
    if (found === undefined) {
      throw new VerificationError(`Tensor "${tensor}" from "${file}" is not in the source`);
    }
    if (this.#placed.has(key)) {
      throw new VerificationError(`Tensor "${tensor}" from "${file}" was placed twice`);
    }
    this.#placed.add(key);
    return found;
  }

  /** Tensors placed so far. */
  get size(): number {
    return this.#placed.size;
  }

  /** Throws unless every tensor of the weights was placed. */
  assertComplete(): void {
    if (this.#placed.size === this.weights.tensorCount) return;
    const missing = this.weights.files.flatMap((f) =>
      f.index.tensors.filter((t) => !this.#placed.has(digestKey(f.path, t.name))).map((t) => t.name)
    );
    throw new VerificationError(
      `${missing.length} of ${this.weights.tensorCount} tensors never reached ${this.targetId}, first "${
        missing[0]
      }"`,
    );
  }
}

/** Throws {@link VerificationError} unless `result` holds every tensor of `weights` intact. */
export function verifyLoad(
  weights: WeightSet,
  digests: TensorDigests,
  result: LoadResult,
  target: Target,
): Verification {
  const checks = claimPlacements(weights, digests, result, target);
  const actual = checks.ranges.map((range) => {
    const hash = createHash("sha256");
    for (let start = 0; start < range.length; start += DIGEST_CHUNK) {
      updateHash(hash, range.read(start, Math.min(DIGEST_CHUNK, range.length - start)));
    }
    return hash.digest("hex");
  });
  return judge(weights, digests, checks, actual);
}

/**
 * {@link verifyLoad} with the target's bytes hashed by `pool`, one Worker a
 * core: the same checks and errors, in a fraction of the time.
 */
export async function verifyLoadWith(
  pool: HashPool,
  weights: WeightSet,
  digests: TensorDigests,
  result: LoadResult,
  target: Target,
): Promise<Verification> {
  const checks = claimPlacements(weights, digests, result, target);
  return judge(weights, digests, checks, await pool.digest(checks.ranges));
}

/** Every placement claimed on the ledger, with the expected digest and the range to hash. */
interface PlacementChecks {
  readonly ledger: PlacementLedger;
  readonly placements: LoadResult["placements"];
  readonly expected: readonly string[];
  readonly ranges: readonly HashJob[];
  readonly target: Target;
}

function claimPlacements(
  weights: WeightSet,
  digests: TensorDigests,
  result: LoadResult,
  target: Target,
): PlacementChecks {
  const ledger = new PlacementLedger(weights, target.id);
  const expected = result.placements.map(({ file, tensor }) =>
    ledger.claim(file, tensor.name, digests.get(digestKey(file, tensor.name)))
  );
  const ranges = result.placements.map(({ tensor, buffer, offset, transform }) => ({
    length: transform === undefined ? tensor.byteLength : transform.byteLength,
    read: (start: number, length: number) => target.readBack(buffer, offset + start, length),
  }));
  return { ledger, placements: result.placements, expected, ranges, target };
}

/** Compares each placement's digest on the target with the source's, then checks none is missing. */
function judge(
  weights: WeightSet,
  digests: TensorDigests,
  { ledger, placements, expected, target }: PlacementChecks,
  actual: readonly string[],
): Verification {
  let bytes = 0;
  let sources: Map<string, TensorInfo> | undefined;
  for (const [i, { file, tensor, transform }] of placements.entries()) {
    sources ??= transform === undefined ? undefined : new Map(
      weights.files.flatMap((f) => f.index.tensors.map((t) => [digestKey(f.path, t.name), t])),
    );
    const wanted = transform === undefined ? expected[i]! : transformedDigest(
      digests,
      file,
      sources!.get(digestKey(file, tensor.name)) ?? tensor,
      transform,
      expected[i]!,
    );
    if (actual[i] !== wanted) {
      throw new VerificationError(
        `Tensor "${tensor.name}" from "${file}" differs on ${target.id}: sha256 ${
          actual[i]!.slice(0, 12)
        }… ` +
          `where the ${
            transform === undefined ? "source has" : describeTransform(transform) + " gives"
          } ${wanted.slice(0, 12)}…`,
      );
    }
    bytes += tensor.byteLength;
  }
  ledger.assertComplete();
  return { tensors: ledger.size, bytes };
}

/** Digests of reference transforms, kept with the source digests they were checked against. */
const transformedDigests = new WeakMap<TensorDigests, Map<string, string>>();

/** Source bytes transformed per piece, rounded down to whole blocks. @default 9 MiB */
const TRANSFORM_CHUNK = 9 * 1024 * 1024;

function describeTransform(transform: PlacementTransform): string {
  return `reference ${transform.from} → ${transform.to} dequantization of the source`;
}

/**
 * SHA-256 of the reference transform of the source bytes of `tensor` (as the
 * weights' index has it), which are first checked against `sourceDigest`.
 */
function transformedDigest(
  digests: TensorDigests,
  file: string,
  tensor: TensorInfo,
  transform: PlacementTransform,
  sourceDigest: string,
): string {
  const key = `${
    digestKey(file, tensor.name)
  }\u0000${transform.kind}:${transform.from}:${transform.to}`;
  const what = `Tensor "${tensor.name}" from "${file}"`;
  if (transform.kind !== "dequantize" || transform.to !== "F16" || !isDequantType(transform.from)) {
    throw new VerificationError(
      `${what} is placed as ${transform.kind} ${transform.from} → ${transform.to}, which has no reference`,
    );
  }
  const type = transform.from;
  if (tensor.dtype !== type) {
    throw new VerificationError(
      `${what} is ${tensor.dtype}, but its placement dequantizes ${type}`,
    );
  }
  let expectedLength: number;
  try {
    expectedLength = dequantizedByteLength(type, tensor.byteLength);
  } catch (error) {
    throw new VerificationError(`${what}: ${(error as Error).message}`);
  }
  if (transform.byteLength !== expectedLength) {
    throw new VerificationError(
      `${what} dequantizes to ${expectedLength} bytes of ${transform.to}, but its placement holds ${transform.byteLength}`,
    );
  }
  let cache = transformedDigests.get(digests);
  const cached = cache?.get(key);
  if (cached !== undefined) return cached;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) {
    throw new VerificationError(`${what}: a transformed tensor is verified from a local file only`);
  }
  const source = createHash("sha256");
  const reference = createHash("sha256");
  const chunk = TRANSFORM_CHUNK - (TRANSFORM_CHUNK % DEQUANT_BLOCKS[type].bytes);
  const buffer = new Uint8Array(Math.min(chunk, Math.max(tensor.byteLength, 1)));
  using handle = Deno.openSync(file, { read: true });
  for (let done = 0; done < tensor.byteLength;) {
    const want = Math.min(buffer.length, tensor.byteLength - done);
    let got = 0;
    handle.seekSync(tensor.offset + done, Deno.SeekMode.Start);
    while (got < want) {
      const n = handle.readSync(buffer.subarray(got, want));
      if (n === null || n === 0) {
        throw new VerificationError(`${what}: the source file ended inside the tensor`);
      }
      got += n;
    }
    const piece = buffer.subarray(0, want);
    source.update(piece);
    const half = referenceDequantizeF16(type, piece);
    reference.update(new Uint8Array(half.buffer, half.byteOffset, half.byteLength));
    done += want;
  }
  if (source.digest("hex") !== sourceDigest) {
    throw new VerificationError(`${what}: the source file changed since its digests were taken`);
  }
  const digest = reference.digest("hex");
  if (cache === undefined) {
    cache = new Map();
    transformedDigests.set(digests, cache);
  }
  cache.set(key, digest);
  return digest;
}
