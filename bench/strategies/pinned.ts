/**
 * `pinned`: read each whole file into pinned (page-locked) host memory, parse
 * its header from memory, then copy the tensors to the target — at the
 * link's full speed on a GPU, since the copy engine reads pinned memory
 * directly. The read and the copy do not overlap; `streamed` overlaps them.
 *
 * Pinned memory comes from the target ({@link Target.allocatePinned}); on a
 * target without it (or `host`) this is ordinary memory and the strategy is a
 * full read through other buffers. Pinning is slow to allocate, so
 * `staging: "fresh"` (the default: what a one-shot loader pays) pins new
 * memory per file inside the `alloc` span, and `staging: "reused"` keeps one
 * pinned buffer across loads (a server's pool), measuring the I/O path alone.
 *
 * @module
 */

import { z } from "zod";
import { NativeFile } from "../ffi/native_file.ts";
import { bytesSource } from "../formats/format.ts";
import { hostStaging } from "../targets/host.ts";
import type { DeviceBuffer, HostStaging, Target } from "../targets/target.ts";
import { forEachChunk } from "../util/parallel.ts";
import {
  type LoadContext,
  type LoadResult,
  placeFile,
  type Placement,
  type StrategyDefinition,
  transferOption,
} from "./strategy.ts";

/** Reads in flight. @default the number of CPU cores, at most 8 */
export const PINNED_READERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
/** Smallest piece one pread asks for, unless `chunkSize` says otherwise. @default 16 MiB */
const MIN_CHUNK = 16 << 20;
/** Largest piece one pread asks for, unless `chunkSize` says otherwise. @default 256 MiB */
const MAX_CHUNK = 256 << 20;

const options = z.strictObject({
  /** Bytes per pread; 0 splits each file evenly across the readers, within 16–256 MiB pieces. */
  chunkSize: z.number().int().min(0).max(1 << 30).refine((n) => n === 0 || n >= 4096, {
    message: "chunkSize must be 0 (automatic) or at least 4096",
  }).default(0),
  readers: z.number().int().min(1).max(64).default(PINNED_READERS),
  staging: z.enum(["fresh", "reused"]).default("fresh"),
  transfer: transferOption,
});

/** Pinned staging from `target`, or ordinary memory where it has none. */
export function stagingFor(target: Target, bytes: number, retained: boolean): HostStaging {
  return target.allocatePinned?.(bytes, { retained }) ?? hostStaging(bytes);
}

/** The `pinned` strategy. */
export const pinned: StrategyDefinition<z.infer<typeof options>> = {
  name: "pinned",
  summary: "read whole files into pinned host memory, then copy to the target at full link speed",
  options,
  create: ({ chunkSize, readers, staging, transfer }) => {
    let pool: { memory: HostStaging; target: Target } | undefined;
    const obtain = (target: Target, size: number): HostStaging => {
      if (staging === "reused") {
        if (pool && pool.target === target && pool.memory.size >= size && !pool.memory.closed) {
          return pool.memory;
        }
        pool?.memory.close();
        pool = undefined;
        const memory = stagingFor(target, size, true);
        pool = { memory, target };
        return memory;
      }
      return stagingFor(target, size, false);
    };
    return {
      name: "pinned",
      async load(context: LoadContext): Promise<LoadResult> {
        const { weights, recorder, target } = context;
        const placements: Placement[] = [];
        const buffers: DeviceBuffer[] = [];
        let bytesRead = 0;
        for (const { path, format } of weights.files) {
          using file = recorder.time("open", () => NativeFile.open(path), path);
          const size = Math.max(file.size, 1);
          const memory = recorder.time("alloc", () => obtain(target, size), path);
          try {
            await recorder.timeAsync(
              "read",
              () =>
                forEachChunk(
                  file.size,
                  chunkSize || autoChunk(file.size, readers),
                  readers,
                  (offset, length) => file.readIntoAsync(memory.pointer(offset), length, offset),
                ),
              path,
            );
            bytesRead += file.size;
            const index = recorder.time(
              "parse",
              () => format.parse(bytesSource(path, memory.view(0, file.size))),
              path,
            );
            const placed = await placeFile(
              context,
              path,
              index.tensors,
              (o) => memory.pointer(o),
              transfer,
            );
            buffers.push(placed.buffer);
            placements.push(...placed.placements);
          } finally {
            recorder.time("free", () => {
              if (memory !== pool?.memory) memory.close();
              file.close();
            }, path);
          }
        }
        return { placements, buffers, bytesRead };
      },
      close() {
        pool?.memory.close();
        pool = undefined;
      },
    };
  },
};

/** Each reader's share of `size`, kept within 16–256 MiB. */
function autoChunk(size: number, readers: number): number {
  return Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.ceil(size / readers)));
}
