/**
 * Puts files into a page-cache state and measures how much of them is
 * resident, so that "cold" and "warm" are facts checked before every sample
 * rather than hopes.
 *
 * - cold: write back dirty pages (`fdatasync`), drop the files' pages
 *   (`posix_fadvise(POSIX_FADV_DONTNEED)`), then count resident pages with
 *   `mincore` over a mapping of each file.
 * - warm: read each file through once, then count.
 *
 * A state is established when residency is at most {@link COLD_MAX_RESIDENT}
 * (cold) or at least {@link WARM_MIN_RESIDENT} (warm). On tmpfs, or when
 * another process maps the files, cold cannot be established and the sample
 * says so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measureResidency, prepareCacheState } from "./cache_state.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(1 << 20).fill(7));
 * const warm = prepareCacheState("warm", [path]);
 * assert.ok(warm.established && warm.residency.fraction === 1);
 * assert.ok(measureResidency([path]).totalBytes === 1 << 20);
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import {
  errno,
  libc,
  MAP_SHARED,
  POSIX_FADV_DONTNEED,
  PROT_READ,
  systemError,
  systemPageSize,
} from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";

/** The page-cache states a case can ask for. */
export type CacheState = "cold" | "warm";

/** The most of a file that may be resident for a cold sample. @default 0.01 */
export const COLD_MAX_RESIDENT = 0.01;
/** The least of a file that must be resident for a warm sample. @default 0.99 */
export const WARM_MIN_RESIDENT = 0.99;
/** Bytes mapped at a time while counting resident pages. @default 1 GiB */
const RESIDENCY_WINDOW = 1 << 30;
/** Read size while warming. @default 8 MiB */
const WARM_READ = 8 << 20;
const MAP_FAILED = 0xffffffffffffffffn;

/** How much of a set of files is in the page cache. */
export interface Residency {
  readonly residentBytes: number;
  readonly totalBytes: number;
  /** residentBytes / totalBytes; 1 for empty files. */
  readonly fraction: number;
}

/** The state a sample started from. */
export interface CacheOutcome {
  readonly state: CacheState;
  readonly residency: Residency;
  /** Whether the residency meets the state's threshold. */
  readonly established: boolean;
}

/** Counts the resident pages of each file with `mincore`. */
export function measureResidency(paths: readonly string[]): Residency {
  let residentBytes = 0;
  let totalBytes = 0;
  for (const path of paths) {
    using file = NativeFile.open(path);
    totalBytes += file.size;
    residentBytes += residentBytesOf(file);
  }
  return { residentBytes, totalBytes, fraction: totalBytes === 0 ? 1 : residentBytes / totalBytes };
}

/** Drops the files' pages from the page cache (after writing back dirty ones). */
export function evictFromPageCache(paths: readonly string[]): void {
  for (const path of paths) {
    using file = NativeFile.open(path);
    libc().fdatasync(file.fd); // dirty pages cannot be dropped; read-only fds may still sync
    const result = libc().posix_fadvise(file.fd, 0n, 0n, POSIX_FADV_DONTNEED);
    if (result !== 0) throw systemError(`posix_fadvise "${path}"`, result);
  }
}

/** Reads every byte of the files once so their pages are cached. */
export function warmPageCache(paths: readonly string[]): void {
  using buffer = NativeMemory.allocate(WARM_READ);
  for (const path of paths) {
    using file = NativeFile.open(path);
    for (let offset = 0; offset < file.size; offset += WARM_READ) {
      file.readInto(buffer.pointer(), Math.min(WARM_READ, file.size - offset), offset);
    }
  }
}

/**
 * Brings the files into `state`, then measures and judges residency. Files
 * already warm are not read again.
 */
export function prepareCacheState(state: CacheState, paths: readonly string[]): CacheOutcome {
  if (state === "cold") {
    evictFromPageCache(paths);
  } else {
    const before = judge(state, measureResidency(paths));
    if (before.established) return before;
    warmPageCache(paths);
  }
  return judge(state, measureResidency(paths));
}

/** Whether `residency` meets the threshold of `state`. */
export function judge(state: CacheState, residency: Residency): CacheOutcome {
  const established = state === "cold"
    ? residency.fraction <= COLD_MAX_RESIDENT
    : residency.fraction >= WARM_MIN_RESIDENT;
  return { state, residency, established };
}

function residentBytesOf(file: NativeFile): number {
  const page = systemPageSize();
  let resident = 0;
  for (let offset = 0; offset < file.size; offset += RESIDENCY_WINDOW) {
    const length = Math.min(RESIDENCY_WINDOW, file.size - offset);
    const mapping = libc().mmap(
      null,
      BigInt(length),
      PROT_READ,
      MAP_SHARED,
      file.fd,
      BigInt(offset),
    );
    if (mapping === null || Deno.UnsafePointer.value(mapping) === MAP_FAILED) {
      throw systemError(`mmap "${file.path}"`, errno());
    }
    try {
      const pages = Math.ceil(length / page);
      const vector = new Uint8Array(pages);
      if (libc().mincore(mapping, BigInt(length), vector) !== 0) {
        throw systemError(`mincore "${file.path}"`, errno());
      }
      for (let i = 0; i < pages; i++) {
        if (vector[i]! & 1) resident += i === pages - 1 ? length - i * page : page;
      }
    } finally {
      libc().munmap(mapping, BigInt(length));
    }
  }
  return resident;
}
