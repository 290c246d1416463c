/**
 * A strategy is one way to move a model's bytes from storage to a target.
 * Each lives in its own file and implements one small interface; the runner
 * times {@link Strategy.load}, the recorder inside it tells where the time
 * went, and the verifier checks every placed tensor against the source.
 *
 * @module
 */

import { z } from "zod";
import type { TensorInfo } from "../formats/format.ts";
import type { WeightSet } from "../formats/weights.ts";
import type { Recorder } from "../core/recorder.ts";
import type { DeviceBuffer, Target } from "../core/target.ts";

/** Everything a load needs. */
export interface LoadContext {
  readonly weights: WeightSet;
  readonly target: Target;
  readonly recorder: Recorder;
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

/** One loading strategy with its options resolved. */
export interface Strategy {
  readonly name: string;
  /**
   * Why this strategy cannot run for these weights on this target, or
   * `undefined` when it can. The case is then skipped with that reason.
   */
  unsupported?(weights: WeightSet, target: Target): string | undefined;
  /**
   * Target bytes a load of `weights` allocates, when not the files' data
   * spans ({@link targetFootprint}): a strategy that dequantizes places more.
   */
  footprint?(weights: WeightSet): number;
  /**
   * Work before each sample, outside its timing and before its cache state
   * is set: a prestaged strategy measuring cold starts empties its staging
   * entries here, as a fresh machine has none.
   */
  prepareSample?(weights: WeightSet, target: Target): Promise<void>;
  /**
   * The local files a load reads, whose page-cache state the case's `cache`
   * setting governs, when they are not the weights' files: a prestaged load
   * from its staged copies.
   */
  cachePaths?(weights: WeightSet): readonly string[];
  /** Loads every tensor of `context.weights` onto `context.target`. */
  load(context: LoadContext): Promise<LoadResult>;
  /** Releases what the strategy keeps between loads (a reused buffer pool). */
  close?(): void;
}

/** A strategy as the registry knows it: a name, a summary, its options and a factory. */
export interface StrategyDefinition<
  Options extends Record<string, unknown> = Record<string, unknown>,
> {
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly summary: string;
  /** Validates the options a scenario gives, filling every default. */
  readonly options: z.ZodType<Options>;
  create(options: Options): Strategy;
}

/** How tensors travel to the target: the whole data section at once, or one copy per tensor. */
export const transferOption = z.enum(["bulk", "tensor"]).default("bulk");

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

/**
 * Moves a file's tensors from a host image of the file — memory holding the
 * file's bytes at their file offsets, such as a full read or a mapping — to
 * one target buffer that mirrors the file's data span, so every tensor keeps
 * its relative offset. `bulk` copies the span in one transfer, `tensor` copies
 * tensor by tensor; both record the `alloc` and transfer spans.
 */
export async function placeFile(
  { target, recorder }: LoadContext,
  path: string,
  tensors: readonly TensorInfo[],
  image: (fileOffset: number) => Deno.PointerObject,
  transfer: "bulk" | "tensor",
): Promise<{ buffer: DeviceBuffer; placements: Placement[] }> {
  const { begin, end } = dataSpan(tensors);
  const buffer = recorder.time("alloc", () => target.allocate(Math.max(end - begin, 1)), path);
  await recorder.timeAsync(target.transferPhase, async () => {
    if (transfer === "bulk") {
      if (end > begin) await target.copyIn(buffer, 0, image(begin), end - begin);
    } else {
      for (const t of tensors) {
        if (t.byteLength > 0) {
          await target.copyIn(buffer, t.offset - begin, image(t.offset), t.byteLength);
        }
      }
    }
    await target.synchronize();
  }, path);
  return {
    buffer,
    placements: tensors.map((tensor) => ({
      file: path,
      tensor,
      buffer,
      offset: tensor.offset - begin,
    })),
  };
}
