/**
 * What the storage holding a set of files can deliver: the best sequential
 * O_DIRECT read over a sweep of block sizes and queue depths (cold), and the
 * best read from the page cache (warm).
 *
 * @module
 */

import { fileSystemType, libc, O_DIRECT, RAMFS_MAGIC, TMPFS_MAGIC } from "../ffi/libc.ts";
import { FileMapping } from "../strategies/mmap.ts";
import { forEachChunk } from "../util/parallel.ts";
import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { DIRECT_ALIGNMENT, readChunked } from "../io/chunked_read.ts";
import { prepareCacheState } from "../core/cache_state.ts";

/** Block sizes swept by the cold probe: 1–64 MiB. */
export const PROBE_BLOCK_SIZES: readonly number[] = [1, 2, 4, 8, 16, 32, 64].map((m) => m << 20);
/** Queue depths swept by the cold probe: 1–32. */
export const PROBE_DEPTHS: readonly number[] = [1, 2, 4, 8, 16, 32];
/** Most staging memory a trial may use (block × depth); larger pairs are left out. @default 512 MiB */
export const PROBE_MAX_STAGING = 512 << 20;
/** Bytes read per trial, at most. @default 256 MiB */
export const PROBE_TRIAL_BYTES = 256 << 20;

/** One point of the sweep. */
export interface Trial {
  readonly blockSize: number;
  readonly depth: number;
  readonly gbps: number;
}

/** The cold sweep's result: the best point and every point. */
export interface ColdResult {
  readonly gbps: number;
  /** The best setting's slowest and fastest of its repeats. */
  readonly spread: { readonly min: number; readonly max: number };
  readonly blockSize: number;
  readonly depth: number;
  readonly trials: readonly Trial[];
}

/** Options of the sweep. */
export interface SweepOptions {
  readonly blockSizes?: readonly number[];
  readonly depths?: readonly number[];
  readonly trialBytes?: number;
  readonly onTrial?: (done: number, total: number, trial: Trial) => void;
  readonly signal?: AbortSignal;
}

/** The (block, depth) pairs a sweep runs, within {@link PROBE_MAX_STAGING}. */
export function sweepPoints(options: SweepOptions = {}): { blockSize: number; depth: number }[] {
  const points = [];
  for (const blockSize of options.blockSizes ?? PROBE_BLOCK_SIZES) {
    for (const depth of options.depths ?? PROBE_DEPTHS) {
      if (blockSize * depth <= PROBE_MAX_STAGING) points.push({ blockSize, depth });
    }
  }
  return points;
}

/**
 * Sweeps O_DIRECT sequential reads over `paths` (read in turn, each trial
 * starting where the last ended, so no trial rereads what another just read);
 * null when the file system refuses O_DIRECT or keeps files in memory (tmpfs).
 */
export async function probeCold(
  paths: readonly string[],
  options: SweepOptions = {},
): Promise<ColdResult | null> {
  const files: NativeFile[] = [];
  try {
    for (const path of paths) {
      const type = fileSystemType(path);
      if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) return null; // memory: no storage to measure
      try {
        files.push(NativeFile.open(path, O_DIRECT));
      } catch (error) {
        if ((error as { code?: string }).code === "EINVAL") return null;
        throw error;
      }
    }
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total < DIRECT_ALIGNMENT) throw new Error("Probe files are too small to read");
    const points = sweepPoints(options);
    const trials: Trial[] = [];
    let file = 0;
    let offset = 0;
    const sweepPoint = async (point: { blockSize: number; depth: number }): Promise<Trial> => {
      const budget = Math.min(options.trialBytes ?? PROBE_TRIAL_BYTES, total);
      const buffers = Array.from(
        { length: point.depth },
        () => NativeMemory.allocate(point.blockSize),
      );
      let seconds = 0;
      let bytes = 0;
      try {
        while (bytes < budget) {
          const current = files[file]!;
          const start = Math.floor(offset / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
          const end = Math.min(current.size, start + budget - bytes);
          const began = performance.now();
          const got = await readChunked(current, start, end, {
            chunkSize: point.blockSize,
            depth: point.depth,
            direct: true,
            buffers,
          });
          seconds += (performance.now() - began) / 1000;
          bytes += got;
          offset = end;
          if (offset >= current.size - DIRECT_ALIGNMENT) {
            file = (file + 1) % files.length;
            offset = 0;
          }
        }
      } finally {
        for (const buffer of buffers) buffer.close();
      }
      return { ...point, gbps: bytes / seconds / 1e9 };
    };
    for (const point of points) {
      if (options.signal?.aborted) throw options.signal.reason;
      const trial = await sweepPoint(point);
      trials.push(trial);
      options.onTrial?.(trials.length, points.length, trial);
    }
    const best = trials.reduce((a, b) => (b.gbps > a.gbps ? b : a));
    // The best setting again, twice: its spread says how far the limit itself can be trusted.
    const again = [best.gbps];
    for (let i = 0; i < COLD_REPEATS; i++) {
      if (options.signal?.aborted) throw options.signal.reason;
      again.push((await sweepPoint(best)).gbps);
    }
    return {
      gbps: Math.max(...again),
      blockSize: best.blockSize,
      depth: best.depth,
      spread: { min: Math.min(...again), max: Math.max(...again) },
      trials,
    };
  } finally {
    for (const f of files) f.close();
  }
}

/** Passes over the files per way of reading warm; the first only warms up. @default 4 */
const WARM_REPEATS = 4;
/** Repeats of the best cold setting, for the limit's spread. @default 2 */
const COLD_REPEATS = 2;

/** Buffer size of the warm probe's readers. @default 1 MiB */
const WARM_BUFFER = 1 << 20;
/**
 * Most of a mapping copied per call: each file is split evenly across the
 * readers up to this size, so the hops to pool threads cost next to nothing,
 * as in the host target's copies. @default 256 MiB
 */
const MAPPED_PIECE = 256 << 20;

/**
 * The best rate at which the page cache hands over the bytes of `paths`,
 * with one reader and with one per core, two ways: `pread` into small
 * buffers that stay in the CPU cache (as `cat` reads), and copies out of a
 * mapping of the file (as mmap loaders read). The faster one is the limit.
 * Buffers are allocated and faulted in before the clock starts.
 */
export async function probeWarm(
  paths: readonly string[],
  signal?: AbortSignal,
): Promise<{ gbps: number; spread: { min: number; max: number } }> {
  prepareCacheState("warm", paths);
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  let largest = 0;
  for (const path of paths) largest = Math.max(largest, (await Deno.stat(path)).size);
  let best = { gbps: 0, spread: { min: 0, max: 0 } };
  for (const readers of [...new Set([1, cores])]) {
    const piece = Math.max(1, Math.min(MAPPED_PIECE, Math.ceil(largest / readers)));
    const methods = [
      { size: WARM_BUFFER, read: (buffers: NativeMemory[]) => preadAll(paths, buffers) },
      { size: piece, read: (buffers: NativeMemory[]) => copyFromMappings(paths, buffers, piece) },
    ];
    for (const method of methods) {
      await withBuffers(readers, method.size, async (buffers) => {
        const rates: number[] = [];
        for (let attempt = 0; attempt < WARM_REPEATS; attempt++) {
          if (signal?.aborted) throw signal.reason;
          const began = performance.now();
          const bytes = await method.read(buffers);
          rates.push(bytes / ((performance.now() - began) / 1000) / 1e9);
        }
        // The way that reads fastest is the limit; its first pass warms it, the rest count.
        const counted = rates.slice(1);
        const gbps = Math.max(...counted);
        if (gbps > best.gbps) {
          best = { gbps, spread: { min: Math.min(...counted), max: Math.max(...counted) } };
        }
      });
    }
  }
  return best;
}

async function preadAll(paths: readonly string[], buffers: NativeMemory[]): Promise<number> {
  let bytes = 0;
  for (const path of paths) {
    using file = NativeFile.open(path);
    bytes += await readChunked(file, 0, file.size, {
      chunkSize: WARM_BUFFER,
      depth: buffers.length,
      buffers,
    });
  }
  return bytes;
}

async function copyFromMappings(
  paths: readonly string[],
  buffers: NativeMemory[],
  piece: number,
): Promise<number> {
  let bytes = 0;
  for (const path of paths) {
    using file = NativeFile.open(path);
    using mapping = new FileMapping(file);
    await forEachChunk(file.size, piece, buffers.length, async (offset, length) => {
      const buffer = buffers[Math.floor(offset / piece) % buffers.length]!;
      await libc().memcpyAsync(buffer.pointer(), mapping.pointer(offset), BigInt(length));
    });
    bytes += file.size;
  }
  return bytes;
}

/** Runs `work` with one faulted-in buffer of `size` bytes per reader, freed afterwards. */
async function withBuffers<T>(
  readers: number,
  size: number,
  work: (buffers: NativeMemory[]) => Promise<T>,
): Promise<T> {
  const buffers = Array.from(
    { length: readers },
    () => NativeMemory.allocate(size, { populate: true }),
  );
  try {
    return await work(buffers);
  } finally {
    for (const buffer of buffers) buffer.close();
  }
}
