/**
 * `full-read`: read each whole file into a pageable host buffer, parse its
 * header from memory, then copy the tensors to the target. The simplest
 * loader, and what `torch.load` without mmap does.
 *
 * The read is split into pieces with `readers` in flight (pread on pool
 * threads), the way a fast loader keeps every core busy; by default each file
 * is split evenly across the readers in 16–256 MiB pieces, since every pread
 * through the FFI costs a hop between threads. The staging
 * buffer is as large as the file; peak memory is the target's plus one file.
 *
 * `staging: "fresh"` (the default) maps new memory for every file and faults
 * it in, in parallel, inside the `alloc` span, as a freshly started process
 * must, so the cost of fresh memory shows apart from the read.
 * `staging: "reused"` keeps one buffer across loads, as a long-lived server
 * with a buffer pool would, and so measures the I/O path alone.
 *
 * @module
 */

import { z } from "zod";
import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { bytesSource } from "../formats/format.ts";
import type { DeviceBuffer } from "../targets/target.ts";
import { forEachChunk } from "../util/parallel.ts";
import {
  type LoadContext,
  type LoadResult,
  placeFile,
  type Placement,
  type StrategyDefinition,
  transferOption,
} from "./strategy.ts";

/** Smallest piece of a file one pread asks for, unless `chunkSize` says otherwise. @default 16 MiB */
export const FULL_READ_MIN_CHUNK = 16 << 20;
/** Largest piece of a file one pread asks for, unless `chunkSize` says otherwise. @default 256 MiB */
export const FULL_READ_MAX_CHUNK = 256 << 20;
/** Reads in flight. @default the number of CPU cores, at most 8 */
export const FULL_READ_READERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

const options = z.strictObject({
  /** Bytes per pread; 0 splits each file evenly across the readers, within 16–256 MiB pieces. */
  chunkSize: z.number().int().min(0).max(1 << 30).refine((n) => n === 0 || n >= 4096, {
    message: "chunkSize must be 0 (automatic) or at least 4096",
  }).default(0),
  readers: z.number().int().min(1).max(64).default(FULL_READ_READERS),
  staging: z.enum(["fresh", "reused"]).default("fresh"),
  transfer: transferOption,
});

/** The `full-read` strategy. */
export const fullRead: StrategyDefinition<z.infer<typeof options>> = {
  name: "full-read",
  summary: "read whole files into a pageable host buffer, then copy to the target",
  options,
  create: ({ chunkSize, readers, staging, transfer }) => {
    let pool: NativeMemory | undefined;
    const obtain = async (size: number): Promise<NativeMemory> => {
      if (staging === "reused" && pool && pool.size >= size) return pool;
      const memory = NativeMemory.allocate(size);
      await memory.prefault(readers);
      if (staging === "reused") {
        pool?.close();
        pool = memory;
      }
      return memory;
    };
    return {
      name: "full-read",
      async load(context: LoadContext): Promise<LoadResult> {
        const { weights, recorder } = context;
        const placements: Placement[] = [];
        const buffers: DeviceBuffer[] = [];
        let bytesRead = 0;
        for (const { path, format } of weights.files) {
          using file = recorder.time("open", () => NativeFile.open(path), path);
          const size = Math.max(file.size, 1);
          const memory = await recorder.timeAsync("alloc", () => obtain(size), path);
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
              if (memory !== pool) memory.close();
              file.close();
            }, path);
          }
        }
        return { placements, buffers, bytesRead };
      },
      close() {
        pool?.close();
        pool = undefined;
      },
    };
  },
};

/** Each reader's share of `size`, kept within 16–256 MiB. */
function autoChunk(size: number, readers: number): number {
  return Math.min(FULL_READ_MAX_CHUNK, Math.max(FULL_READ_MIN_CHUNK, Math.ceil(size / readers)));
}
