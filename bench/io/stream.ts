/**
 * The streaming engine every streaming strategy runs on: a file's byte
 * ranges, planned once, are read with `depth` reads in flight (pread on pool
 * threads, each chunk optionally split across `readers` preads) into
 * staging, and each filled chunk is handed to a sink — a copy to the target,
 * a dequantization, a hash — whose buffer is read into again only once the
 * sink is done with it.
 *
 * Staging is either a {@link StagingRing} of a few buffers reused chunk after
 * chunk (memory bounded whatever the file's size: pageable, pinned or
 * registered, as the strategy allocates them), or a {@link StagingImage}, one
 * buffer holding the whole range at its file offsets (a full read).
 *
 * With `direct` the file is open with O_DIRECT: every read is widened to
 * {@link DIRECT_ALIGNMENT}, and the sink still sees only the bytes it asked for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planRanges, StagingRing, streamRanges } from "./stream.ts";
 * import { NativeFile } from "../ffi/native_file.ts";
 * import { NativeMemory } from "../ffi/native_memory.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(10_000).map((_, i) => i % 251));
 * using file = NativeFile.open(path);
 * using ring = StagingRing.allocate(2, 4096, (bytes) => NativeMemory.allocate(bytes));
 * let sum = 0;
 * const bytes = await streamRanges({
 *   file,
 *   ranges: planRanges(100, 9_000, 4096),
 *   depth: 2,
 *   staging: ring,
 *   sink: ({ view }) => {
 *     for (const b of view()) sum += b;
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
import type { Recorder } from "../core/recorder.ts";
import type { HostStaging } from "../core/target.ts";
import { alignDown, alignUp, DIRECT_ALIGNMENT } from "./align.ts";

export { DIRECT_ALIGNMENT } from "./align.ts";

/**
 * How a streaming load reads: the one options type every streaming strategy
 * resolves its own options into.
 */
export interface StreamOptions {
  /** Bytes per chunk (a multiple of {@link DIRECT_ALIGNMENT} when `direct`). */
  readonly chunkSize: number;
  /** Chunks being read at once. */
  readonly depth: number;
  /**
   * Staging buffers in a ring; more than `depth` lets sinks that finish later
   * (queued copies) run while the next chunks are read. @default depth
   */
  readonly buffers?: number;
  /** Preads each chunk is split into, run in parallel. @default 1 */
  readonly readers?: number;
  /** Read with O_DIRECT: the file is opened so, and every read aligned. @default false */
  readonly direct?: boolean;
}

/** A byte range of a file that reaches the sink as one chunk. */
export interface StreamRange {
  /** File offset of its first byte. */
  readonly offset: number;
  readonly length: number;
}

/** A chunk of a file in staging, handed to a {@link ChunkSink}. */
export interface Chunk<R extends StreamRange = StreamRange> {
  /** The range it was read for. */
  readonly range: R;
  /** The staging buffer holding it. */
  readonly staging: HostStaging;
  /** Where the range's first byte is in `staging`. */
  readonly stagingOffset: number;
  /** The address of the range's first byte. */
  pointer(): Deno.PointerObject;
  /** A view of the range's bytes; valid only until the sink is done. */
  view(): Uint8Array;
}

/**
 * Does something with each chunk. The chunk's buffer is reused once the call
 * returns, or once the promise it returns settles (a queued copy).
 */
export type ChunkSink<R extends StreamRange = StreamRange> = (
  chunk: Chunk<R>,
) => void | Promise<void>;

/** Where a read lands: a buffer and an offset in it. */
export interface StagingSlot {
  readonly memory: HostStaging;
  readonly offset: number;
}

/** The memory chunks are read into. */
export interface Staging {
  /** Memory for `length` bytes read at file offset `start`; waits until some is free. */
  acquire(start: number, length: number): StagingSlot | Promise<StagingSlot>;
  /** The slot's chunk is done with: its memory may be read into again. */
  release(slot: StagingSlot): void;
}

/**
 * Splits `[begin, end)` into ranges of at most `chunkSize` bytes. With
 * `direct`, range boundaries fall on multiples of `chunkSize` from the
 * aligned start, so every widened read is at most `chunkSize` bytes.
 */
export function planRanges(
  begin: number,
  end: number,
  chunkSize: number,
  direct = false,
): StreamRange[] {
  checkChunkSize(chunkSize, direct);
  const ranges: StreamRange[] = [];
  const origin = direct ? alignDown(begin) : begin;
  for (let at = origin; at < end; at += chunkSize) {
    const offset = Math.max(at, begin);
    const stop = Math.min(at + chunkSize, end);
    if (stop > offset) ranges.push({ offset, length: stop - offset });
  }
  return ranges;
}

/** Throws a RangeError for a chunk size the engine cannot use. */
export function checkChunkSize(chunkSize: number, direct = false): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`Chunk size ${chunkSize} is not a positive integer`);
  }
  if (direct && chunkSize % DIRECT_ALIGNMENT !== 0) {
    throw new RangeError(
      `Chunk size ${chunkSize} is not a multiple of ${DIRECT_ALIGNMENT} for O_DIRECT`,
    );
  }
}

/**
 * A fixed set of equal buffers, each holding one chunk at a time: staging
 * memory is `buffers × size` whatever the file's size. `close()` closes every
 * buffer and is safe to call twice.
 */
export class StagingRing implements Staging, Disposable {
  readonly buffers: readonly HostStaging[];
  /** Bytes each buffer holds. */
  readonly size: number;
  readonly #free: HostStaging[];
  readonly #waiting: ((memory: HostStaging) => void)[] = [];

  constructor(buffers: readonly HostStaging[]) {
    if (buffers.length === 0) throw new RangeError("A staging ring needs at least one buffer");
    this.buffers = buffers;
    this.size = Math.min(...buffers.map((b) => b.size));
    this.#free = [...buffers];
  }

  /** `count` buffers of `size` bytes from `make`; those made are closed if one fails. */
  static allocate(
    count: number,
    size: number,
    make: (bytes: number) => HostStaging,
  ): StagingRing {
    const made: HostStaging[] = [];
    try {
      for (let i = 0; i < Math.max(1, count); i++) made.push(make(size));
    } catch (error) {
      for (const memory of made) memory.close();
      throw error;
    }
    return new StagingRing(made);
  }

  acquire(_start: number, length: number): StagingSlot | Promise<StagingSlot> {
    if (length > this.size) {
      throw new RangeError(`A ${length}-byte read does not fit ${this.size}-byte staging buffers`);
    }
    const memory = this.#free.pop();
    if (memory !== undefined) return { memory, offset: 0 };
    return new Promise((resolve) => this.#waiting.push((m) => resolve({ memory: m, offset: 0 })));
  }

  release(slot: StagingSlot): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) waiter(slot.memory);
    else this.#free.push(slot.memory);
  }

  /** True once any buffer is closed: the ring cannot be used again. */
  get closed(): boolean {
    return this.buffers.some((b) => b.closed);
  }

  close(): void {
    for (const memory of this.buffers) memory.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * One buffer holding a file range at its offsets: file byte `base + i` lands
 * at byte `i`. Every chunk has its own place, so none waits for another.
 */
export class StagingImage implements Staging {
  readonly memory: HostStaging;
  /** The file offset of the buffer's first byte. */
  readonly base: number;

  constructor(memory: HostStaging, base: number) {
    this.memory = memory;
    this.base = base;
  }

  acquire(start: number, length: number): StagingSlot {
    const offset = start - this.base;
    if (offset < 0 || offset + length > this.memory.size) {
      throw new RangeError(
        `File range ${start}+${length} is outside a ${this.memory.size}-byte image of the file from ${this.base}`,
      );
    }
    return { memory: this.memory, offset };
  }

  release(): void {}
}

/** One streaming pass over a file. */
export interface StreamRun<R extends StreamRange> {
  readonly file: NativeFile;
  /** The ranges to read, each within the file and at most one staging buffer. */
  readonly ranges: readonly R[];
  /** Chunks read at once. */
  readonly depth: number;
  /** Preads each chunk is split into. @default 1 */
  readonly readers?: number;
  /** The file is open with O_DIRECT: widen every read to the alignment. @default false */
  readonly direct?: boolean;
  /**
   * Give each of the `depth` readers a contiguous part of the ranges to read
   * in order, rather than dealing them out in turn: each reader is then one
   * sequential stream, which the kernel's read-ahead follows (cold buffered
   * reads of a 1 GiB file were faster so on a 2-core machine, as fio's jobs
   * over disjoint parts are). @default false
   */
  readonly partition?: boolean;
  readonly staging: Staging;
  readonly sink?: ChunkSink<R>;
  /** Records a `read` span per chunk, named after the file (spans overlap with `depth` > 1). */
  readonly recorder?: Recorder | undefined;
  /** Stops the pass between chunks: no new read starts, and the signal's reason is thrown. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Reads every range of `run.ranges` and hands each to the sink; returns the
 * bytes of the ranges. After the first failure (a short read, a failed read,
 * a sink that throws, an abort of `run.signal`) no new read starts, and it is
 * thrown once every read and sink in flight has settled, so no staging is
 * freed while still in use.
 */
export async function streamRanges<R extends StreamRange>(run: StreamRun<R>): Promise<number> {
  const { file, ranges, staging, sink, recorder, signal, direct = false } = run;
  const readers = Math.max(1, run.readers ?? 1);
  const lanes = Math.max(1, Math.min(run.depth, ranges.length));
  // Each lane's next range and where its part ends: one part for all, or one part per lane.
  const parts = Array.from({ length: lanes }, (_, k) =>
    run.partition
      ? {
        next: Math.floor((k * ranges.length) / lanes),
        end: Math.floor(((k + 1) * ranges.length) / lanes),
      }
      : undefined);
  let next = 0;
  const take = (lane: number): R | undefined => {
    const part = parts[lane];
    if (part === undefined) return next < ranges.length ? ranges[next++] : undefined;
    return part.next < part.end ? ranges[part.next++] : undefined;
  };
  let total = 0;
  let failure: { error: unknown } | undefined;
  const sinking = new Set<Promise<void>>();
  const fail = (error: unknown) => {
    failure ??= { error };
  };

  const lane = async (index: number) => {
    while (failure === undefined) {
      if (signal?.aborted) {
        fail(signal.reason ?? new Error("Aborted"));
        break;
      }
      const range = take(index);
      if (range === undefined) break;
      const wantEnd = range.offset + range.length;
      const start = direct ? alignDown(range.offset) : range.offset;
      const stop = direct ? alignUp(wantEnd) : wantEnd;
      let slot: StagingSlot | undefined;
      try {
        slot = await staging.acquire(start, stop - start);
        const done = recorder?.start("read", file.path);
        const got = await readPieces(file, slot, start, stop - start, readers, direct);
        done?.();
        if (start + got < wantEnd) {
          throw new Error(
            `Cannot read "${file.path}": file ended at ${start + got}, before ${wantEnd}`,
          );
        }
        total += range.length;
        const held = slot;
        slot = undefined;
        const skip = range.offset - start;
        const result = sink?.({
          range,
          staging: held.memory,
          stagingOffset: held.offset + skip,
          pointer: () => held.memory.pointer(held.offset + skip),
          view: () => held.memory.view(held.offset + skip, range.length),
        });
        if (!(result instanceof Promise)) {
          staging.release(held);
        } else {
          const settled: Promise<void> = result.then(
            () => staging.release(held),
            (error) => {
              staging.release(held);
              fail(error);
            },
          ).finally(() => sinking.delete(settled));
          sinking.add(settled);
        }
      } catch (error) {
        if (slot !== undefined) staging.release(slot);
        fail(error);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, index) => lane(index)));
  while (sinking.size > 0) await Promise.all([...sinking]);
  if (failure !== undefined) throw failure.error;
  return total;
}

/**
 * Reads up to `length` bytes at file offset `start` into `slot`, with
 * `readers` preads in parallel (pieces aligned for O_DIRECT); returns the
 * bytes read contiguously from `start`, short only at the end of the file.
 * Every pread settles before it returns: none may still write into a buffer
 * handed on.
 */
async function readPieces(
  file: NativeFile,
  slot: StagingSlot,
  start: number,
  length: number,
  readers: number,
  direct: boolean,
): Promise<number> {
  const destination = (offset: number) => slot.memory.pointer(slot.offset + offset);
  if (readers === 1 || length <= DIRECT_ALIGNMENT) {
    return await file.readAtMostAsync(destination(0), length, start);
  }
  const piece = alignUp(Math.ceil(length / readers), direct ? DIRECT_ALIGNMENT : 1);
  const pieces: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < length; offset += piece) {
    pieces.push({ offset, length: Math.min(piece, length - offset) });
  }
  const results = await Promise.allSettled(
    pieces.map((p) => file.readAtMostAsync(destination(p.offset), p.length, start + p.offset)),
  );
  let contiguous = 0;
  for (const [i, p] of pieces.entries()) {
    const result = results[i]!;
    if (result.status === "rejected") throw result.reason;
    contiguous += result.value;
    if (result.value < p.length) break;
  }
  return contiguous;
}
