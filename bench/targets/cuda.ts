/**
 * The `cuda:N` target: device memory of GPU N through the CUDA driver API.
 *
 * - `copyIn` is a synchronous `cuMemcpyHtoD_v2` from any host memory: DMA at
 *   the link's speed from pinned memory, staged by the driver from pageable
 *   memory (full reads, mappings). Every strategy works unchanged.
 * - `allocatePinned` gives page-locked staging (`cuMemHostAlloc`), and
 *   `copyInAsync` queues `cuMemcpyHtoDAsync_v2` from it on one of a few
 *   streams, resolving when an event after the copy completes (waited for on
 *   a pool thread); the target keeps the staging alive until then, and its
 *   `close()` waits for queued copies.
 * - `deviceAddress` gives a buffer's device address (for cuFile reads), and
 *   `kernels` loads PTX and launches kernels on the NULL stream, after every
 *   copy issued before (for dequantization on the GPU).
 * - `meterLoad` measures each load: device memory before, after, and its
 *   timeline and peak (sampled every 5 ms by a Worker), all from one source —
 *   NVML's used memory where NVML opens for the device, else the driver's
 *   `cuMemGetInfo` — named in the profile, the host-to-device copies by CUDA
 *   events, and after release it checks that every byte came back (a leak
 *   fails the case). Where no sample can be taken, the profile says
 *   "no GPU memory sampling" and why; the case goes on.
 *
 * Every call that needs the context runs on a thread where it is current:
 * the main thread, or the context's wait Worker for waits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cudaAvailability } from "./cuda.ts";
 *
 * const cuda = cudaAvailability();
 * if (!cuda.available) assert.match(cuda.reason, /no CUDA driver|CUDA_ERROR|no device/);
 * else assert.ok(cuda.devices.length > 0);
 * ```
 *
 * @module
 */

import { InputError } from "../util/errors.ts";
import {
  copyDeviceToHost,
  copyHostToDevice,
  copyHostToDeviceAsync,
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DISABLE_TIMING,
  CudaContext,
  type CudaDeviceInfo,
  type CudaDriver,
  cudaDriver,
  CudaError,
  CudaEvent,
  type CudaKernel,
  CudaModule,
  CudaStream,
  CudaUnavailableError,
  DeviceMemory,
  PinnedMemory,
} from "../ffi/cuda.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { Nvml, type NvmlDevice } from "../ffi/nvml.ts";
import { GpuMemorySampler, type MemorySource, SAMPLE_INTERVAL_MS } from "../gpu/memory_sampler.ts";
import { formatBytes } from "../util/size.ts";
import {
  type DeviceBuffer,
  DeviceLeakError,
  type DeviceLoadMeasure,
  type DeviceReleaseMeasure,
  type HostStaging,
  type KernelLauncher,
  type KernelModule,
  type KernelParam,
  type LoadMeter,
  type StagingOptions,
  type Target,
  type TargetInfo,
} from "../core/target.ts";

/** The library the driver is loaded from, as users know it. */
export const CUDA_DRIVER_LIBRARY = "libcuda.so.1";
/** Streams `copyInAsync` spreads copies over. @default 4 */
export const CUDA_STREAMS = 4;
/** Device memory a load may leave behind before it counts as a leak. @default 16 MiB */
export const DEVICE_LEAK_TOLERANCE = 16 << 20;
/** Device memory `reserve` keeps free beyond what it is asked for. @default 256 MiB */
export const RESERVE_HEADROOM = 256 << 20;
/** Reads back up to this size go through pinned memory; larger ones through pageable. @default 64 MiB */
const READBACK_PINNED_MAX = 64 << 20;
/** Smallest pinned read-back buffer. @default 16 MiB */
const READBACK_MIN = 16 << 20;
/** The key of the timing event recorded before a load's first copy (−1 is the NULL stream's end event). */
const START_EVENT = -2;

/** Options of {@link CudaTarget.open}. */
export interface CudaTargetOptions {
  /** The driver to use. @default the process's ({@link cudaDriver}) */
  readonly driver?: CudaDriver;
  /** Sample device memory in a Worker; `false` turns it off. @default true */
  readonly sampler?:
    | boolean
    | {
      readonly nvmlPaths?: readonly string[];
      readonly cudaPaths?: readonly string[];
      readonly intervalMs?: number;
    };
  /** NVML paths for the device's facts (driver version, PCIe link) and memory. @default the usual */
  readonly nvmlPaths?: readonly string[];
  /** Where device memory in use is read: NVML where it opens, else `cuMemGetInfo`. @default "auto" */
  readonly memorySource?: MemorySource | "auto";
  /** @default {@link CUDA_STREAMS} */
  readonly streams?: number;
  /** @default {@link DEVICE_LEAK_TOLERANCE} */
  readonly leakToleranceBytes?: number;
}

/** Whether CUDA can be used here, and what it has; the reason in words where it cannot. */
export type CudaAvailability =
  | {
    readonly available: true;
    readonly driver: CudaDriver;
    readonly version: number;
    readonly devices: readonly CudaDeviceInfo[];
  }
  | { readonly available: false; readonly reason: string };

/** Opens the driver and lists its devices; never throws. The reason names the driver's own answer. */
export function cudaAvailability(driver: () => CudaDriver = cudaDriver): CudaAvailability {
  let opened: CudaDriver;
  try {
    opened = driver();
  } catch (error) {
    if (error instanceof CudaUnavailableError) {
      return { available: false, reason: `no CUDA driver (${CUDA_DRIVER_LIBRARY} not found)` };
    }
    return { available: false, reason: `the CUDA driver cannot be loaded: ${message(error)}` };
  }
  const which = driverLabel(opened);
  try {
    const count = opened.deviceCount();
    if (count === 0) {
      return { available: false, reason: `the CUDA driver (${which}) reports no device` };
    }
    const devices = Array.from({ length: count }, (_, i) => opened.device(i));
    return { available: true, driver: opened, version: opened.version(), devices };
  } catch (error) {
    if (error instanceof CudaError && error.code === "CUDA_ERROR_NO_DEVICE") {
      return {
        available: false,
        reason: `the CUDA driver (${which}) found no GPU: ${error.message}`,
      };
    }
    return {
      available: false,
      reason: `the CUDA driver (${which}) did not initialise: ${message(error)}`,
    };
  }
}

/** `CUDA 12.2, /usr/lib/x86_64-linux-gnu/libcuda.so.1`: the driver's version, where it says, and path. */
function driverLabel(driver: CudaDriver): string {
  try {
    const version = driver.version();
    return `CUDA ${Math.floor(version / 1000)}.${(version % 1000) / 10}, ${driver.path}`;
  } catch {
    return driver.path;
  }
}

/**
 * Checks that `cuda:<ordinal>` can be opened here, without opening it: the
 * driver loads, initialises and has such a device. Returns the driver;
 * throws {@link InputError} (exit 2) with one line naming the driver's answer.
 */
export function checkCudaTarget(ordinal: number, given?: CudaDriver): CudaDriver {
  const id = `cuda:${ordinal}`;
  let driver: CudaDriver;
  try {
    driver = given ?? cudaDriver();
  } catch (error) {
    throw new InputError(
      `Target "${id}" is not available: no CUDA driver (${CUDA_DRIVER_LIBRARY} not found): ${
        message(error)
      }`,
      { cause: error },
    );
  }
  let count: number;
  try {
    count = driver.deviceCount();
  } catch (error) {
    throw new InputError(`Target "${id}" is not available: ${message(error)}`, { cause: error });
  }
  if (!Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal >= count) {
    const ids = Array.from({ length: count }, (_, i) => `cuda:${i}`).join(", ");
    throw new InputError(
      `Target "${id}" does not exist: this machine has ${count} CUDA device${
        count === 1 ? "" : "s"
      }${count > 0 ? ` (${ids})` : ""}`,
    );
  }
  return driver;
}

interface CudaBuffer extends DeviceBuffer {
  readonly memory: DeviceMemory;
  freed: boolean;
}

interface PendingCopy {
  readonly staging: PinnedStaging;
  readonly buffer: CudaBuffer;
  readonly stream: CudaStream;
}

/** Page-locked staging from `cuMemHostAlloc`, owned by its target. */
class PinnedStaging implements HostStaging {
  readonly pinned = true;
  readonly retained: boolean;
  /** The load (meter generation) it was allocated in. */
  readonly generation: number;
  /** Copies queued from it and not yet landed. */
  inFlight = 0;
  readonly #memory: PinnedMemory;
  readonly #release: (staging: PinnedStaging) => void;

  constructor(
    memory: PinnedMemory,
    retained: boolean,
    generation: number,
    release: (staging: PinnedStaging) => void,
  ) {
    this.#memory = memory;
    this.retained = retained;
    this.generation = generation;
    this.#release = release;
  }

  get size(): number {
    return this.#memory.size;
  }

  get closed(): boolean {
    return this.#memory.closed;
  }

  pointer(offset = 0): Deno.PointerObject {
    return this.#memory.pointer(offset);
  }

  view(offset: number, length: number): Uint8Array {
    return this.#memory.view(offset, length);
  }

  /** Frees the memory after the copies queued from it; later calls do nothing. */
  close(): void {
    if (this.#memory.closed) return;
    this.#release(this);
    this.#memory.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** GPU memory of one device as a load target. */
export class CudaTarget implements Target {
  readonly id: string;
  readonly transferPhase = "h2d" as const;
  readonly context: CudaContext;
  readonly #options: CudaTargetOptions;
  readonly #facts: Record<string, string | number | boolean>;
  readonly #buffers = new Set<CudaBuffer>();
  readonly #issued = new WeakSet<DeviceBuffer>();
  readonly #stagings = new Set<PinnedStaging>();
  readonly #pending = new Set<PendingCopy>();
  readonly #streams: CudaStream[] = [];
  readonly #completions: CudaEvent[] = [];
  readonly #timingEvents = new Map<number, CudaEvent>();
  readonly #modules = new Set<CudaModule>();
  readonly #kernels = new WeakMap<CudaModule, Map<string, CudaKernel>>();
  #timing = { started: false, ends: new Set<number>(), bytes: 0 };
  #nextStream = 0;
  #generation = 0;
  #readback: PinnedMemory | NativeMemory | undefined;
  #sampler: GpuMemorySampler | undefined;
  readonly #gauge: MemoryGauge;
  #pinnedLive = 0;
  #pinnedPeak = 0;
  #warm = false;
  #closed = false;

  private constructor(context: CudaContext, options: CudaTargetOptions) {
    this.context = context;
    this.id = `cuda:${context.device.ordinal}`;
    this.#options = options;
    this.#facts = deviceFacts(context, options.nvmlPaths);
    this.#gauge = memoryGauge(context, options);
    if (options.sampler !== false) {
      const sampler = typeof options.sampler === "object" ? options.sampler : {};
      this.#sampler = GpuMemorySampler.start({
        source: this.#gauge.source,
        ordinal: context.device.ordinal,
        pciBusId: context.device.pciBusId,
        ...(sampler.intervalMs !== undefined && { intervalMs: sampler.intervalMs }),
        ...((sampler.nvmlPaths ?? options.nvmlPaths) &&
          { nvmlPaths: sampler.nvmlPaths ?? options.nvmlPaths! }),
        ...(sampler.cudaPaths
          ? { cudaPaths: sampler.cudaPaths }
          : options.driver && { cudaPaths: [options.driver.path] }),
      });
    }
  }

  /** Where device memory is read from, and how its samples went, in words for the profile. */
  get memorySource(): string {
    const interval = typeof this.#options.sampler === "object"
      ? this.#options.sampler.intervalMs ?? SAMPLE_INTERVAL_MS
      : SAMPLE_INTERVAL_MS;
    const sampling = this.#sampler === undefined
      ? "; no GPU memory sampling: the sampler is off"
      : this.#sampler.problem !== undefined
      ? `; no GPU memory sampling: ${this.#sampler.problem}`
      : `, sampled every ${interval} ms`;
    return `${this.#gauge.label}${sampling}`;
  }

  /**
   * Opens `cuda:<ordinal>`: retains the device's primary context on this
   * thread. Throws {@link InputError} (exit 2) where there is no driver, the
   * driver fails to initialise (its CUDA error named), or no such device.
   */
  static open(ordinal: number, options: CudaTargetOptions = {}): CudaTarget {
    const id = `cuda:${ordinal}`;
    const driver = checkCudaTarget(ordinal, options.driver);
    let context: CudaContext;
    try {
      context = CudaContext.retainPrimary(driver, ordinal);
    } catch (error) {
      throw new InputError(`Target "${id}" is not available: ${message(error)}`, { cause: error });
    }
    try {
      return new CudaTarget(context, options);
    } catch (error) {
      context.close();
      throw error;
    }
  }

  /** Loads PTX modules and launches their kernels after every copy issued before (the NULL stream). */
  readonly kernels: KernelLauncher = {
    loadModule: (ptx: string): KernelModule => {
      this.#open();
      const module = CudaModule.load(this.context, ptx);
      this.#modules.add(module);
      return module;
    },
    launch: async (module, name, grid, block, params) => {
      if (!(module instanceof CudaModule) || !this.#modules.has(module)) {
        throw new Error(`A module not loaded by target ${this.id} was given to it`);
      }
      let kernels = this.#kernels.get(module);
      if (!kernels) this.#kernels.set(module, kernels = new Map());
      let kernel = kernels.get(name);
      if (!kernel) kernels.set(name, kernel = module.kernel(name));
      kernel.launch({
        grid,
        block,
        stream: null,
        args: params.map((p: KernelParam) =>
          p.kind === "address"
            ? { u64: this.deviceAddress(p.buffer, p.offset) }
            : { u64: BigInt(p.value) }
        ),
      });
      await this.synchronize();
    },
  };

  /** The context of the device's memory, for reads into it from other threads (cuFile). */
  get deviceContext(): CudaContext {
    return this.context;
  }

  /** The device address of `buffer` at `offset` (for reads into it by others: cuFile). */
  deviceAddress(buffer: DeviceBuffer, offset: number): bigint {
    return this.#range(buffer, offset, 0).memory.address(offset);
  }

  get info(): TargetInfo {
    return {
      ...this.#facts,
      memorySource: this.memorySource,
      waitMode: this.context.waitMode,
      ...(this.context.waitNote === undefined ? {} : { waitNote: this.context.waitNote }),
      streams: this.#streams.length,
      pinnedLiveBytes: this.#pinnedLive,
      pinnedPeakBytes: this.#pinnedPeak,
    };
  }

  /** The memory sampler, where one runs. */
  get sampler(): GpuMemorySampler | undefined {
    return this.#sampler;
  }

  /** Pinned staging bytes allocated through this target and not yet freed. */
  get pinnedLiveBytes(): number {
    return this.#pinnedLive;
  }

  /**
   * Creates the streams and events, initialises the driver's lazy state
   * outside any sample, and checks that `bytes` fit in the free device memory
   * with {@link RESERVE_HEADROOM} to spare: a clear {@link InputError} before
   * anything is allocated where they do not.
   */
  reserve(bytes: number): void {
    this.#open();
    this.#warmUp();
    const { free, total } = this.context.memoryInfo();
    const held = [...this.#buffers].reduce((n, b) => n + b.size, 0);
    if (bytes > free + held - Math.min(RESERVE_HEADROOM, total / 20)) {
      throw new InputError(
        `Cannot load ${
          formatBytes(bytes)
        } of weights onto ${this.id} (${this.context.device.name}): ` +
          `${formatBytes(free)} of its ${formatBytes(total)} are free`,
      );
    }
  }

  allocate(bytes: number): DeviceBuffer {
    this.#open();
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`Cannot allocate ${bytes} bytes: expected a byte count`);
    }
    const memory = DeviceMemory.allocate(this.context, Math.max(bytes, 1));
    const buffer: CudaBuffer = { target: this.id, size: bytes, memory, freed: false };
    this.#buffers.add(buffer);
    this.#issued.add(buffer);
    return buffer;
  }

  copyIn(
    buffer: DeviceBuffer,
    offset: number,
    source: Deno.PointerObject,
    length: number,
  ): Promise<void> {
    try {
      const device = this.#range(buffer, offset, length);
      if (length > 0) {
        this.#timeStart(null);
        copyHostToDevice(this.context, device.memory.address(offset), source, length);
        this.#timeEnd(-1, null, length);
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  allocatePinned(bytes: number, options: StagingOptions = {}): HostStaging {
    this.#open();
    const memory = PinnedMemory.allocate(this.context, Math.max(bytes, 1));
    const staging = new PinnedStaging(
      memory,
      options.retained ?? false,
      this.#generation,
      (s) => this.#releaseStaging(s),
    );
    this.#stagings.add(staging);
    this.#pinnedLive += memory.size;
    this.#pinnedPeak = Math.max(this.#pinnedPeak, this.#pinnedLive);
    return staging;
  }

  copyInAsync(
    buffer: DeviceBuffer,
    offset: number,
    source: HostStaging,
    sourceOffset: number,
    length: number,
  ): Promise<void> {
    let pending: PendingCopy;
    let event: CudaEvent;
    try {
      const device = this.#range(buffer, offset, length);
      if (sourceOffset < 0 || length < 0 || sourceOffset + length > source.size) {
        throw new RangeError(
          `Range ${sourceOffset}+${length} outside a ${source.size}-byte staging buffer`,
        );
      }
      if (length === 0) return Promise.resolve();
      if (!(source instanceof PinnedStaging) || !this.#stagings.has(source)) {
        // Not ours to keep alive: copy it now, synchronously.
        return this.copyIn(buffer, offset, source.pointer(sourceOffset), length);
      }
      if (this.#streams.length === 0) this.#warmUp();
      const index = this.#nextStream++ % this.#streams.length;
      const stream = this.#streams[index]!;
      this.#timeStart(stream);
      copyHostToDeviceAsync(
        stream,
        device.memory.address(offset),
        source.pointer(sourceOffset),
        length,
      );
      this.#timeEnd(index, stream, length);
      event = this.#completions.pop() ??
        CudaEvent.create(this.context, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
      event.record(stream);
      pending = { staging: source, buffer: device, stream };
    } catch (error) {
      return Promise.reject(error);
    }
    this.#pending.add(pending);
    pending.staging.inFlight++;
    return event.synchronize().finally(() => {
      this.#pending.delete(pending);
      pending.staging.inFlight--;
      if (this.#closed) event.close();
      else this.#completions.push(event);
    });
  }

  /**
   * Waits, off this thread, for every copy issued so far: an event on the
   * NULL stream follows the synchronous copies (whose DMA from pageable
   * memory may still run when they return) and, as the NULL stream waits for
   * the other streams, every queued copy too.
   */
  async synchronize(): Promise<void> {
    this.#open();
    const event = this.#completions.pop() ??
      CudaEvent.create(this.context, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
    try {
      event.record(null);
      await event.synchronize();
    } finally {
      if (this.#closed) event.close();
      else this.#completions.push(event);
    }
  }

  readBack(buffer: DeviceBuffer, offset: number, length: number): Uint8Array {
    const device = this.#range(buffer, offset, length);
    if (length === 0) return new Uint8Array(0);
    if (this.#pending.size > 0) this.context.synchronize();
    const staging = this.#readbackBuffer(length);
    copyDeviceToHost(this.context, staging.pointer(), device.memory.address(offset), length);
    return staging.view(0, length);
  }

  free(buffer: DeviceBuffer): void {
    const device = this.#own(buffer);
    if (device.freed) return;
    for (const copy of this.#pending) {
      if (copy.buffer === device) copy.stream.synchronizeNow();
    }
    device.freed = true;
    this.#buffers.delete(device);
    device.memory.close();
  }

  freeAll(): void {
    if (this.#closed) return;
    // After a failed load a copy may still be in flight, queued or (from pageable memory) in DMA.
    try {
      this.context.synchronize();
    } catch { /* a context in error still frees its memory */ }
    for (const buffer of [...this.#buffers]) this.free(buffer);
  }

  meterLoad(origin: number): LoadMeter {
    this.#open();
    this.#generation++;
    const generation = this.#generation;
    this.#timing = { started: false, ends: new Set(), bytes: 0 };
    const used = () => this.#gauge.read();
    const memoryBeforeBytes = used();
    const liveBefore = this.#buffers.size;
    const originEpoch = performance.timeOrigin + origin;
    const tolerance = this.#options.leakToleranceBytes ?? DEVICE_LEAK_TOLERANCE;
    return {
      loaded: (): DeviceLoadMeasure => {
        const nowEpoch = performance.timeOrigin + performance.now();
        this.context.synchronize();
        const memoryAfterBytes = used();
        const samples = this.#sampler?.window(originEpoch, nowEpoch) ?? [];
        return {
          memoryBeforeBytes,
          memoryAfterBytes,
          // one source for all three: the samples, and before and after, which bound the peak too
          peakMemoryBytes: samples.length === 0 ? null : Math.max(
            memoryBeforeBytes,
            memoryAfterBytes,
            ...samples.map((s) => s.usedBytes),
          ),
          gpuMemory: samples.map((s) => ({
            t: Math.round((s.epochMs - originEpoch) * 1000) / 1000,
            usedBytes: s.usedBytes,
          })),
          gpuMemorySource: this.memorySource,
          h2dEventMs: this.#h2dEventMs(),
          h2dBytes: this.#timing.bytes,
        };
      },
      released: (): DeviceReleaseMeasure => {
        if (this.#pending.size > 0) this.context.synchronize();
        const memoryReleasedBytes = used();
        const problems: string[] = [];
        if (this.#buffers.size > liveBefore) {
          const held = [...this.#buffers].reduce((n, b) => n + b.size, 0);
          problems.push(
            `${this.#buffers.size - liveBefore} device buffer(s) still allocated (${
              formatBytes(held)
            })`,
          );
        }
        if (memoryReleasedBytes - memoryBeforeBytes > tolerance) {
          problems.push(
            `${
              formatBytes(memoryReleasedBytes - memoryBeforeBytes)
            } more device memory in use than before the load`,
          );
        }
        const stagings = [...this.#stagings].filter((s) =>
          !s.retained && s.generation >= generation
        );
        if (stagings.length > 0) {
          problems.push(
            `${stagings.length} pinned staging buffer(s) still allocated (${
              formatBytes(stagings.reduce((n, s) => n + s.size, 0))
            })`,
          );
        }
        if (problems.length > 0) {
          throw new DeviceLeakError(
            `Memory leaked on ${this.id} after release: ${problems.join("; ")}`,
          );
        }
        return { memoryReleasedBytes };
      },
    };
  }

  /** Frees everything, stops the sampler, releases the context; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    try {
      if (this.#pending.size > 0) this.context.synchronize();
      this.freeAll();
      for (const staging of [...this.#stagings]) staging.close();
      this.#readback?.close();
      this.#readback = undefined;
      for (const module of this.#modules) module.close();
      this.#modules.clear();
      for (const event of this.#timingEvents.values()) event.close();
      this.#timingEvents.clear();
      for (const event of this.#completions) event.close();
      this.#completions.length = 0;
      for (const stream of this.#streams) stream.close();
      this.#streams.length = 0;
    } finally {
      this.#closed = true;
      this.#sampler?.close();
      this.#gauge.close();
      this.context.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(): void {
    if (this.#closed) throw new Error(`Target ${this.id} used after close()`);
  }

  /**
   * Streams, events, one tiny copy each way, and the context's wait Worker
   * started, so no sample pays for the driver's lazy set-up.
   */
  #warmUp(): void {
    if (this.#warm) return;
    this.context.startWaits();
    const count = Math.max(1, this.#options.streams ?? CUDA_STREAMS);
    while (this.#streams.length < count) this.#streams.push(CudaStream.create(this.context));
    for (let i = START_EVENT; i < count; i++) this.#timingEvent(i);
    using device = DeviceMemory.allocate(this.context, 2 << 20);
    using host = PinnedMemory.allocate(this.context, 4096);
    copyHostToDevice(this.context, device.address(), host.pointer(), 4096);
    copyHostToDeviceAsync(this.#streams[0]!, device.address(), host.pointer(), 4096);
    this.#streams[0]!.synchronizeNow();
    copyDeviceToHost(this.context, host.pointer(), device.address(), 4096);
    this.#warm = true;
  }

  #timingEvent(index: number): CudaEvent {
    let event = this.#timingEvents.get(index);
    if (!event) {
      event = CudaEvent.create(this.context);
      this.#timingEvents.set(index, event);
    }
    return event;
  }

  /** Records the load's start event before its first copy (index -1: the NULL stream). */
  #timeStart(stream: CudaStream | null): void {
    if (this.#timing.started) return;
    this.#timingEvent(START_EVENT).record(stream);
    this.#timing.started = true;
  }

  /** Records the end event of `stream` after a copy of `bytes`. */
  #timeEnd(index: number, stream: CudaStream | null, bytes: number): void {
    this.#timingEvent(index).record(stream);
    this.#timing.ends.add(index);
    this.#timing.bytes += bytes;
  }

  #h2dEventMs(): number | null {
    if (!this.#timing.started || this.#timing.ends.size === 0) return null;
    const start = this.#timingEvent(START_EVENT);
    let latest = 0;
    for (const index of this.#timing.ends) {
      latest = Math.max(latest, CudaEvent.elapsedMs(start, this.#timingEvent(index)));
    }
    return latest;
  }

  #readbackBuffer(length: number): PinnedMemory | NativeMemory {
    if (this.#readback && this.#readback.size >= length) return this.#readback;
    this.#readback?.close();
    this.#readback = undefined;
    this.#readback = length <= READBACK_PINNED_MAX
      ? PinnedMemory.allocate(this.context, Math.max(length, READBACK_MIN))
      : NativeMemory.allocate(length);
    return this.#readback;
  }

  #releaseStaging(staging: PinnedStaging): void {
    if (staging.inFlight > 0) {
      for (const copy of this.#pending) {
        if (copy.staging === staging) copy.stream.synchronizeNow();
      }
    }
    if (this.#stagings.delete(staging)) this.#pinnedLive -= staging.size;
  }

  #own(buffer: DeviceBuffer): CudaBuffer {
    if (!this.#issued.has(buffer)) {
      throw new Error(
        `A buffer of another target ("${buffer.target}") was given to target ${this.id}`,
      );
    }
    return buffer as CudaBuffer;
  }

  #range(buffer: DeviceBuffer, offset: number, length: number): CudaBuffer {
    this.#open();
    const device = this.#own(buffer);
    if (device.freed) throw new Error(`Device buffer used after free() on ${this.id}`);
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
      offset + length > device.size
    ) {
      throw new RangeError(
        `Range ${offset}+${length} outside a ${device.size}-byte buffer on ${this.id}`,
      );
    }
    return device;
  }
}

/** Device memory in use, from one source, read the same way before, during and after a load. */
interface MemoryGauge {
  readonly source: MemorySource;
  /** The source in words, with why NVML is not it where NVML was wanted. */
  readonly label: string;
  read(): number;
  close(): void;
}

/** NVML's used memory of the device where NVML opens and answers for it, else `cuMemGetInfo`. */
function memoryGauge(context: CudaContext, options: CudaTargetOptions): MemoryGauge {
  const wanted = options.memorySource ?? "auto";
  let nvmlProblem = "not asked for";
  if (wanted !== "cuMemGetInfo") {
    let nvml: Nvml | undefined;
    try {
      nvml = Nvml.open(options.nvmlPaths ? { paths: options.nvmlPaths } : {});
      const device: NvmlDevice = nvml.deviceByPciBusId(context.device.pciBusId);
      device.memory();
      const opened = nvml;
      return {
        source: "nvml",
        label: "nvml (used memory, reserved included)",
        read: () => device.memory().used,
        close: () => opened.close(),
      };
    } catch (error) {
      nvml?.close();
      if (wanted === "nvml") throw error;
      nvmlProblem = message(error);
    }
  }
  return {
    source: "cuMemGetInfo",
    label: `cuMemGetInfo (total − free; NVML: ${nvmlProblem})`,
    read: () => {
      const { free, total } = context.memoryInfo();
      return total - free;
    },
    close: () => {},
  };
}

/** The facts a profile records about the device, from the driver and, where it opens, NVML. */
function deviceFacts(
  context: CudaContext,
  nvmlPaths: readonly string[] | undefined,
): Record<string, string | number | boolean> {
  const { device, driver } = context;
  const version = driver.version();
  const facts: Record<string, string | number | boolean> = {
    kind: "cuda",
    name: device.name,
    cudaDriverVersion: `${Math.floor(version / 1000)}.${(version % 1000) / 10}`,
    driver: `CUDA ${Math.floor(version / 1000)}.${(version % 1000) / 10}`,
    pciBusId: device.pciBusId,
    computeCapability: device.computeCapability,
    totalMemoryBytes: device.totalMemoryBytes,
    multiprocessors: device.multiprocessors,
    copyEngines: device.copyEngines,
    driverLibrary: driver.path,
  };
  if (device.uuid) facts.uuid = device.uuid;
  try {
    using nvml = Nvml.open(nvmlPaths ? { paths: nvmlPaths } : {});
    facts.driver = nvml.driverVersion();
    const link = nvml.deviceByPciBusId(device.pciBusId).pcieLink();
    if (link.generation !== null) facts.pcieLinkGeneration = link.generation;
    if (link.width !== null) facts.pcieLinkWidth = link.width;
    if (link.maxGeneration !== null) facts.pcieLinkMaxGeneration = link.maxGeneration;
    if (link.maxWidth !== null) facts.pcieLinkMaxWidth = link.maxWidth;
    if (link.problems.length > 0) facts.nvmlProblems = link.problems.join("; ");
  } catch (error) {
    facts.nvml = `unavailable: ${message(error)}`;
  }
  return facts;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
