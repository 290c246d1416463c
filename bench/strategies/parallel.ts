/**
 * `parallel`: several readers over disjoint chunks of each file's data, each
 * chunk copied to the target as it lands, through the page cache. The
 * loader that keeps every core and the storage queue busy, with staging
 * memory bounded by `readers × chunkSize` whatever the model's size.
 *
 * @module
 */

import { z } from "zod";
import { streamedStrategy } from "./_streamed.ts";
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
  create: ({ readers, chunkSize }) =>
    streamedStrategy("parallel", { chunkSize, depth: readers, direct: false, openFlags: 0 }),
};
