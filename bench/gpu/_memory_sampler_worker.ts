/**
 * The memory sampler's Worker: reads a device's memory in use every few
 * milliseconds, on its own thread, into a ring in shared memory, while the
 * main thread may be blocked in a synchronous copy. From the one source it is
 * told: NVML, or `cuMemGetInfo` with the device's primary context made
 * current on this thread (a Worker owns its thread, so the context stays
 * current). Where that source fails, it fails, and says why: it never
 * switches to another source, whose figures would not compare.
 *
 * Protocol: one message with {@link SamplerConfig}; then the Worker loops until
 * the stop flag is set, and posts `{ state }` or `{ error }` as it changes.
 *
 * @module
 */

import { CudaContext, CudaDriver } from "../ffi/cuda.ts";
import { Nvml } from "../ffi/nvml.ts";
import {
  HEADER,
  SAMPLER_FAILED,
  SAMPLER_RUNNING,
  SAMPLER_STOPPED,
  type SamplerConfig,
  SOURCE_CUDA,
  SOURCE_NVML,
} from "./memory_sampler.ts";

declare const self: {
  onmessage: ((event: MessageEvent<SamplerConfig>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};

self.onmessage = (event) => {
  self.onmessage = null;
  const config = event.data;
  const header = new Int32Array(config.buffer, 0, HEADER.length);
  const data = new Float64Array(config.buffer, HEADER.bytes);
  const capacity = data.length / 2;
  const errors: string[] = [];
  let read: (() => number) | undefined;
  let cleanup = () => {};

  if (config.source === "nvml") {
    try {
      const nvml = Nvml.open(config.nvmlPaths ? { paths: config.nvmlPaths } : {});
      try {
        let device;
        try {
          device = nvml.deviceByPciBusId(config.pciBusId);
        } catch {
          device = nvml.device(config.ordinal);
        }
        device.memory();
        read = () => device.memory().used;
        header[HEADER.source] = SOURCE_NVML;
        cleanup = () => nvml.close();
      } catch (error) {
        nvml.close();
        throw error;
      }
    } catch (error) {
      errors.push(`NVML: ${(error as Error).message}`);
    }
  } else {
    try {
      const driver = CudaDriver.open(config.cudaPaths ? { paths: config.cudaPaths } : {});
      const context = CudaContext.retainPrimary(driver, config.ordinal);
      read = () => {
        const { free, total } = context.memoryInfo();
        return total - free;
      };
      header[HEADER.source] = SOURCE_CUDA;
      cleanup = () => {
        context.close();
        // the driver library stays loaded: unloading libcuda under its own threads is unsafe
      };
    } catch (error) {
      errors.push(`cuMemGetInfo: ${(error as Error).message}`);
    }
  }

  if (!read) {
    Atomics.store(header, HEADER.state, SAMPLER_FAILED);
    self.postMessage({ error: errors.join("; ") });
    return;
  }

  Atomics.store(header, HEADER.state, SAMPLER_RUNNING);
  self.postMessage({ state: "running" });
  let failure: string | undefined;
  try {
    while (Atomics.load(header, HEADER.stop) === 0) {
      const used = read();
      const count = Atomics.load(header, HEADER.count);
      const slot = (count % capacity) * 2;
      data[slot] = performance.timeOrigin + performance.now();
      data[slot + 1] = used;
      Atomics.store(header, HEADER.count, count + 1);
      Atomics.wait(header, HEADER.stop, 0, config.intervalMs);
    }
  } catch (error) {
    failure = (error as Error).message;
  }
  try {
    cleanup();
  } finally {
    // The main thread waits for this before it terminates the Worker.
    Atomics.store(header, HEADER.state, failure === undefined ? SAMPLER_STOPPED : SAMPLER_FAILED);
    Atomics.notify(header, HEADER.state);
    self.postMessage(failure === undefined ? { state: "stopped" } : { error: failure });
  }
};
