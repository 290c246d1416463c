/**
 * Where loaded weights end up. A target owns its memory (device memory on a
 * GPU, an arena of CPU memory on `host`) and the copy into it; strategies only
 * hand it host pointers, so a new target plugs in without changing any
 * strategy.
 *
 * Four optional extensions, typed members that a target has or lacks. A
 * strategy that only copies works without any; one that needs an extension
 * (the gpu path of `quantized`, `gds`) checks that it is there, and skips the
 * case with the reason where it is not:
 *
 * - Staging: {@link Target.allocatePinned} gives host memory the target
 *   copies from fastest (page-locked on a GPU; ordinary memory on `host`),
 *   and {@link Target.copyInAsync} queues a copy from it (on a stream, on a
 *   GPU) that resolves once the bytes have landed and the staging may be
 *   reused. The target keeps the staging alive until then.
 * - Metering: {@link Target.meterLoad} measures a load from outside it —
 *   device memory before and after, its peak and timeline, the time of the
 *   host-to-device copies by the device's own clock — and checks that every
 *   byte of device and pinned memory came back after release.
 * - Kernels: {@link Target.kernels} loads PTX and launches its kernels on the
 *   target's memory, after the copies issued before (the `quantized`
 *   strategy's GPU path dequantizes this way).
 * - Device addresses: {@link Target.deviceAddress} gives the address of a
 *   byte of a buffer, for reads into it by others (cuFile, for `gds`).
 *
 * The `host` target has staging only; a `cuda:N` target has all four.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Target } from "./target.ts";
 *
 * // Why the dequantization kernels cannot run on `target`, or undefined.
 * function kernelsMissing(target: Pick<Target, "id" | "kernels">): string | undefined {
 *   return target.kernels === undefined ? `Target "${target.id}" runs no kernels` : undefined;
 * }
 * assert.equal(kernelsMissing({ id: "host" }), 'Target "host" runs no kernels');
 * ```
 *
 * @module
 */

import type { CudaContext } from "../ffi/cuda.ts";

/** A region of target memory returned by {@link Target.allocate}. */
export interface DeviceBuffer {
  /** The target that owns it. */
  readonly target: string;
  /** Its size in bytes. */
  readonly size: number;
}

/**
 * Host memory for staging copies into a target: page-locked (pinned) on a GPU,
 * so copies run at the link's speed and can be queued; ordinary memory on
 * `host`. `close()` is safe to call twice, and waits for queued copies.
 */
export interface HostStaging extends Disposable {
  /** Its size in bytes. */
  readonly size: number;
  /** Whether the memory is page-locked for DMA. */
  readonly pinned: boolean;
  /** True once closed. */
  readonly closed: boolean;
  /** The address of byte `offset`. */
  pointer(offset?: number): Deno.PointerObject;
  /** A view of `length` bytes from `offset`; valid until `close()`. */
  view(offset: number, length: number): Uint8Array;
  /** Releases the memory once no queued copy reads it; later calls do nothing. */
  close(): void;
}

/** Options of {@link Target.allocatePinned}. */
export interface StagingOptions {
  /**
   * The caller keeps the staging across loads (a pool), so a load's meter
   * does not count it as leaked; it is still freed with the target.
   *
   * @default false
   */
  readonly retained?: boolean;
}

/** What {@link LoadMeter.loaded} measured, right after a load. */
export interface DeviceLoadMeasure {
  /** Device memory in use (total − free) when the load started. */
  readonly memoryBeforeBytes: number;
  /** Device memory in use right after the load, before verification and release. */
  readonly memoryAfterBytes: number;
  /** The most device memory in use during the load, from the sampler; null without one. */
  readonly peakMemoryBytes: number | null;
  /** Device memory in use over the load, `t` in ms from its start; empty without a sampler. */
  readonly gpuMemory: readonly { readonly t: number; readonly usedBytes: number }[];
  /** Where the timeline came from: `nvml`, `cuda` (cuMemGetInfo in a Worker), or why there is none. */
  readonly gpuMemorySource: string;
  /**
   * Milliseconds from the start of the load's first host-to-device copy to the
   * end of its last, by the device's clock (CUDA events); null without copies.
   */
  readonly h2dEventMs: number | null;
  /** Bytes copied host to device during the load. */
  readonly h2dBytes: number;
}

/** What {@link LoadMeter.released} measured, after the load's buffers were freed. */
export interface DeviceReleaseMeasure {
  /** Device memory in use after release. */
  readonly memoryReleasedBytes: number;
}

/** Measures one load from outside it; made by {@link Target.meterLoad} just before the load. */
export interface LoadMeter {
  /** Right after the load, before verification. */
  loaded(): DeviceLoadMeasure;
  /**
   * After the load's buffers are freed: throws {@link DeviceLeakError} when
   * device memory did not return to its level before the load, or pinned
   * staging allocated during the load (not retained) is still open.
   */
  released(): DeviceReleaseMeasure;
}

/** Device or pinned memory was not returned after a load: the case fails. */
export class DeviceLeakError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeviceLeakError";
  }
}

/** One kernel parameter: a device address (a buffer of the target, at an offset) or a 64-bit count. */
export type KernelParam =
  | { readonly kind: "address"; readonly buffer: DeviceBuffer; readonly offset: number }
  | { readonly kind: "u64"; readonly value: number };

/** A loaded module (`CUmodule`); `close()` unloads it and is safe to call twice. */
export interface KernelModule extends Disposable {
  close(): void;
}

/** What a target offers to run kernels ({@link Target.kernels}): a CUDA target has it. */
export interface KernelLauncher {
  /** Loads PTX text (`cuModuleLoadData`), for the target's device and context. */
  loadModule(ptx: string): KernelModule;
  /**
   * Launches kernel `name` of `module` (`cuLaunchKernel`) on the stream the
   * target's copies use, so it runs after every copy issued before it; the
   * promise settles when the kernel has finished (an event after it), so a
   * span around it is the kernel's time.
   */
  launch(
    module: KernelModule,
    name: string,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    params: readonly KernelParam[],
  ): Promise<void>;
}

/** Facts about a target for the profile. */
export type TargetInfo = Readonly<Record<string, string | number | boolean>>;

/** A destination for weights: `host`, `cuda:0`, … */
export interface Target extends Disposable {
  /** The id users write: `host`, `cuda:N`. */
  readonly id: string;
  /** The phase a copy into this target records: `copy` for host memory, `h2d` for a GPU. */
  readonly transferPhase: "copy" | "h2d";
  /** What the profile records about the target. */
  readonly info: TargetInfo;
  /**
   * Gets ready to hold `bytes` at once in the samples to come, outside any
   * timing (the host target maps and faults in its arena here, as a GPU's
   * memory exists before a load starts).
   */
  reserve(bytes: number): void;
  /** Allocates `bytes` of target memory. */
  allocate(bytes: number): DeviceBuffer;
  /** Copies `length` bytes from host memory at `source` to `buffer` at `offset`. */
  copyIn(
    buffer: DeviceBuffer,
    offset: number,
    source: Deno.PointerObject,
    length: number,
  ): Promise<void>;
  /** Waits until every copy issued so far has landed. */
  synchronize(): Promise<void>;
  /**
   * The bytes of `buffer` at `offset`, in host memory, for verification. The
   * view is valid until the next `readBack` or `free`.
   */
  readBack(buffer: DeviceBuffer, offset: number, length: number): Uint8Array;
  /** Returns `buffer`'s memory to the target; freeing twice does nothing. */
  free(buffer: DeviceBuffer): void;
  /** Frees every live buffer, after a load that failed part-way. */
  freeAll(): void;
  /**
   * Host memory to stage copies in, page-locked where the target is a GPU.
   * Strategies fall back to ordinary memory where a target lacks it.
   */
  allocatePinned?(bytes: number, options?: StagingOptions): HostStaging;
  /**
   * Queues a copy of `length` bytes of `source` at `sourceOffset` to `buffer`
   * at `offset` (on a stream, on a GPU), and resolves once they have landed
   * and `source` may be written again. Copies queued back to back overlap
   * with whatever the caller does meanwhile (reading the next chunk).
   */
  copyInAsync?(
    buffer: DeviceBuffer,
    offset: number,
    source: HostStaging,
    sourceOffset: number,
    length: number,
  ): Promise<void>;
  /**
   * Starts measuring a load that starts now; `origin` is the
   * `performance.now()` its times count from (the recorder's origin).
   */
  meterLoad?(origin: number): LoadMeter;
  /** Runs kernels on the target's memory; absent where the target cannot (the host target). */
  readonly kernels?: KernelLauncher;
  /**
   * The device address of `buffer` at `offset`, for reads into it by others
   * (cuFile); absent where the target has no device memory (the host target).
   * Throws a `RangeError` for an offset outside the buffer.
   */
  deviceAddress?(buffer: DeviceBuffer, offset: number): bigint;
  /** The CUDA context of that memory, for reads into it from other threads (cuFile); absent with it. */
  readonly deviceContext?: CudaContext;
  /** Releases everything the target holds; safe to call twice. */
  close(): void;
}
