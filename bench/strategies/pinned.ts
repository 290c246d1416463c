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

import { hostStaging } from "../targets/host.ts";
import type { HostStaging, Target } from "../core/target.ts";
import type { StrategyDefinition } from "./strategy.ts";
import { type WholeFileOptions, wholeFileOptions, wholeFileStrategy } from "./_whole_file.ts";

/** Pinned staging from `target`, or ordinary memory where it has none. */
export function stagingFor(target: Target, bytes: number, retained: boolean): HostStaging {
  return target.allocatePinned?.(bytes, { retained }) ?? hostStaging(bytes);
}

/** The `pinned` strategy. */
export const pinned: StrategyDefinition<WholeFileOptions> = {
  name: "pinned",
  summary: "read whole files into pinned host memory, then copy to the target at full link speed",
  options: wholeFileOptions,
  create: (options) => wholeFileStrategy("pinned", options, stagingFor),
};
