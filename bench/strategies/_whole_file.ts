/**
 * The load shared by the strategies that read each file's data into one host
 * buffer as large as it (`full-read` into pageable memory, `pinned` into
 * page-locked memory), then copy the tensors to the target. They differ only
 * in where the buffer comes from; this module owns the options and the reuse
 * of one buffer across loads with `staging: "reused"`.
 *
 * It runs on the streaming engine (`bench/io/stream.ts`) with a
 * {@link StagingImage} for staging: the header is parsed with positioned
 * reads, then the data span is read in chunks, `readers` at a time, each
 * into its place in the buffer. `transfer` says when the bytes go on to the
 * target: `bulk` (the default) copies the whole span once every chunk is in,
 * `tensor` copies tensor by tensor after that, and `chunk` copies each chunk
 * as soon as it is read, overlapping the next reads. On a 2-core host
 * `chunk` was the slowest (copies and reads fight for the same cores and
 * memory bandwidth: `deno task perf` shows it), so it is an option, not the
 * default.
 *
 * @module
 */

import { z } from "zod";
import { planRanges, StagingImage, streamRanges } from "../io/stream.ts";
import { hostMemoryShortfall, loadNeeds } from "../io/host_memory.ts";
import { copyToTarget, openForStream } from "../io/stream_load.ts";
import type { DeviceBuffer, HostStaging, Target } from "../core/target.ts";
import { placeFile, type Strategy } from "./strategy.ts";
import {
  dataSpan,
  type LoadContext,
  type LoadResult,
  type Placement,
  targetFootprint,
} from "../core/load.ts";

/** Bytes per read with `transfer: "chunk"`. @default 4 MiB */
export const WHOLE_FILE_CHUNK = 4 << 20;
/**
 * Smallest piece one pread asks for with `bulk` or `tensor`, unless
 * `chunkSize` says otherwise. @default 16 MiB
 */
export const WHOLE_FILE_MIN_CHUNK = 16 << 20;
/**
 * Largest piece one pread asks for with `bulk` or `tensor`, unless
 * `chunkSize` says otherwise. @default 256 MiB
 */
export const WHOLE_FILE_MAX_CHUNK = 256 << 20;
/** Reads in flight. @default the number of CPU cores, at most 8 */
export const WHOLE_FILE_READERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

/** The options every whole-file strategy takes. */
export const wholeFileOptions = z.strictObject({
  /**
   * Bytes per pread; 0 picks {@link WHOLE_FILE_CHUNK} with `transfer: "chunk"`,
   * else splits each file evenly across the readers, within 16–256 MiB pieces.
   */
  chunkSize: z.number().int().min(0).max(1 << 30).refine((n) => n === 0 || n >= 4096, {
    message: "chunkSize must be 0 (automatic) or at least 4096",
  }).default(0),
  readers: z.number().int().min(1).max(64).default(WHOLE_FILE_READERS),
  staging: z.enum(["fresh", "reused"]).default("fresh"),
  transfer: z.enum(["bulk", "tensor", "chunk"]).default("bulk"),
});

/** Resolved options of a whole-file strategy. */
export type WholeFileOptions = z.infer<typeof wholeFileOptions>;

/**
 * A strategy `name` reading each file's data into a buffer from `allocate`
 * (called inside the `alloc` span; `retained` is true for the one buffer
 * `staging: "reused"` keeps across loads).
 */
export function wholeFileStrategy(
  name: string,
  { chunkSize, readers, staging, transfer }: WholeFileOptions,
  allocate: (
    target: Target,
    bytes: number,
    retained: boolean,
  ) => HostStaging | Promise<HostStaging>,
): Strategy {
  let pool: { memory: HostStaging; target: Target } | undefined;
  const obtain = async (target: Target, size: number): Promise<HostStaging> => {
    if (staging === "fresh") return await allocate(target, size, false);
    if (pool && pool.target === target && pool.memory.size >= size && !pool.memory.closed) {
      return pool.memory;
    }
    pool?.memory.close();
    pool = undefined;
    const memory = await allocate(target, size, true);
    pool = { memory, target };
    return memory;
  };
  return {
    name,
    unsupported(weights, target) {
      // One file's data at a time: the largest is what the staging holds at its peak.
      let largest = 0;
      for (const file of weights.files) {
        const { begin, end } = dataSpan(file.index.tensors);
        largest = Math.max(largest, end - begin);
      }
      const reason = hostMemoryShortfall(loadNeeds(target, largest, targetFootprint(weights)));
      return reason === undefined ? undefined : `${name} reads whole files into memory: ${reason}`;
    },
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, recorder, target } = context;
      const placements: Placement[] = [];
      const buffers: DeviceBuffer[] = [];
      let bytesRead = 0;
      for (const weightFile of weights.files) {
        using opened = openForStream(weightFile, recorder);
        const { path, begin, end } = opened;
        const span = Math.max(end - begin, 1);
        const memory = await recorder.timeAsync("alloc", () => obtain(target, span), path);
        try {
          const image = new StagingImage(memory, begin);
          const buffer = transfer === "chunk"
            ? recorder.time("alloc", () => target.allocate(span), path)
            : undefined;
          const piece = chunkSize ||
            (transfer === "chunk" ? WHOLE_FILE_CHUNK : autoChunk(end - begin, readers));
          bytesRead += opened.headerBytes + await streamRanges({
            file: opened.file,
            ranges: planRanges(begin, end, piece),
            depth: readers,
            partition: true,
            staging: image,
            recorder,
            signal: context.signal,
            ...(buffer === undefined
              ? {}
              : { sink: copyToTarget(target, buffer, begin, recorder, path) }),
          });
          if (buffer !== undefined) {
            await recorder.timeAsync(target.transferPhase, () => target.synchronize(), path);
            buffers.push(buffer);
            for (const tensor of opened.index.tensors) {
              placements.push({ file: path, tensor, buffer, offset: tensor.offset - begin });
            }
          } else {
            const placed = await placeFile(
              context,
              path,
              opened.index.tensors,
              (o) => memory.pointer(o - begin),
              transfer === "tensor" ? "tensor" : "bulk",
            );
            buffers.push(placed.buffer);
            placements.push(...placed.placements);
          }
        } finally {
          recorder.time("free", () => {
            if (memory !== pool?.memory) memory.close();
          }, path);
          opened.close();
        }
      }
      return { placements, buffers, bytesRead };
    },
    close() {
      pool?.memory.close();
      pool = undefined;
    },
  };
}

/** Each reader's share of `size`, kept within 16–256 MiB. */
function autoChunk(size: number, readers: number): number {
  return Math.min(WHOLE_FILE_MAX_CHUNK, Math.max(WHOLE_FILE_MIN_CHUNK, Math.ceil(size / readers)));
}
