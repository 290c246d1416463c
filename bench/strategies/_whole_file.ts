/**
 * The load shared by the strategies that read each whole file into one host
 * buffer, parse its header from memory, then copy the tensors to the target
 * (`full-read` into pageable memory, `pinned` into page-locked memory). They
 * differ only in where the buffer comes from; this module owns the options,
 * the reading (split across `readers` preads on pool threads) and the reuse
 * of one buffer across loads with `staging: "reused"`.
 *
 * @module
 */

import { z } from "zod";
import { NativeFile } from "../ffi/native_file.ts";
import { bytesSource } from "../formats/format.ts";
import type { DeviceBuffer, Target } from "../core/target.ts";
import { forEachChunk } from "../util/parallel.ts";
import { placeFile, type Strategy, transferOption } from "./strategy.ts";
import { type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

/** Smallest piece of a file one pread asks for, unless `chunkSize` says otherwise. @default 16 MiB */
export const WHOLE_FILE_MIN_CHUNK = 16 << 20;
/** Largest piece of a file one pread asks for, unless `chunkSize` says otherwise. @default 256 MiB */
export const WHOLE_FILE_MAX_CHUNK = 256 << 20;
/** Reads in flight. @default the number of CPU cores, at most 8 */
export const WHOLE_FILE_READERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

/** The options every whole-file strategy takes. */
export const wholeFileOptions = z.strictObject({
  /** Bytes per pread; 0 splits each file evenly across the readers, within 16–256 MiB pieces. */
  chunkSize: z.number().int().min(0).max(1 << 30).refine((n) => n === 0 || n >= 4096, {
    message: "chunkSize must be 0 (automatic) or at least 4096",
  }).default(0),
  readers: z.number().int().min(1).max(64).default(WHOLE_FILE_READERS),
  staging: z.enum(["fresh", "reused"]).default("fresh"),
  transfer: transferOption,
});

/** Resolved options of a whole-file strategy. */
export type WholeFileOptions = z.infer<typeof wholeFileOptions>;

/** Host memory a file is read into. */
export interface FileBuffer {
  readonly size: number;
  pointer(offset?: number): Deno.PointerObject;
  view(offset: number, length: number): Uint8Array;
  close(): void;
}

/**
 * A strategy `name` reading each whole file into a buffer from `allocate`
 * (called inside the `alloc` span; `retained` is true for the one buffer
 * `staging: "reused"` keeps across loads).
 */
export function wholeFileStrategy(
  name: string,
  { chunkSize, readers, staging, transfer }: WholeFileOptions,
  allocate: (target: Target, bytes: number, retained: boolean) => FileBuffer | Promise<FileBuffer>,
): Strategy {
  let pool: { buffer: FileBuffer; target: Target } | undefined;
  const obtain = async (target: Target, size: number): Promise<FileBuffer> => {
    if (staging === "fresh") return await allocate(target, size, false);
    if (pool && pool.target === target && pool.buffer.size >= size) return pool.buffer;
    pool?.buffer.close();
    pool = undefined;
    const buffer = await allocate(target, size, true);
    pool = { buffer, target };
    return buffer;
  };
  return {
    name,
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, recorder, target } = context;
      const placements: Placement[] = [];
      const buffers: DeviceBuffer[] = [];
      let bytesRead = 0;
      for (const { path, format } of weights.files) {
        using file = recorder.time("open", () => NativeFile.open(path), path);
        const memory = await recorder.timeAsync(
          "alloc",
          () => obtain(target, Math.max(file.size, 1)),
          path,
        );
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
            if (memory !== pool?.buffer) memory.close();
            file.close();
          }, path);
        }
      }
      return { placements, buffers, bytesRead };
    },
    close() {
      pool?.buffer.close();
      pool = undefined;
    },
  };
}

/** Each reader's share of `size`, kept within 16–256 MiB. */
function autoChunk(size: number, readers: number): number {
  return Math.min(WHOLE_FILE_MAX_CHUNK, Math.max(WHOLE_FILE_MIN_CHUNK, Math.ceil(size / readers)));
}
