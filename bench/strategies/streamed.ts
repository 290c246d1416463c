/**
 * `streamed`: read each file's data in chunks into a few pinned staging
 * buffers (double or triple buffering), queueing each chunk's copy to the
 * target as soon as it is read, so reads and host-to-device copies overlap:
 * while one buffer's copy runs on a stream, the next chunk is read into
 * another. Staging memory is `buffers × chunkSize` whatever the model's size.
 *
 * Each chunk is read by `readers` preads in parallel, and `buffers − 1`
 * chunks are read at once, so a buffer is almost always free when a read
 * wants one. With `direct`, files are opened with O_DIRECT (chunks aligned
 * to 4096 bytes), bypassing the page cache: O_DIRECT reads into pinned
 * buffers, then async copies — the shortest path from storage to a GPU
 * without GPUDirect Storage.
 *
 * On a target with pinned memory and queued copies ({@link Target.copyInAsync},
 * a GPU) the copies run on streams; elsewhere (`host`) the same pipeline runs
 * with ordinary buffers and plain copies.
 *
 * @module
 */

import { z } from "zod";
import { NativeFile } from "../ffi/native_file.ts";
import { O_DIRECT } from "../ffi/libc.ts";
import { countedSource } from "../io/counted_source.ts";
import { DIRECT_ALIGNMENT } from "../io/chunked_read.ts";
import { directFileSource, nativeFileSource } from "../io/sources.ts";
import type { Recorder } from "../core/recorder.ts";
import type { DeviceBuffer, HostStaging, Target } from "../core/target.ts";
import { direct } from "./direct.ts";
import { stagingFor } from "./pinned.ts";
import { type StrategyDefinition } from "./strategy.ts";
import { dataSpan, type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

/** Bytes per chunk. @default 64 MiB */
export const STREAMED_CHUNK = 64 << 20;
/** Staging buffers: 2 is double buffering, 3 triple. @default 3 */
export const STREAMED_BUFFERS = 3;
/** Preads per chunk, in parallel. @default the number of CPU cores, at most 8 */
export const STREAMED_READERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

const options = z.strictObject({
  chunkSize: z.number().int().min(4096).max(1 << 30).default(STREAMED_CHUNK),
  buffers: z.number().int().min(2).max(16).default(STREAMED_BUFFERS),
  readers: z.number().int().min(1).max(64).default(STREAMED_READERS),
  direct: z.boolean().default(false),
  staging: z.enum(["fresh", "reused"]).default("fresh"),
}).refine((o) => !o.direct || o.chunkSize % DIRECT_ALIGNMENT === 0, {
  message: `chunkSize must be a multiple of ${DIRECT_ALIGNMENT} with direct`,
  path: ["chunkSize"],
});

/** The resolved options of `streamed`. */
export type StreamedOptions = z.infer<typeof options>;

/** The `streamed` strategy. */
export const streamed: StrategyDefinition<StreamedOptions> = {
  name: "streamed",
  summary:
    "chunked reads into 2-3 pinned buffers overlapping async copies to the target (O_DIRECT with direct)",
  options,
  create: (resolved) => {
    const { chunkSize, buffers: count, direct: useDirect, staging } = resolved;
    let pool: { target: Target; size: number; buffers: HostStaging[] } | undefined;
    const release = () => {
      for (const buffer of pool?.buffers ?? []) buffer.close();
      pool = undefined;
    };
    const obtain = (target: Target, size: number): HostStaging[] => {
      if (
        staging === "reused" && pool && pool.target === target && pool.size >= size &&
        pool.buffers.every((b) => !b.closed)
      ) {
        return pool.buffers;
      }
      release();
      const made: HostStaging[] = [];
      try {
        for (let i = 0; i < count; i++) made.push(stagingFor(target, size, staging === "reused"));
      } catch (error) {
        for (const buffer of made) buffer.close();
        throw error;
      }
      if (staging === "reused") pool = { target, size, buffers: made };
      return made;
    };
    return {
      name: "streamed",
      unsupported(weights, target) {
        return useDirect
          ? direct.create(direct.options.parse({})).unsupported?.(weights, target)
          : undefined;
      },
      async load(context: LoadContext): Promise<LoadResult> {
        const { weights, target, recorder } = context;
        const placements: Placement[] = [];
        const buffers: DeviceBuffer[] = [];
        let bytesRead = 0;
        // No chunk is larger than the largest file's aligned data span.
        let largest = DIRECT_ALIGNMENT;
        for (const file of weights.files) {
          const { begin, end } = dataSpan(file.index.tensors);
          largest = Math.max(largest, alignUp(end, DIRECT_ALIGNMENT) - alignDown(begin));
        }
        const size = Math.min(chunkSize, largest);
        const stagings = recorder.time(
          "alloc",
          () => obtain(target, size),
          `${count} × ${size} B staging`,
        );
        try {
          for (const { path, format } of weights.files) {
            using file = recorder.time(
              "open",
              () => NativeFile.open(path, useDirect ? O_DIRECT : 0),
              path,
            );
            const source = countedSource(
              useDirect ? directFileSource(file) : nativeFileSource(file),
            );
            const index = recorder.time("parse", () => format.parse(source), path);
            bytesRead += source.bytesRead;
            const { begin, end } = dataSpan(index.tensors);
            const buffer = recorder.time(
              "alloc",
              () => target.allocate(Math.max(end - begin, 1)),
              path,
            );
            buffers.push(buffer);
            bytesRead += await streamSpan({
              file,
              begin,
              end,
              stagings,
              chunkSize: size,
              readers: resolved.readers,
              direct: useDirect,
              target,
              buffer,
              recorder,
            });
            for (const tensor of index.tensors) {
              placements.push({ file: path, tensor, buffer, offset: tensor.offset - begin });
            }
            recorder.time("free", () => file.close(), path);
          }
        } finally {
          if (staging === "fresh") recorder.time("free", () => stagings.forEach((s) => s.close()));
        }
        return { placements, buffers, bytesRead };
      },
      close: release,
    };
  },
};

/** What {@link streamSpan} needs. */
export interface StreamSpanOptions {
  readonly file: NativeFile;
  /** The file range to place: `[begin, end)` lands at offset 0 of `buffer`. */
  readonly begin: number;
  readonly end: number;
  /** At least two staging buffers of at least `chunkSize` bytes. */
  readonly stagings: readonly HostStaging[];
  readonly chunkSize: number;
  /** Preads per chunk. */
  readonly readers: number;
  /** The file is open with O_DIRECT: align reads (`chunkSize` must be a multiple of 4096). */
  readonly direct: boolean;
  readonly target: Target;
  readonly buffer: DeviceBuffer;
  readonly recorder: Recorder;
}

/**
 * Streams `[begin, end)` of a file through the staging buffers to the target:
 * `stagings.length − 1` chunks are read at once (each by `readers` preads),
 * and each chunk's copy is queued as soon as it is read, its buffer reused
 * only once the copy has landed. Returns the bytes of the range read; rejects
 * with the first failure once no copy is in flight.
 */
export async function streamSpan(options: StreamSpanOptions): Promise<number> {
  const { file, begin, end, stagings, chunkSize, readers, target, buffer, recorder } = options;
  if (end <= begin) return 0;
  if (stagings.length < 2) throw new RangeError("Streaming needs at least two staging buffers");
  const start = options.direct ? alignDown(begin) : begin;
  const stop = options.direct ? alignUp(end, DIRECT_ALIGNMENT) : end;
  const slots = stagings.map((staging) => ({ staging, pending: Promise.resolve() }));
  const free = [...slots];
  let next = start;
  let total = 0;
  let failure: { error: unknown } | undefined;

  const lane = async () => {
    while (failure === undefined && next < stop) {
      const at = next;
      const want = Math.min(chunkSize, stop - at);
      next += want;
      const slot = free.shift()!; // lanes < buffers: there is always one
      try {
        await slot.pending; // the buffer's last copy has landed (or failed)
        const done = recorder.start("read", file.path);
        const got = await readPieces(file, slot.staging, at, want, readers, options.direct);
        done();
        const from = Math.max(at, begin);
        const to = Math.min(at + got, end);
        if (to < Math.min(at + want, end)) {
          throw new Error(`Cannot read "${file.path}": file ended at ${at + got}, before ${end}`);
        }
        if (to > from) {
          total += to - from;
          const copied = recorder.start(target.transferPhase, file.path);
          const copy = target.copyInAsync
            ? target.copyInAsync(buffer, from - begin, slot.staging, from - at, to - from)
            : target.copyIn(buffer, from - begin, slot.staging.pointer(from - at), to - from);
          slot.pending = copy.finally(copied);
          slot.pending.catch(() => {}); // observed when the slot is next taken, or at the end
        }
      } catch (error) {
        failure ??= { error };
      } finally {
        free.push(slot);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, stagings.length - 1) }, lane));
  const settled = await Promise.allSettled(slots.map((slot) => slot.pending));
  if (failure !== undefined) throw failure.error;
  for (const result of settled) if (result.status === "rejected") throw result.reason;
  await target.synchronize();
  return total;
}

/**
 * Reads up to `want` bytes at `at` into `staging` with `readers` preads in
 * parallel (pieces aligned for O_DIRECT); returns the bytes read contiguously
 * from `at`, short only at the end of the file.
 */
async function readPieces(
  file: NativeFile,
  staging: HostStaging,
  at: number,
  want: number,
  readers: number,
  aligned: boolean,
): Promise<number> {
  const unit = aligned ? DIRECT_ALIGNMENT : 1;
  const piece = Math.max(unit, Math.ceil(want / readers / unit) * unit);
  const pieces: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < want; offset += piece) {
    pieces.push({ offset, length: Math.min(piece, want - offset) });
  }
  // Every pread settles before this returns: none may still write into a buffer handed on.
  const results = await Promise.allSettled(
    pieces.map(({ offset, length }) =>
      file.readAtMostAsync(staging.pointer(offset), length, at + offset)
    ),
  );
  let contiguous = 0;
  for (const [i, { length }] of pieces.entries()) {
    const result = results[i]!;
    if (result.status === "rejected") throw result.reason;
    contiguous += result.value;
    if (result.value < length) break;
  }
  return contiguous;
}

function alignDown(value: number): number {
  return Math.floor(value / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
