/**
 * Streams a byte range of a file through a few staging buffers and hands
 * each chunk to a callback: the streaming engine (`stream.ts`) with a ring of
 * plain buffers, for callers that only want the bytes (the storage probe).
 * Staging memory is `depth × chunkSize`, whatever the file size.
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
 *   onChunk: ({ view }) => {
 *     for (const b of view) sum += b;
 *   },
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
import type { Recorder } from "../core/recorder.ts";
import type { HostStaging } from "../core/target.ts";
import { checkChunkSize, planRanges, StagingRing, streamRanges } from "./stream.ts";

export { DIRECT_ALIGNMENT } from "./align.ts";

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
  /** Bytes per read; a multiple of 4096 when `direct`. */
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
  readonly buffers?: readonly HostStaging[];
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
  checkChunkSize(chunkSize, direct);
  const ranges = planRanges(begin, end, chunkSize, direct);
  if (ranges.length === 0) return 0;
  const lanes = Math.max(1, Math.min(depth, ranges.length));
  const ring = new StagingRing(
    options.buffers?.slice(0, lanes) ??
      Array.from({ length: lanes }, () => NativeMemory.allocate(chunkSize)),
  );
  try {
    return await streamRanges({
      file,
      ranges,
      depth: lanes,
      direct,
      staging: ring,
      ...(recorder === undefined ? {} : { recorder }),
      ...(onChunk === undefined ? {} : {
        sink: (chunk) =>
          onChunk({
            pointer: chunk.pointer(),
            fileOffset: chunk.range.offset,
            length: chunk.range.length,
            view: chunk.view(),
          }),
      }),
    });
  } finally {
    if (options.buffers === undefined) ring.close();
  }
}
