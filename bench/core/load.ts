/**
 * What a load is given and what it gives back, whatever the strategy: the
 * weights, the target and the recorder in; every tensor's placement on the
 * target and the bytes read out. The runner times a load, the verifiers check
 * its placements against the source, and every strategy speaks these types.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dataSpan } from "./load.ts";
 *
 * const tensor = (offset: number, byteLength: number) =>
 *   ({ name: "t", dtype: "F16", shape: [byteLength / 2], offset, byteLength });
 * assert.deepEqual(dataSpan([tensor(96, 64), tensor(160, 32)]), { begin: 96, end: 192 });
 * ```
 *
 * @module
 */

import type { TensorInfo } from "../formats/format.ts";
import type { WeightSet } from "../formats/weights.ts";
import type { Recorder } from "./recorder.ts";
import type { DeviceBuffer, Target } from "./target.ts";

/** Everything a load needs. */
export interface LoadContext {
  readonly weights: WeightSet;
  readonly target: Target;
  readonly recorder: Recorder;
  /**
   * Aborted on SIGINT or SIGTERM: a load that can stop part-way (a download,
   * a staging copy, a wait for another run) stops within a second, throwing
   * the signal's reason; the runner then drops the sample and frees memory.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The target holds a transform of the tensor's source bytes rather than the
 * bytes themselves: `dequantize` is the FP16 that the reference dequantizer
 * (`bench/quant/reference.ts`) makes of a quantized tensor. Verification
 * applies the reference transform to the source and compares.
 */
export interface PlacementTransform {
  readonly kind: "dequantize";
  /** The source's dtype: the tensor's own (`Q4_K`). */
  readonly from: string;
  /** The dtype on the target. */
  readonly to: "F16";
  /** Bytes the transformed tensor occupies on the target, from `offset`. */
  readonly byteLength: number;
}

/** Where one tensor landed on the target. */
export interface Placement {
  /** The file the tensor was read from. */
  readonly file: string;
  /** The tensor as the strategy parsed it during the load. */
  readonly tensor: TensorInfo;
  readonly buffer: DeviceBuffer;
  /** Byte offset of the tensor inside `buffer`. */
  readonly offset: number;
  /** Present when the target holds a transform of the source bytes (dequantized FP16). */
  readonly transform?: PlacementTransform;
}

/** What a load produced: the placements and the target memory holding them. */
export interface LoadResult {
  readonly placements: readonly Placement[];
  readonly buffers: readonly DeviceBuffer[];
  /** Bytes the strategy read from storage (whole files for full reads). */
  readonly bytesRead: number;
  /**
   * Bytes by where they came from, for strategies with several tiers: a
   * prestaged load reads `source` (the slow tier, only when it stages) and
   * `staging` (the local copy).
   */
  readonly bytesBySource?: Readonly<Record<string, number>>;
  /**
   * Facts about this load for the profile, such as the dequantization path,
   * the bytes moved to the target, or whether cuFile ran in true GPUDirect
   * Storage or compatibility mode.
   */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/** The byte range of a file holding all its tensors (the data section, for safetensors). */
export function dataSpan(tensors: readonly TensorInfo[]): { begin: number; end: number } {
  if (tensors.length === 0) return { begin: 0, end: 0 };
  let begin = Infinity;
  let end = 0;
  for (const t of tensors) {
    begin = Math.min(begin, t.offset);
    end = Math.max(end, t.offset + t.byteLength);
  }
  return { begin, end };
}

/** Target bytes a load of `weights` allocates: each file's data span. */
export function targetFootprint(weights: WeightSet): number {
  let bytes = 0;
  for (const file of weights.files) {
    const { begin, end } = dataSpan(file.index.tensors);
    bytes += Math.max(end - begin, 1);
  }
  return bytes;
}
