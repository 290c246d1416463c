/**
 * `direct`: O_DIRECT reads into aligned buffers with several in flight,
 * bypassing the page cache, each chunk copied to the target as it lands. What
 * it measures is the storage itself; the page cache is neither used nor
 * polluted. On file systems that refuse O_DIRECT (tmpfs) the case is skipped
 * with the reason.
 *
 * Options: `chunkSize` (a multiple of 4096) and `depth` (reads in flight);
 * staging memory is `chunkSize × (depth + 1)` whatever the model's size:
 * the spare buffer lets a read start while a chunk is copied, so `depth`
 * reads stay in flight (see `parallel.ts`).
 *
 * @module
 */

import { z } from "zod";
import { fileSystemType, O_DIRECT, RAMFS_MAGIC, TMPFS_MAGIC } from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { DIRECT_ALIGNMENT } from "../io/align.ts";
import { freshRings, ringMemoryShortfall, streamToTarget } from "../io/stream_load.ts";
import type { WeightSet } from "../formats/weights.ts";
import type { StrategyDefinition } from "./strategy.ts";

/** Bytes per O_DIRECT read. @default 16 MiB */
export const DIRECT_CHUNK = 16 << 20;
/** O_DIRECT reads in flight. @default 4 */
export const DIRECT_DEPTH = 4;

const options = z.strictObject({
  chunkSize: z.number().int().min(DIRECT_ALIGNMENT).max(1 << 30)
    .refine((n) => n % DIRECT_ALIGNMENT === 0, {
      message: `must be a multiple of ${DIRECT_ALIGNMENT}`,
    })
    .default(DIRECT_CHUNK),
  depth: z.number().int().min(1).max(64).default(DIRECT_DEPTH),
});

/** The `direct` strategy. */
export const direct: StrategyDefinition<z.infer<typeof options>> = {
  name: "direct",
  summary: "O_DIRECT reads into aligned buffers, several in flight, bypassing the page cache",
  options,
  create: ({ chunkSize, depth }) => {
    const rings = freshRings(depth + 1, (bytes) => NativeMemory.allocate(bytes));
    return {
      name: "direct",
      unsupported: (weights, target) =>
        directUnsupported(weights) ??
          ringMemoryShortfall(weights, target, depth + 1, chunkSize, true),
      load: (context) => streamToTarget(context, { chunkSize, depth, direct: true }, rings),
    };
  },
};

/**
 * Why O_DIRECT cannot read `weights` here (a memory file system, or one that
 * refuses the flag), or undefined when it can.
 */
export function directUnsupported(weights: WeightSet): string | undefined {
  for (const { path } of weights.files) {
    const type = fileSystemType(path);
    if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) {
      return `"${path}" is on a memory file system (tmpfs): there is no page cache for O_DIRECT to bypass`;
    }
    try {
      NativeFile.open(path, O_DIRECT).close();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EINVAL" || code === "EOPNOTSUPP") {
        return `the file system holding "${path}" refuses O_DIRECT (${code})`;
      }
      throw error;
    }
  }
  return undefined;
}
