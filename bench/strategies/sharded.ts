/**
 * `sharded`: the shards of a sharded model read in parallel by `readers`
 * concurrent file readers, each taking the next shard (largest first, so the
 * last to finish is not a big one started late), streaming its data span
 * through its own ring of `depth` buffers of `chunkSize` bytes and copying
 * each chunk to the target as it lands. The load ends when the slowest reader
 * does; each reader's bytes are in the sample's details.
 *
 * Run with `readers` = 1, 2, 4, … up to the core count (the
 * `sharded-scaling` scenario), the cases draw the scaling curve of parallel
 * shard reads on this machine's storage. A model of one file has one reader
 * whatever `readers` says (`effectiveReaders` in the details).
 *
 * With several GPUs a sharded load would place each shard (or each tensor's
 * row slice) on its own device, timed to the slowest device; a case has one
 * target today, so that waits for multi-target cases (see the issue notes).
 *
 * @module
 */

import { z } from "zod";
import { NativeMemory } from "../ffi/native_memory.ts";
import type { WeightFile } from "../formats/weights.ts";
import { StagingRing } from "../io/stream.ts";
import {
  openForStream,
  ringMemoryShortfall,
  stagingChunk,
  streamFileToTarget,
} from "../io/stream_load.ts";
import type { DeviceBuffer } from "../core/target.ts";
import { type StrategyDefinition } from "./strategy.ts";
import type { LoadContext, LoadResult, Placement } from "../core/load.ts";

/** Concurrent shard readers. @default the number of CPU cores, at most 16 */
export const SHARDED_READERS = Math.max(1, Math.min(16, navigator.hardwareConcurrency || 1));
/** Bytes per read. @default 16 MiB */
export const SHARDED_CHUNK = 16 << 20;
/** Reads in flight per reader. @default 2 */
export const SHARDED_DEPTH = 2;

const options = z.strictObject({
  readers: z.number().int().min(1).max(256).default(SHARDED_READERS),
  chunkSize: z.number().int().min(4096).max(1 << 30).default(SHARDED_CHUNK),
  depth: z.number().int().min(1).max(16).default(SHARDED_DEPTH),
});

/** The `sharded` strategy. */
export const sharded: StrategyDefinition<z.infer<typeof options>> = {
  name: "sharded",
  summary: "shards read in parallel by K readers, each streaming its shard to the target",
  options,
  create: ({ readers, chunkSize, depth }) => ({
    name: "sharded",
    unsupported: (weights, target) =>
      ringMemoryShortfall(
        weights,
        target,
        Math.max(1, Math.min(readers, weights.files.length)) * depth,
        chunkSize,
      ),
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, recorder } = context;
      const queue = [...weights.files].sort((a, b) => b.size - a.size);
      const lanes = Math.max(1, Math.min(readers, queue.length));
      const placed = new Map<WeightFile, { buffer: DeviceBuffer; placements: Placement[] }>();
      const perReader: number[] = Array.from({ length: lanes }, () => 0);
      let bytesRead = 0;
      let failure: { error: unknown } | undefined;
      const size = stagingChunk(weights, chunkSize);
      const rings: StagingRing[] = [];
      recorder.time("alloc", () => {
        try {
          for (let lane = 0; lane < lanes; lane++) {
            rings.push(StagingRing.allocate(depth, size, (bytes) => NativeMemory.allocate(bytes)));
          }
        } catch (error) {
          for (const ring of rings) ring.close();
          throw error;
        }
      }, `${lanes} readers × ${depth} × ${size} B staging`);
      const reader = async (lane: number) => {
        while (failure === undefined && queue.length > 0) {
          const weightFile = queue.shift()!;
          try {
            using opened = openForStream(weightFile, recorder);
            const { buffer, placements, bytesRead: bytes } = await streamFileToTarget(
              context,
              opened,
              rings[lane]!,
              { chunkSize: size, depth },
            );
            placed.set(weightFile, { buffer, placements });
            perReader[lane] = perReader[lane]! + bytes;
            bytesRead += bytes;
            opened.close();
          } catch (error) {
            failure ??= { error };
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: lanes }, (_, lane) => reader(lane)));
      } finally {
        recorder.time("free", () => {
          for (const ring of rings) ring.close();
        });
      }
      if (failure !== undefined) throw failure.error;
      const files = weights.files.map((f) => placed.get(f)!);
      return {
        placements: files.flatMap((f) => f.placements),
        buffers: files.map((f) => f.buffer),
        bytesRead,
        details: {
          readers,
          effectiveReaders: lanes,
          readerBytes: perReader.join(","),
        },
      };
    },
  }),
};
