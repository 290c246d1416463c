/**
 * A streaming load of weights onto a target, on the engine
 * (`stream.ts`): the prologue every streaming strategy shares (open a file,
 * parse its header with positioned reads, find its data span), the sink that
 * copies chunks to the target, the staging rings (fresh per load or kept
 * across loads), and the whole load of a ring strategy file by file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { freshRings, streamToTarget } from "./stream_load.ts";
 * import { NativeMemory } from "../ffi/native_memory.ts";
 * import { openWeights } from "../formats/weights.ts";
 * import { Recorder } from "../core/recorder.ts";
 * import { HostTarget } from "../targets/host.ts";
 *
 * const weights = await openWeights("fixtures/testdata/tiny.safetensors");
 * using target = new HostTarget();
 * target.reserve(1 << 20);
 * const result = await streamToTarget(
 *   { weights, target, recorder: new Recorder() },
 *   { chunkSize: 4096, depth: 2 },
 *   freshRings(2, (bytes) => NativeMemory.allocate(bytes)),
 * );
 * assert.equal(result.bytesRead, weights.fileBytes);
 * assert.equal(result.placements.length, weights.tensorCount);
 * ```
 *
 * @module
 */

import { O_DIRECT } from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import type { WeightFileIndex } from "../formats/format.ts";
import type { WeightFile, WeightSet } from "../formats/weights.ts";
import type { Recorder } from "../core/recorder.ts";
import type { DeviceBuffer, HostStaging, Target } from "../core/target.ts";
import {
  dataSpan,
  type LoadContext,
  type LoadResult,
  type Placement,
  targetFootprint,
} from "../core/load.ts";
import { alignDown, alignUp, DIRECT_ALIGNMENT } from "./align.ts";
import { countedSource } from "./counted_source.ts";
import { hostMemoryShortfall, loadNeeds } from "./host_memory.ts";
import { directFileSource, nativeFileSource } from "./sources.ts";
import {
  type ChunkSink,
  planRanges,
  StagingRing,
  type StreamOptions,
  streamRanges,
} from "./stream.ts";

/** A weight file opened and planned for streaming: the prologue's result. */
export interface OpenedFile extends Disposable {
  readonly path: string;
  readonly file: NativeFile;
  readonly index: WeightFileIndex;
  /** The data span: every tensor lies in `[begin, end)`. */
  readonly begin: number;
  readonly end: number;
  /** Bytes read to parse the header. */
  readonly headerBytes: number;
  /** Closes the file (timed as `free`); safe to call twice. */
  close(): void;
}

/**
 * Opens `weightFile` (timed as `open`; with O_DIRECT when `direct`) and
 * parses its header with positioned reads (timed as `parse`), counting the
 * bytes parsing read.
 */
export function openForStream(
  { path, format }: WeightFile,
  recorder: Recorder,
  direct = false,
): OpenedFile {
  const file = recorder.time("open", () => NativeFile.open(path, direct ? O_DIRECT : 0), path);
  try {
    const source = countedSource(direct ? directFileSource(file) : nativeFileSource(file));
    const index = recorder.time("parse", () => format.parse(source), path);
    const { begin, end } = dataSpan(index.tensors);
    const close = () => {
      if (file.closed) return;
      recorder.time("free", () => file.close(), path);
    };
    return {
      path,
      file,
      index,
      begin,
      end,
      headerBytes: source.bytesRead,
      close,
      [Symbol.dispose]: close,
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

/**
 * A sink that copies each chunk to `buffer`, file byte `base` landing at the
 * buffer's offset 0, timed as the target's transfer phase. Where the target
 * queues copies ({@link Target.copyInAsync}) the chunk's staging is reused
 * only once its copy has landed.
 */
export function copyToTarget(
  target: Target,
  buffer: DeviceBuffer,
  base: number,
  recorder: Recorder,
  path: string,
): ChunkSink {
  return (chunk) => {
    const done = recorder.start(target.transferPhase, path);
    const at = chunk.range.offset - base;
    const copy = target.copyInAsync
      ? target.copyInAsync(buffer, at, chunk.staging, chunk.stagingOffset, chunk.range.length)
      : target.copyIn(buffer, at, chunk.pointer(), chunk.range.length);
    return copy.finally(done);
  };
}

/** Where a load's staging ring comes from, and where it goes after the load. */
export interface RingSource {
  /** Buffers in the ring. */
  readonly count: number;
  /** A ring of `count` buffers of at least `size` bytes (timed as `alloc`). */
  obtain(size: number): StagingRing;
  /** The load is done with `ring` (timed as `free`). */
  release(ring: StagingRing): void;
}

/** A new ring of `count` buffers from `make` for every load, closed after it. */
export function freshRings(count: number, make: (bytes: number) => HostStaging): RingSource {
  return {
    count,
    obtain: (size) => StagingRing.allocate(count, size, make),
    release: (ring) => ring.close(),
  };
}

/**
 * One ring kept across loads while it is large enough, as a long-lived
 * server's buffer pool; {@link RetainedRing.close} frees it.
 */
export class RetainedRing implements RingSource {
  readonly count: number;
  readonly #make: (bytes: number) => HostStaging;
  #ring: StagingRing | undefined;

  constructor(count: number, make: (bytes: number) => HostStaging) {
    this.count = count;
    this.#make = make;
  }

  obtain(size: number): StagingRing {
    const kept = this.#ring;
    if (kept !== undefined && kept.size >= size && !kept.closed) return kept;
    this.close();
    this.#ring = StagingRing.allocate(this.count, size, this.#make);
    return this.#ring;
  }

  release(): void {}

  close(): void {
    this.#ring?.close();
    this.#ring = undefined;
  }
}

/**
 * Bytes per staging buffer for streaming `weights`: `chunkSize`, or less
 * when no file's data span (aligned for O_DIRECT) needs that much, so small
 * models do not pay for large buffers.
 */
export function stagingChunk(weights: WeightSet, chunkSize: number, direct = false): number {
  let largest = direct ? DIRECT_ALIGNMENT : 1;
  for (const file of weights.files) {
    const { begin, end } = dataSpan(file.index.tensors);
    largest = Math.max(largest, direct ? alignUp(end) - alignDown(begin) : end - begin);
  }
  return Math.min(chunkSize, largest);
}

/**
 * Why a load of `weights` through `buffers` staging buffers of `chunkSize`
 * bytes cannot hold its memory on this machine (with the loaded bytes, when
 * `target` is host memory), or undefined when it fits.
 */
export function ringMemoryShortfall(
  weights: WeightSet,
  target: Pick<Target, "id">,
  buffers: number,
  chunkSize: number,
  direct = false,
): string | undefined {
  const staging = buffers * stagingChunk(weights, chunkSize, direct);
  return hostMemoryShortfall(loadNeeds(target, staging, targetFootprint(weights)));
}

/**
 * Streams `opened`'s data span through `staging` into a new target buffer
 * that mirrors it (each tensor at its offset from the span's start); returns
 * the buffer, the placements and the bytes read, header included.
 */
export async function streamFileToTarget(
  { target, recorder, signal }: LoadContext,
  opened: OpenedFile,
  staging: StagingRing,
  options: StreamOptions,
): Promise<{ buffer: DeviceBuffer; placements: Placement[]; bytesRead: number }> {
  const { path, begin, end, file, index } = opened;
  const direct = options.direct ?? false;
  const buffer = recorder.time("alloc", () => target.allocate(Math.max(end - begin, 1)), path);
  const placements = index.tensors.map((tensor) => ({
    file: path,
    tensor,
    buffer,
    offset: tensor.offset - begin,
  }));
  const bytes = await streamRanges({
    file,
    ranges: planRanges(begin, end, staging.size, direct),
    depth: options.depth,
    readers: options.readers ?? 1,
    direct,
    // Buffered reads: one sequential stream per reader, for the kernel's read-ahead.
    partition: !direct,
    staging,
    sink: copyToTarget(target, buffer, begin, recorder, path),
    recorder,
    signal,
  });
  await recorder.timeAsync(target.transferPhase, () => target.synchronize(), path);
  return { buffer, placements, bytesRead: opened.headerBytes + bytes };
}

/**
 * The load of a ring strategy: one ring for the whole load, then each file in
 * turn opened, parsed and streamed to its own target buffer.
 */
export async function streamToTarget(
  context: LoadContext,
  options: StreamOptions,
  rings: RingSource,
): Promise<LoadResult> {
  const { weights, recorder } = context;
  const direct = options.direct ?? false;
  const size = stagingChunk(weights, options.chunkSize, direct);
  const ring = recorder.time(
    "alloc",
    () => rings.obtain(size),
    `${rings.count} × ${size} B staging`,
  );
  const placements: Placement[] = [];
  const buffers: DeviceBuffer[] = [];
  let bytesRead = 0;
  try {
    for (const weightFile of weights.files) {
      using opened = openForStream(weightFile, recorder, direct);
      const placed = await streamFileToTarget(context, opened, ring, options);
      buffers.push(placed.buffer);
      placements.push(...placed.placements);
      bytesRead += placed.bytesRead;
      opened.close();
    }
  } finally {
    recorder.time("free", () => rings.release(ring));
  }
  return { placements, buffers, bytesRead };
}
