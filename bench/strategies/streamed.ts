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
 * with ordinary buffers and plain copies. The pipeline is the streaming
 * engine's (`bench/io/stream.ts`); this file says only which staging it uses.
 *
 * @module
 */

import { z } from "zod";
import { DIRECT_ALIGNMENT } from "../io/align.ts";
import {
  freshRings,
  RetainedRing,
  ringMemoryShortfall,
  type RingSource,
  streamToTarget,
} from "../io/stream_load.ts";
import type { Target } from "../core/target.ts";
import { directUnsupported } from "./direct.ts";
import { stagingFor } from "./pinned.ts";
import { type StrategyDefinition } from "./strategy.ts";
import type { LoadContext, LoadResult } from "../core/load.ts";

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
  create: ({ chunkSize, buffers, readers, direct, staging }) => {
    // `buffers − 1` chunks are read at once, so a buffer is free for the next read while a copy runs.
    const stream = { chunkSize, depth: buffers - 1, buffers, readers, direct };
    let kept: { target: Target; rings: RetainedRing } | undefined;
    const ringsFor = (target: Target): RingSource => {
      if (staging === "fresh") {
        return freshRings(buffers, (bytes) => stagingFor(target, bytes, false));
      }
      if (kept?.target !== target) {
        kept?.rings.close();
        kept = {
          target,
          rings: new RetainedRing(buffers, (bytes) => stagingFor(target, bytes, true)),
        };
      }
      return kept.rings;
    };
    return {
      name: "streamed",
      unsupported: (weights, target) =>
        (direct ? directUnsupported(weights) : undefined) ??
          ringMemoryShortfall(weights, target, buffers, chunkSize, direct),
      load: (context: LoadContext): Promise<LoadResult> =>
        streamToTarget(context, stream, ringsFor(context.target)),
      close() {
        kept?.rings.close();
        kept = undefined;
      },
    };
  },
};
