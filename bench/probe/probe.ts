/**
 * Measures what this machine can do for the storage holding a folder:
 * O_DIRECT sequential reads swept over block sizes and queue depths, reads
 * from the page cache, host memory copies, and, where a CUDA driver has
 * devices, each GPU's pinned and pageable host-to-device and device-to-host
 * bandwidth. Reads either a probe file it writes into the
 * folder and removes, or files that are already there (the weights being
 * benchmarked), which then need no write access.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { freeBytes } from "../ffi/libc.ts";
import type { MachineLimits } from "../../profiles/schema.ts";
import { evictFromPageCache } from "../core/cache_state.ts";
import { fillRandomWords } from "../util/random.ts";
import { type DeviceProbeOptions, gpuNames, noDeviceReason, probeDevices } from "./device.ts";
import { limitsKey, readCachedLimits, writeCachedLimits } from "./limits.ts";
import { probeMemoryCopy } from "./memory_copy.ts";
import { probeCold, probeWarm, type SweepOptions, type Trial } from "./storage.ts";

/** Size of the probe file, at most. @default 1 GiB */
export const PROBE_FILE_BYTES = 1 << 30;
/** Smallest probe file worth measuring. @default 64 MiB */
export const PROBE_FILE_MIN_BYTES = 64 << 20;

/** What the probe reports as it goes. */
export type ProbeStep =
  | { readonly step: "write"; readonly done: number; readonly total: number }
  | { readonly step: "cold"; readonly done: number; readonly total: number; readonly trial: Trial }
  | { readonly step: "warm" }
  | { readonly step: "memory" }
  | { readonly step: "device"; readonly id: string; readonly done: number; readonly total: number };

/** How to probe. */
export interface ProbeOptions extends SweepOptions {
  /** The folder whose storage is measured. */
  readonly path: string;
  /** Files to read instead of writing a probe file. */
  readonly files?: readonly string[];
  /** Files to read where no probe file can be written (no room, no write access). */
  readonly fallbackFiles?: readonly string[];
  /** Probe file size. @default {@link PROBE_FILE_BYTES}, or a quarter of the free space */
  readonly probeFileBytes?: number;
  readonly onStep?: (step: ProbeStep) => void;
  /** Measure the GPUs' links too (`false` skips them; an object sets their copy size). @default true */
  readonly devices?: boolean | Omit<DeviceProbeOptions, "onDevice">;
}

/** The machine's limits with the cold sweep's every point. */
export interface ProbeResult {
  readonly limits: MachineLimits;
  readonly trials: readonly Trial[];
}

/** Probes the machine and the storage holding `options.path`. */
export async function probeMachine(options: ProbeOptions): Promise<ProbeResult> {
  let probeFile: string | undefined;
  try {
    let files = options.files ?? [];
    if (files.length === 0) {
      try {
        files = [probeFile = await writeProbeFile(options)];
      } catch (error) {
        if (options.signal?.aborted || !options.fallbackFiles?.length) throw error;
        files = options.fallbackFiles; // said in the limits' method
      }
    }
    let bytesRead = 0;
    for (const file of files) bytesRead += (await Deno.stat(file)).size;
    const cold = await probeCold(files, {
      ...options,
      onTrial: (done, total, trial) => options.onStep?.({ step: "cold", done, total, trial }),
    });
    options.onStep?.({ step: "warm" });
    const warm = await probeWarm(files, options.signal);
    options.onStep?.({ step: "memory" });
    const memoryCopyGBps = await probeMemoryCopy();
    const devices = options.devices === false ? [] : await probeDevices({
      ...(typeof options.devices === "object" ? options.devices : {}),
      onDevice: (id, done, total) => options.onStep?.({ step: "device", id, done, total }),
    });
    const limits: MachineLimits = {
      measuredAt: new Date().toISOString(),
      key: await limitsKey(options.path, gpuNames()),
      storage: {
        path: await Deno.realPath(options.path),
        cold: cold && { gbps: cold.gbps, blockSize: cold.blockSize, depth: cold.depth },
        warm: { gbps: warm.gbps },
        spread: { cold: cold?.spread ?? null, warm: warm.spread },
        method: { source: probeFile === undefined ? "weights" : "probe file", bytes: bytesRead },
      },
      memoryCopyGBps,
      ...(devices.length === 0 && options.devices !== false
        ? {
          devicesUnavailable: `no host-to-device limit: ${
            noDeviceReason() ?? "no device answered"
          }`,
        }
        : {}),
      devices: devices.map((
        { id, pinnedH2DGBps, pageableH2DGBps, pinnedD2HGBps, pageableD2HGBps },
      ) => ({
        id,
        pinnedH2DGBps,
        pageableH2DGBps,
        pinnedD2HGBps,
        pageableD2HGBps,
      })),
    };
    return { limits, trials: cold?.trials ?? [] };
  } finally {
    if (probeFile) await Deno.remove(probeFile).catch(() => {});
  }
}

/** Writes a file of pseudo-random bytes (nothing a disk could compress or skip) and drops it from the cache. */
async function writeProbeFile(options: ProbeOptions): Promise<string> {
  const size = options.probeFileBytes ??
    Math.min(PROBE_FILE_BYTES, Math.floor(freeBytes(options.path) / 4 / (1 << 20)) * (1 << 20));
  if (size < PROBE_FILE_MIN_BYTES) {
    throw new Error(
      `Not enough free space in "${options.path}" for a ${PROBE_FILE_MIN_BYTES}-byte probe file`,
    );
  }
  const path = join(options.path, `.weightbench-probe-${crypto.randomUUID()}`);
  const chunk = new Uint32Array((8 << 20) / 4);
  const bytes = new Uint8Array(chunk.buffer);
  try {
    using file = await Deno.open(path, { write: true, createNew: true });
    for (let done = 0, seed = 1; done < size; seed++) {
      if (options.signal?.aborted) throw options.signal.reason;
      fillRandomWords(chunk, seed);
      const length = Math.min(bytes.length, size - done);
      let written = 0;
      while (written < length) written += await file.write(bytes.subarray(written, length));
      done += length;
      options.onStep?.({ step: "write", done, total: size });
    }
    await file.syncData();
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  evictFromPageCache([path]);
  return path;
}

/** Weights smaller than this are not worth an automatic probe. @default 64 MiB */
export const AUTO_PROBE_MIN_BYTES = PROBE_FILE_MIN_BYTES;

/**
 * Whether {@link limitsForFiles} would measure (no limits cached for the
 * storage holding `files`, and enough bytes to probe): a run says so before
 * its first sample.
 */
export async function limitsNeedProbe(
  files: readonly string[],
  options: { readonly dir?: string } = {},
): Promise<boolean> {
  return (await cachedOrWorthProbing(files, options.dir)) === "probe";
}

/** The cached limits of the storage holding `files`; else whether they are worth a probe. */
async function cachedOrWorthProbing(
  files: readonly string[],
  dir: string | undefined,
): Promise<MachineLimits | "probe" | "too small"> {
  if (files.length === 0) return "too small";
  const cached = await readCachedLimits(await limitsKey(dirname(files[0]!), gpuNames()), dir);
  if (cached) return cached;
  let size = 0;
  for (const file of files) size += (await Deno.stat(file)).size;
  return size >= AUTO_PROBE_MIN_BYTES ? "probe" : "too small";
}

/**
 * The limits of the storage holding `files`: cached ones when there are any,
 * else a probe, cached for next time. The probe measures the same way
 * whatever is being benchmarked: it writes its own file of
 * {@link PROBE_FILE_BYTES} beside the weights (less only where free space is
 * short), so a small scenario run first does not leave a limit measured on
 * 64 MiB for every later run. Where the folder takes no file (read-only), it
 * reads the weights themselves and says so in the limits' `method`. Weights
 * under {@link AUTO_PROBE_MIN_BYTES} (test files) are not worth a probe:
 * undefined.
 */
export async function limitsForFiles(
  files: readonly string[],
  options: {
    readonly onStep?: (step: ProbeStep) => void;
    readonly signal?: AbortSignal;
    readonly dir?: string;
    /** Size of the probe file. @default {@link PROBE_FILE_BYTES}, or a quarter of the free space */
    readonly probeFileBytes?: number;
  } = {},
): Promise<{ limits: MachineLimits; cached: boolean } | undefined> {
  const found = await cachedOrWorthProbing(files, options.dir);
  if (found === "too small") return undefined;
  if (found !== "probe") return { limits: found, cached: true };
  const { limits } = await probeMachine({
    path: dirname(files[0]!),
    fallbackFiles: files,
    ...(options.probeFileBytes === undefined ? {} : { probeFileBytes: options.probeFileBytes }),
    ...(options.onStep && { onStep: options.onStep }),
    ...(options.signal && { signal: options.signal }),
  });
  await writeCachedLimits(limits, options.dir);
  return { limits, cached: false };
}
