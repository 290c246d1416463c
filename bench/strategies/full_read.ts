/**
 * `full-read`: read each file's data into a pageable host buffer as large as
 * it, then copy the tensors to the target. The simplest loader, and what
 * `torch.load` without mmap does.
 *
 * The header is parsed with positioned reads; the data span is read by the
 * streaming engine into its place in the buffer, `readers` reads in flight
 * (pread on pool threads), by default each file split evenly across the
 * readers in 16–256 MiB pieces, since every pread through the FFI costs a hop
 * between threads. Peak memory is the target's plus one file.
 *
 * `staging: "fresh"` (the default) maps new memory for every file, as a
 * freshly started process must, backed by transparent huge pages
 * (`MADV_HUGEPAGE`): the reads fault it in 2 MiB at a time, 512 faults per
 * GiB instead of 262,144 with 4 KiB pages, and the kernel zeroes each page
 * just before the read fills it (measured by `deno task perf`: faulting in
 * ahead, in parallel, cost a separate pass over the memory and was slower).
 * `staging: "reused"` keeps one buffer across loads, as a long-lived server
 * with a buffer pool would, and so measures the I/O path alone.
 *
 * @module
 */

import { NativeMemory } from "../ffi/native_memory.ts";
import type { StrategyDefinition } from "./strategy.ts";
import { type WholeFileOptions, wholeFileOptions, wholeFileStrategy } from "./_whole_file.ts";

/** The `full-read` strategy. */
export const fullRead: StrategyDefinition<WholeFileOptions> = {
  name: "full-read",
  summary: "read whole files into a pageable host buffer, then copy to the target",
  options: wholeFileOptions,
  create: (options) =>
    // Huge pages, faulted in by the reads themselves (see above).
    wholeFileStrategy("full-read", options, (_target, bytes) => NativeMemory.allocate(bytes)),
};
