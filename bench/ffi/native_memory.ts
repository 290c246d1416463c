/**
 * Host memory outside the JavaScript heap: anonymous mappings that are
 * returned to the system the moment they are closed, so peak RSS and page
 * faults mean what they say, and sizes are not bounded by V8's ArrayBuffer
 * limits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NativeMemory } from "./native_memory.ts";
 *
 * using memory = NativeMemory.allocate(1 << 20);
 * memory.view(0, 4).set([1, 2, 3, 4]);
 * assert.ok(memory.view(2, 1)[0] === 3);
 * ```
 *
 * @module
 */

import {
  errno,
  libc,
  MADV_HUGEPAGE,
  MADV_POPULATE_WRITE,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  offsetPointer,
  PROT_READ,
  PROT_WRITE,
  systemError,
} from "./libc.ts";
import { forEachChunk } from "../util/parallel.ts";

/** How to back a {@link NativeMemory} allocation. */
export interface AllocateOptions {
  /** Fault every page in now (`MAP_POPULATE`) rather than on first touch. @default false */
  populate?: boolean;
  /** Ask for transparent huge pages (`MADV_HUGEPAGE`), fewer faults for large buffers. @default true */
  hugePages?: boolean;
}

const MAP_FAILED = 0xffffffffffffffffn;
/** Bytes faulted in per call by {@link NativeMemory.prefault}. @default 16 MiB */
const PREFAULT_CHUNK = 16 << 20;

/** An owned anonymous mapping; `close()` unmaps it and is safe to call twice. */
export class NativeMemory implements Disposable {
  #pointer: Deno.PointerObject | null;
  readonly size: number;
  /** Ordinary pageable memory, so it can stand wherever staging is asked for. */
  readonly pinned = false;

  private constructor(pointer: Deno.PointerObject, size: number) {
    this.#pointer = pointer;
    this.size = size;
  }

  /** Maps `size` bytes of zeroed, private, read-write memory. */
  static allocate(size: number, options: AllocateOptions = {}): NativeMemory {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`Cannot allocate ${size} bytes: size must be a positive integer`);
    }
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | (options.populate ? MAP_POPULATE : 0);
    const pointer = libc().mmap(null, BigInt(size), PROT_READ | PROT_WRITE, flags, -1, 0n);
    if (pointer === null || Deno.UnsafePointer.value(pointer) === MAP_FAILED) {
      throw systemError(`mmap of ${size} bytes`, errno());
    }
    if (options.hugePages ?? true) libc().madvise(pointer, BigInt(size), MADV_HUGEPAGE);
    return new NativeMemory(pointer, size);
  }

  /** The address of byte `offset`. */
  pointer(offset = 0): Deno.PointerObject {
    if (this.#pointer === null) throw new Error("NativeMemory used after close()");
    if (offset < 0 || offset > this.size) {
      throw new RangeError(`Offset ${offset} outside a ${this.size}-byte allocation`);
    }
    return offsetPointer(this.#pointer, offset);
  }

  /**
   * Faults every page in now, split across `threads` pool threads
   * (`MADV_POPULATE_WRITE`, or writing zeros where the kernel lacks it), so
   * the cost of fresh memory is paid here rather than inside later reads.
   */
  async prefault(threads: number): Promise<void> {
    const base = this.pointer();
    await forEachChunk(this.size, PREFAULT_CHUNK, threads, async (offset, length) => {
      const start = offsetPointer(base, offset);
      if ((await libc().madviseAsync(start, BigInt(length), MADV_POPULATE_WRITE)) !== 0) {
        await libc().memsetAsync(start, 0, BigInt(length));
      }
    });
  }

  /** A view of `length` bytes from `offset`; valid until `close()`. */
  view(offset: number, length: number): Uint8Array<ArrayBuffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(
        `View ${offset}+${length} outside a ${this.size}-byte allocation`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.pointer(offset), length));
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#pointer === null;
  }

  /** Unmaps the memory; later calls do nothing. */
  close(): void {
    if (this.#pointer === null) return;
    libc().munmap(this.#pointer, BigInt(this.size));
    this.#pointer = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
