/**
 * Streams a byte range of a file through a ring of staging buffers: `depth`
 * reads in flight (pread on pool threads), each into its own `chunkSize`
 * buffer, and each chunk handed to `onChunk` (a copy to the target) before
 * its buffer is read into again. Staging memory is `depth × chunkSize`,
 * whatever the file size.
 *
 * With `direct`, the file must be open with `O_DIRECT`: buffers, offsets and
 * lengths are aligned to {@link DIRECT_ALIGNMENT} and the page cache is
 * bypassed, so what is measured is the storage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readChunked } from "./chunked_read.ts";
 * import { NativeFile } from "../ffi/native_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(10_000).map((_, i) => i % 251));
 * using file = NativeFile.open(path);
 * let sum = 0;
 * const bytes = await readChunked(file, 100, 9_000, {
 *   chunkSize: 4096,
 *   depth: 2,
 *   onChunk: ({ view }) => { for (const b of view) sum += b; },
 * });
 * assert.equal(bytes, 8_900);
 * let expected = 0;
 * for (let i = 100; i < 9_000; i++) expected += i % 251;
 * assert.equal(sum, expected);
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import type { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { offsetPointer } from "../ffi/libc.ts";
import type { Recorder } from "../core/recorder.ts";

/** Alignment of O_DIRECT buffers, offsets and lengths: the largest logical block size in use. */
export const DIRECT_ALIGNMENT = 4096;

/** A chunk of the requested range, in a staging buffer. */
export interface Chunk {
  /** Where the chunk's first byte of the range is, in native memory. */
  readonly pointer: Deno.PointerObject;
  /** Its offset in the file. */
  readonly fileOffset: number;
  readonly length: number;
  /** A view of the bytes; valid only during the call. */
  readonly view: Uint8Array;
}

/** How to stream. */
export interface ChunkedReadOptions {
  /** Bytes per read; a multiple of {@link DIRECT_ALIGNMENT} when `direct`. */
  readonly chunkSize: number;
  /** Reads in flight, each with its own buffer. */
  readonly depth: number;
  /** The file is open with O_DIRECT: align everything. @default false */
  readonly direct?: boolean;
  /** Handles each chunk before its buffer is reused. */
  readonly onChunk?: (chunk: Chunk) => void | Promise<void>;
  /** Records a `read` span per chunk (spans overlap when `depth` > 1). */
  readonly recorder?: Recorder;
  /** Staging buffers to use instead of allocating (at least `depth` of `chunkSize` bytes). */
  readonly buffers?: readonly NativeMemory[];
}

/**
 * Reads `[begin, end)` of `file` and returns the bytes of the range read.
 * Rejects with the first failure after every read in flight has settled.
 */
export async function readChunked(
  file: NativeFile,
  begin: number,
  end: number,
  options: ChunkedReadOptions,
): Promise<number> {
  const { chunkSize, depth, direct = false, onChunk, recorder } = options;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`Chunk size ${chunkSize} is not a positive integer`);
  }
  if (direct && chunkSize % DIRECT_ALIGNMENT !== 0) {
    throw new RangeError(
      `Chunk size ${chunkSize} is not a multiple of ${DIRECT_ALIGNMENT} for O_DIRECT`,
    );
  }
  if (end <= begin) return 0;
  const start = direct ? Math.floor(begin / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT : begin;
  const stop = direct ? Math.ceil(end / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT : end;
  const lanes = Math.max(1, Math.min(depth, Math.ceil((stop - start) / chunkSize)));
  const owned = options.buffers
    ? []
    : Array.from({ length: lanes }, () => NativeMemory.allocate(chunkSize));
  const buffers = options.buffers ?? owned;
  let next = start;
  let total = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (buffer: NativeMemory) => {
    while (failure === undefined && next < stop) {
      const at = next;
      const want = Math.min(chunkSize, stop - at);
      next += want;
      try {
        const done = recorder?.start("read", file.path);
        const got = await file.readAtMostAsync(buffer.pointer(), want, at);
        done?.();
        const from = Math.max(at, begin);
        const to = Math.min(at + got, end);
        if (to < Math.min(at + want, end)) {
          throw new Error(`Cannot read "${file.path}": file ended at ${at + got}, before ${end}`);
        }
        if (to > from) {
          total += to - from;
          await onChunk?.({
            pointer: offsetPointer(buffer.pointer(), from - at),
            fileOffset: from,
            length: to - from,
            view: buffer.view(from - at, to - from),
          });
        }
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  try {
    await Promise.all(buffers.slice(0, lanes).map(lane));
  } finally {
    for (const buffer of owned) buffer.close();
  }
  if (failure !== undefined) throw failure.error;
  return total;
}
