/**
 * `direct`: O_DIRECT reads into aligned buffers with several in flight,
 * bypassing the page cache, each chunk copied to the target as it lands. What
 * it measures is the storage itself; the page cache is neither used nor
 * polluted. On file systems that refuse O_DIRECT (tmpfs) the case is skipped
 * with the reason.
 *
 * Options: `chunkSize` (a multiple of 4096) and `depth` (reads in flight);
 * staging memory is `chunkSize × depth` whatever the model's size.
 *
 * @module
 */

import { z } from "zod";
import { fileSystemType, O_DIRECT, RAMFS_MAGIC, TMPFS_MAGIC } from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import { DIRECT_ALIGNMENT } from "../io/chunked_read.ts";
import { streamedStrategy } from "./_streamed.ts";
import type { StrategyDefinition } from "./strategy.ts";

/** Bytes per O_DIRECT read. @default 16 MiB */
export const DIRECT_CHUNK = 16 << 20;
/** O_DIRECT reads in flight. @default 4 */
export const DIRECT_DEPTH = 4;

const options = z.strictObject({
  chunkSize: z.number().int().min(DIRECT_ALIGNMENT).max(1 << 30)
    .refine((n) => n % DIRECT_ALIGNMENT === 0, {
      message: `must be a multiple of ${DIRECT_ALIGNMENT}`,
    })
    .default(DIRECT_CHUNK),
  depth: z.number().int().min(1).max(64).default(DIRECT_DEPTH),
});

/** The `direct` strategy. */
export const direct: StrategyDefinition<z.infer<typeof options>> = {
  name: "direct",
  summary: "O_DIRECT reads into aligned buffers, several in flight, bypassing the page cache",
  options,
  create: ({ chunkSize, depth }) => ({
    ...streamedStrategy("direct", { chunkSize, depth, direct: true, openFlags: O_DIRECT }),
    unsupported(weights) {
      for (const { path } of weights.files) {
        const type = fileSystemType(path);
        if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) {
          return `"${path}" is on a memory file system (tmpfs): there is no page cache for O_DIRECT to bypass`;
        }
        try {
          NativeFile.open(path, O_DIRECT).close();
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code === "EINVAL" || code === "EOPNOTSUPP") {
            return `the file system holding "${path}" refuses O_DIRECT (${code})`;
          }
          throw error;
        }
      }
      return undefined;
    },
  }),
};
