/**
 * Sampled verification, for models too large to hash every byte of every
 * sample: each placed tensor is checked, once and where the source has it,
 * and a few windows of it (its first and last bytes, and seeded windows in
 * between) are read back from the target and compared with the same bytes
 * read from the file. A transfer that drops, shifts or truncates data shows
 * in the first or last window of some tensor; full verification
 * (`verify.ts`) stays the default. A tensor placed transformed (dequantized
 * FP16) has only its placement checked here: its content needs the reference
 * transform of the whole tensor, which full verification does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleWindows } from "./verify_sampled.ts";
 *
 * assert.deepEqual(sampleWindows(100, 64, 4, 1), [{ start: 0, length: 100 }]);
 * const windows = sampleWindows(1 << 20, 4096, 4, 7);
 * assert.equal(windows[0]!.start, 0);
 * assert.equal(windows.at(-1)!.start + 4096, 1 << 20);
 * ```
 *
 * @module
 */

import { NativeFile } from "../ffi/native_file.ts";
import type { WeightSet } from "../formats/weights.ts";
import type { LoadResult } from "./load.ts";
import type { Target } from "./target.ts";
import { digestKey } from "./digests.ts";
import { PlacementLedger, type Verification, VerificationError } from "./verify.ts";
import { seededRandom } from "../util/random.ts";

/** Bytes per window. @default 64 KiB */
export const SAMPLE_WINDOW_BYTES = 64 << 10;
/** Windows per tensor: the first, the last, and the rest seeded in between. @default 4 */
export const SAMPLE_WINDOWS = 4;

/** Options of {@link verifySampled}. */
export interface SampledOptions {
  /** @default {@link SAMPLE_WINDOW_BYTES} */
  readonly windowBytes?: number;
  /** @default {@link SAMPLE_WINDOWS} */
  readonly windows?: number;
  /** Seeds the windows in between; vary it per sample to cover more bytes over a run. @default 1 */
  readonly seed?: number;
}

/** What sampled verification checked: every tensor's placement, and `sampledBytes` of content. */
export interface SampledVerification extends Verification {
  readonly sampledBytes: number;
}

/**
 * The windows checked in a tensor of `length` bytes: the whole tensor when it
 * is small, else the first and last `window` bytes and `count − 2` seeded
 * ones in between, sorted, not overlapping.
 */
export function sampleWindows(
  length: number,
  window: number,
  count: number,
  seed: number,
): { start: number; length: number }[] {
  if (length <= window * count) return length === 0 ? [] : [{ start: 0, length }];
  const starts = new Set<number>([0, length - window]);
  const random = seededRandom(seed);
  for (let i = 0; i < Math.max(0, count - 2) * 4 && starts.size < count; i++) {
    const slot = Math.floor(random() * Math.floor(length / window));
    starts.add(Math.min(slot * window, length - window));
  }
  return [...starts].sort((a, b) => a - b).map((start) => ({ start, length: window }));
}

/**
 * Throws {@link VerificationError} unless `result` places every tensor of
 * `weights` once, where the source has it, with the source's bytes in every
 * sampled window.
 */
export function verifySampled(
  weights: WeightSet,
  result: LoadResult,
  target: Target,
  options: SampledOptions = {},
): SampledVerification {
  const window = options.windowBytes ?? SAMPLE_WINDOW_BYTES;
  const count = options.windows ?? SAMPLE_WINDOWS;
  const expected = new Map(
    weights.files.flatMap((f) => f.index.tensors.map((t) => [digestKey(f.path, t.name), t])),
  );
  const files = new Map<string, NativeFile>();
  const ledger = new PlacementLedger(weights, target.id);
  let bytes = 0;
  let sampledBytes = 0;
  try {
    for (const { file, tensor, buffer, offset, transform } of result.placements) {
      const source = ledger.claim(file, tensor.name, expected.get(digestKey(file, tensor.name)));
      if (source.offset !== tensor.offset || source.byteLength !== tensor.byteLength) {
        throw new VerificationError(
          `Tensor "${tensor.name}" from "${file}" was placed as ${tensor.offset}+${tensor.byteLength} bytes, where the source has ${source.offset}+${source.byteLength}`,
        );
      }
      if (transform !== undefined) {
        bytes += tensor.byteLength;
        continue;
      }
      let handle = files.get(file);
      if (!handle) {
        handle = NativeFile.open(file);
        files.set(file, handle);
      }
      const seed = (options.seed ?? 1) + ledger.size;
      for (const w of sampleWindows(tensor.byteLength, window, count, seed)) {
        const truth = handle.readBytes(tensor.offset + w.start, w.length);
        const loaded = target.readBack(buffer, offset + w.start, w.length);
        for (let i = 0; i < w.length; i++) {
          if (loaded[i] !== truth[i]) {
            throw new VerificationError(
              `Tensor "${tensor.name}" from "${file}" differs on ${target.id} at byte ${
                w.start + i
              } of ${tensor.byteLength}: ${loaded[i]} where the source has ${truth[i]}`,
            );
          }
        }
        sampledBytes += w.length;
      }
      bytes += tensor.byteLength;
    }
  } finally {
    for (const handle of files.values()) handle.close();
  }
  ledger.assertComplete();
  return { tensors: ledger.size, bytes, sampledBytes };
}
