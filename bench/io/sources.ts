/**
 * {@link ByteSource}s over files opened through libc, for parsing headers
 * inside a timed load: plain positioned reads, and O_DIRECT reads that go
 * through an aligned bounce buffer (O_DIRECT refuses unaligned buffers,
 * offsets and lengths).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeFileSource } from "./sources.ts";
 * import { NativeFile } from "../ffi/native_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4, 5]));
 * using file = NativeFile.open(path);
 * assert.deepEqual([...nativeFileSource(file).read(1, 3)], [2, 3, 4]);
 * assert.throws(() => nativeFileSource(file).read(4, 2), /truncated/);
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import { type ByteSource, checkRange } from "../formats/format.ts";
import type { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { DIRECT_ALIGNMENT } from "./align.ts";

/** Reads `file` with synchronous positioned reads. */
export function nativeFileSource(file: NativeFile): ByteSource {
  return {
    name: file.path,
    size: file.size,
    read(offset, length) {
      checkRange(file.path, file.size, offset, length);
      return file.readBytes(offset, length);
    },
  };
}

/** Reads `file`, open with O_DIRECT, through aligned reads into a bounce buffer. */
export function directFileSource(file: NativeFile): ByteSource {
  return {
    name: file.path,
    size: file.size,
    read(offset, length) {
      checkRange(file.path, file.size, offset, length);
      if (length === 0) return new Uint8Array(0);
      const start = Math.floor(offset / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
      const stop = Math.ceil((offset + length) / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
      using bounce = NativeMemory.allocate(stop - start, { hugePages: false });
      // The last block may run past the end of the file: O_DIRECT then reads short, which is fine.
      const got = file.readAtMost(bounce.pointer(), stop - start, start);
      if (got < offset + length - start) {
        throw new Error(
          `Cannot read "${file.path}": file ended at ${start + got}, before ${offset + length}`,
        );
      }
      return bounce.view(offset - start, length).slice();
    },
  };
}
