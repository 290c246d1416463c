/**
 * `full-read`: read each whole file into a pageable host buffer, parse its
 * header from memory, then copy the tensors to the target. The simplest
 * loader, and what `torch.load` without mmap does.
 *
 * The read is split into pieces with `readers` in flight (pread on pool
 * threads), the way a fast loader keeps every core busy; by default each file
 * is split evenly across the readers in 16–256 MiB pieces, since every pread
 * through the FFI costs a hop between threads. The staging
 * buffer is as large as the file; peak memory is the target's plus one file.
 *
 * `staging: "fresh"` (the default) maps new memory for every file and faults
 * it in, in parallel, inside the `alloc` span, as a freshly started process
 * must, so the cost of fresh memory shows apart from the read.
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
    wholeFileStrategy("full-read", options, async (_target, bytes) => {
      // Fresh memory is faulted in here, in parallel, so its cost shows in `alloc`, not in `read`.
      const memory = NativeMemory.allocate(bytes);
      await memory.prefault(options.readers);
      return memory;
    }),
};
