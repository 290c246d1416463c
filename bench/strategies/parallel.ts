/**
 * `parallel`: several readers over disjoint chunks of each file's data, each
 * chunk copied to the target as it lands, through the page cache. The
 * loader that keeps every core and the storage queue busy, with staging
 * memory bounded by `(readers + 1) × chunkSize` whatever the model's size.
 *
 * It is the streaming engine (`bench/io/stream.ts`) with `readers` reads in
 * flight into a ring of `readers + 1` pageable buffers: the spare one lets
 * the next read start while a chunk is copied, which kept the disk busy (cold
 * 4 GiB reads on a 2-core machine: 2.26–2.34 GB/s against 1.95–2.04 without
 * it; warm, where the cores are the limit, 6.4–6.9 against 7.0–7.3).
 *
 * @module
 */

import { z } from "zod";
import { NativeMemory } from "../ffi/native_memory.ts";
import { freshRings, ringMemoryShortfall, streamToTarget } from "../io/stream_load.ts";
import type { StrategyDefinition } from "./strategy.ts";

/** Bytes per read. @default 32 MiB */
export const PARALLEL_CHUNK = 32 << 20;
/** Readers in flight. @default the number of CPU cores, at least 2, at most 16 */
export const PARALLEL_READERS = Math.max(2, Math.min(16, navigator.hardwareConcurrency || 2));

const options = z.strictObject({
  readers: z.number().int().min(1).max(64).default(PARALLEL_READERS),
  chunkSize: z.number().int().min(4096).max(1 << 30).default(PARALLEL_CHUNK),
});

/** The `parallel` strategy. */
export const parallel: StrategyDefinition<z.infer<typeof options>> = {
  name: "parallel",
  summary: "several readers over disjoint chunks through the page cache, bounded staging",
  options,
  create: ({ readers, chunkSize }) => {
    const rings = freshRings(readers + 1, (bytes) => NativeMemory.allocate(bytes));
    return {
      name: "parallel",
      unsupported: (weights, target) =>
        ringMemoryShortfall(weights, target, readers + 1, chunkSize),
      load: (context) => streamToTarget(context, { chunkSize, depth: readers }, rings),
    };
  },
};
