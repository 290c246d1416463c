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
import type { DeviceBuffer, Target } from "../core/target.ts";
import { dataSpan, type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

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
