/**
 * Host-to-device and device-to-host bandwidth of each GPU: large copies from
 * and to pinned memory (queued on a stream) and pageable memory (synchronous,
 * staged by the driver), timed with CUDA events on the device's own clock.
 * These are the ceilings the `cuda:N` cases are rated against.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { noDeviceReason, probeDevices } from "./device.ts";
 *
 * const devices = await probeDevices({ bytes: 64 << 20, attempts: 1 });
 * for (const d of devices) assert.ok(d.pinnedH2DGBps > 0);
 * if (devices.length === 0) assert.ok(noDeviceReason()!.length > 0);
 * ```
 *
 * @module
 */

import {
  copyDeviceToHost,
  copyDeviceToHostAsync,
  copyHostToDevice,
  copyHostToDeviceAsync,
  CudaContext,
  type CudaDriver,
  CudaEvent,
  CudaStream,
  DeviceMemory,
  PinnedMemory,
} from "../ffi/cuda.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { cudaAvailability } from "../targets/cuda.ts";

/** Bytes per copy. @default 1 GiB */
export const DEVICE_PROBE_BYTES = 1 << 30;
/** Copies per direction and kind of memory; the best counts. @default 3 */
export const DEVICE_PROBE_ATTEMPTS = 3;

/** One device's links, in decimal GB/s by CUDA events (the `MachineLimits.devices` entry). */
export interface DeviceLinks {
  readonly id: string;
  readonly name: string;
  readonly pinnedH2DGBps: number;
  readonly pageableH2DGBps: number;
  readonly pinnedD2HGBps: number;
  readonly pageableD2HGBps: number;
}

/** Options of {@link probeDevice} and {@link probeDevices}. */
export interface DeviceProbeOptions {
  /** @default {@link DEVICE_PROBE_BYTES} */
  readonly bytes?: number;
  /** @default {@link DEVICE_PROBE_ATTEMPTS} */
  readonly attempts?: number;
  /** Told before each device. */
  readonly onDevice?: (id: string, done: number, total: number) => void;
}

/** Measures the links of device `ordinal`. */
export async function probeDevice(
  driver: CudaDriver,
  ordinal: number,
  options: DeviceProbeOptions = {},
): Promise<DeviceLinks> {
  const bytes = options.bytes ?? DEVICE_PROBE_BYTES;
  const attempts = options.attempts ?? DEVICE_PROBE_ATTEMPTS;
  using context = CudaContext.retainPrimary(driver, ordinal);
  using device = DeviceMemory.allocate(context, bytes);
  using pinned = PinnedMemory.allocate(context, bytes);
  using pageable = NativeMemory.allocate(bytes, { populate: true });
  using stream = CudaStream.create(context);
  using start = CudaEvent.create(context);
  using end = CudaEvent.create(context);
  pinned.view(0, bytes).fill(1);

  /** Best GB/s of `attempts` runs of `copy` between events on `on` (null: the NULL stream). */
  const best = async (on: CudaStream | null, copy: () => void): Promise<number> => {
    let fastest = 0;
    for (let i = 0; i < attempts + 1; i++) {
      start.record(on);
      copy();
      end.record(on);
      await end.synchronize();
      const ms = CudaEvent.elapsedMs(start, end);
      // The first run warms the path (page tables, staging buffers) and is not counted.
      if (i > 0 && ms > 0) fastest = Math.max(fastest, bytes / (ms * 1e6));
    }
    return fastest;
  };
  const address = device.address();
  return {
    id: `cuda:${ordinal}`,
    name: context.device.name,
    pinnedH2DGBps: await best(
      stream,
      () => copyHostToDeviceAsync(stream, address, pinned.pointer(), bytes),
    ),
    pageableH2DGBps: await best(
      null,
      () => copyHostToDevice(context, address, pageable.pointer(), bytes),
    ),
    pinnedD2HGBps: await best(
      stream,
      () => copyDeviceToHostAsync(stream, pinned.pointer(), address, bytes),
    ),
    pageableD2HGBps: await best(
      null,
      () => copyDeviceToHost(context, pageable.pointer(), address, bytes),
    ),
  };
}

/** The names of the GPUs the driver sees (for the limits' cache key); none without a usable driver. */
export function gpuNames(): string[] {
  const cuda = cudaAvailability();
  return cuda.available ? cuda.devices.map((d) => d.name) : [];
}

/** Why no device can be probed here (the driver's answer), or undefined where one can. */
export function noDeviceReason(): string | undefined {
  const cuda = cudaAvailability();
  return cuda.available ? undefined : cuda.reason;
}

/** Measures every device the driver sees; none where there is no usable driver. */
export async function probeDevices(options: DeviceProbeOptions = {}): Promise<DeviceLinks[]> {
  const cuda = cudaAvailability();
  if (!cuda.available) return [];
  const links: DeviceLinks[] = [];
  for (const [i, device] of cuda.devices.entries()) {
    options.onDevice?.(`cuda:${device.ordinal}`, i, cuda.devices.length);
    links.push(await probeDevice(cuda.driver, device.ordinal, options));
  }
  return links;
}
