/**
 * The `host` target: an arena of CPU memory that stands in for device memory,
 * on machines without a GPU. Copying into it is the transfer.
 *
 * The arena is mapped and faulted in by {@link HostTarget.reserve}, outside
 * every sample, because a GPU's memory exists before a load starts; so its
 * page faults are not charged to strategies, and allocation inside a sample
 * is as cheap as a device allocation. Large copies are split across threads,
 * as a copy engine would move them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostTarget } from "./host.ts";
 * import { NativeMemory } from "../ffi/native_memory.ts";
 *
 * using target = new HostTarget();
 * target.reserve(1 << 20);
 * using source = NativeMemory.allocate(4096);
 * source.view(0, 4).set([1, 2, 3, 4]);
 * const buffer = target.allocate(4096);
 * await target.copyIn(buffer, 0, source.pointer(), 4096);
 * assert.ok(target.readBack(buffer, 0, 4).join() === "1,2,3,4");
 * target.free(buffer);
 * ```
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { forEachChunk } from "../util/parallel.ts";
import type { DeviceBuffer, HostStaging, Target, TargetInfo } from "../core/target.ts";

/** Alignment of allocations, as CUDA aligns device allocations. @default 256 */
export const HOST_ALIGNMENT = 256;
/** Copies up to this size run on the calling thread. @default 4 MiB */
export const HOST_INLINE_COPY = 4 << 20;
/** Piece size when a copy is split across threads. @default 16 MiB */
export const HOST_COPY_CHUNK = 16 << 20;

/** Options for the host target. */
export interface HostTargetOptions {
  /** Threads a large copy is split across. @default the number of CPU cores, at most 8 */
  copyThreads?: number;
}

interface HostBuffer extends DeviceBuffer {
  readonly offset: number;
  freed: boolean;
}

/** CPU memory as a load target. */
export class HostTarget implements Target {
  readonly id = "host";
  readonly transferPhase = "copy" as const;
  readonly copyThreads: number;
  #arena: NativeMemory | undefined;
  #top = 0;
  /** Live buffers. */
  readonly #buffers = new Set<HostBuffer>();
  /** Every buffer this target ever handed out, to refuse those of other targets. */
  readonly #issued = new WeakSet<DeviceBuffer>();
  /** Copies running on other threads, which write into the arena. */
  readonly #copying = new Set<Promise<void>>();

  constructor(options: HostTargetOptions = {}) {
    this.copyThreads = options.copyThreads ?? Math.min(8, navigator.hardwareConcurrency || 1);
  }

  get info(): TargetInfo {
    return {
      kind: "host",
      arenaBytes: this.#arena?.size ?? 0,
      copyThreads: this.copyThreads,
    };
  }

  reserve(bytes: number): void {
    if (this.#arena && this.#arena.size >= bytes) return;
    if (this.#buffers.size > 0) {
      throw new Error("Cannot grow the host arena while buffers are live");
    }
    this.#retireArena();
    this.#arena = NativeMemory.allocate(Math.max(bytes, HOST_ALIGNMENT), { populate: true });
    this.#top = 0;
  }

  allocate(bytes: number): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`Cannot allocate ${bytes} bytes: expected a byte count`);
    }
    const arena = this.#arena;
    const offset = this.#top;
    if (!arena || offset + bytes > arena.size) {
      throw new Error(
        `Host arena holds ${
          arena?.size ?? 0
        } bytes; ${bytes} more at ${offset} do not fit (reserve() first)`,
      );
    }
    this.#top = alignUp(offset + bytes, HOST_ALIGNMENT);
    const buffer: HostBuffer = { target: this.id, size: bytes, offset, freed: false };
    this.#buffers.add(buffer);
    this.#issued.add(buffer);
    return buffer;
  }

  async copyIn(
    buffer: DeviceBuffer,
    offset: number,
    source: Deno.PointerObject,
    length: number,
  ): Promise<void> {
    const destination = this.#pointer(buffer, offset, length);
    if (length === 0) return;
    if (length <= HOST_INLINE_COPY || this.copyThreads === 1) {
      libc().memcpy(destination, source, BigInt(length));
      return;
    }
    const piece = Math.max(HOST_COPY_CHUNK, Math.ceil(length / this.copyThreads));
    const copy = forEachChunk(length, piece, this.copyThreads, async (start, size) => {
      await libc().memcpyAsync(
        Deno.UnsafePointer.offset(destination, start) as Deno.PointerObject,
        Deno.UnsafePointer.offset(source, start) as Deno.PointerObject,
        BigInt(size),
      );
    });
    this.#copying.add(copy);
    try {
      await copy;
    } finally {
      this.#copying.delete(copy);
    }
  }

  synchronize(): Promise<void> {
    return Promise.resolve();
  }

  /** Ordinary host memory: there is nothing to pin for a copy within host memory. */
  allocatePinned(bytes: number): HostStaging {
    return hostStaging(bytes);
  }

  /**
   * The same copy as {@link copyIn}, done when it resolves; staging of this
   * target's stays mapped until then, even if closed meanwhile.
   */
  copyInAsync(
    buffer: DeviceBuffer,
    offset: number,
    source: HostStaging,
    sourceOffset: number,
    length: number,
  ): Promise<void> {
    if (sourceOffset < 0 || length < 0 || sourceOffset + length > source.size) {
      return Promise.reject(
        new RangeError(
          `Range ${sourceOffset}+${length} outside a ${source.size}-byte staging buffer`,
        ),
      );
    }
    let copy: Promise<void>;
    try {
      copy = this.copyIn(buffer, offset, source.pointer(sourceOffset), length);
    } catch (error) {
      return Promise.reject(error);
    }
    return source instanceof PageableStaging ? source.readBy(copy) : copy;
  }

  readBack(buffer: DeviceBuffer, offset: number, length: number): Uint8Array {
    this.#pointer(buffer, offset, length);
    return this.#arena!.view((buffer as HostBuffer).offset + offset, length);
  }

  free(buffer: DeviceBuffer): void {
    const host = this.#own(buffer);
    if (host.freed) return;
    host.freed = true;
    this.#buffers.delete(host);
    if (this.#buffers.size === 0) this.#top = 0;
  }

  freeAll(): void {
    for (const buffer of this.#buffers) buffer.freed = true;
    this.#buffers.clear();
    this.#top = 0;
  }

  /** Frees every buffer and unmaps the arena, once copies still running into it are done. */
  close(): void {
    this.freeAll();
    this.#retireArena();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Drops the arena: unmapped now, or when the copies running into it settle. */
  #retireArena(): void {
    const arena = this.#arena;
    this.#arena = undefined;
    if (arena === undefined) return;
    if (this.#copying.size === 0) arena.close();
    else void Promise.allSettled([...this.#copying]).then(() => arena.close());
  }

  #own(buffer: DeviceBuffer): HostBuffer {
    if (!this.#issued.has(buffer)) {
      throw new Error(
        `A buffer of another target ("${buffer.target}") was given to this host target`,
      );
    }
    return buffer as HostBuffer;
  }

  #pointer(buffer: DeviceBuffer, offset: number, length: number): Deno.PointerObject {
    const host = this.#own(buffer);
    if (host.freed) throw new Error("Host buffer used after free()");
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
      offset + length > host.size
    ) {
      throw new RangeError(`Range ${offset}+${length} outside a ${host.size}-byte host buffer`);
    }
    return this.#arena!.pointer(host.offset + offset);
  }
}

/**
 * Staging in ordinary (pageable) host memory, outside the JavaScript heap:
 * what a target without pinned memory offers, and what strategies fall back to.
 */
export function hostStaging(bytes: number): HostStaging {
  return new PageableStaging(bytes);
}

/**
 * Pageable staging whose memory outlives `close()` until the copies queued
 * from it by {@link HostTarget.copyInAsync} have landed, as a split copy
 * still reads it on other threads.
 */
class PageableStaging implements HostStaging {
  readonly pinned = false;
  readonly size: number;
  readonly #memory: NativeMemory;
  #queued = 0;
  #closed = false;

  constructor(bytes: number) {
    this.size = bytes;
    this.#memory = NativeMemory.allocate(Math.max(bytes, 1));
  }

  get closed(): boolean {
    return this.#closed;
  }

  pointer(offset = 0): Deno.PointerObject {
    this.#open();
    return this.#memory.pointer(offset);
  }

  view(offset: number, length: number): Uint8Array {
    this.#open();
    return this.#memory.view(offset, length);
  }

  /** Keeps the memory mapped until `copy`, which reads it, settles. */
  readBy(copy: Promise<void>): Promise<void> {
    this.#queued++;
    return copy.finally(() => {
      if (--this.#queued === 0 && this.#closed) this.#memory.close();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#queued === 0) this.#memory.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(): void {
    if (this.#closed) throw new Error("Staging used after close()");
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
