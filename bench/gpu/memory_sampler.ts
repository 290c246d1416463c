/**
 * A device's memory in use over time, sampled every few milliseconds by a
 * Worker into a ring in shared memory, so the main thread can read the
 * timeline of any window synchronously, even while it was blocked in a
 * synchronous copy. The caller names the one source (`nvml`: NVML's used
 * memory, reserved memory included; `cuMemGetInfo`: total − free, with the
 * context current on the Worker's thread), the same one it reads memory
 * before and after a load from, so the three figures compare.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GpuMemorySampler } from "./memory_sampler.ts";
 *
 * // No GPU here: the sampler starts, fails, and says why; its windows are empty.
 * using sampler = GpuMemorySampler.start({ source: "nvml", ordinal: 0, pciBusId: "0000:00:00.0", nvmlPaths: ["/nonexistent"] });
 * assert.equal(await sampler.ready(5000), false);
 * assert.match(sampler.problem!, /^NVML: Cannot open NVML/);
 * assert.deepEqual(sampler.window(0, Infinity), []);
 * ```
 *
 * @module
 */

/** The ring's header: Int32 slots, then the samples as (epoch ms, used bytes) Float64 pairs. */
export const HEADER = { state: 0, count: 1, stop: 2, source: 3, length: 8, bytes: 32 } as const;
/** The Worker is opening NVML or the driver. */
export const SAMPLER_STARTING = 0;
/** Samples are being written. */
export const SAMPLER_RUNNING = 1;
/** The source could not be read, or a read failed. */
export const SAMPLER_FAILED = 2;
/** Stopped on request. */
export const SAMPLER_STOPPED = 3;
/** The samples come from NVML. */
export const SOURCE_NVML = 1;
/** The samples come from `cuMemGetInfo` in the Worker. */
export const SOURCE_CUDA = 2;

/** Milliseconds between samples. @default 5 */
export const SAMPLE_INTERVAL_MS = 5;
/** Samples the ring holds: about 5 minutes at 5 ms. @default 65536 */
export const SAMPLE_CAPACITY = 1 << 16;

/** How long `close()` waits for the Worker to stop before terminating it. @default 1000 */
const STOP_WAIT_MS = 1000;

/** Where device memory in use is read from. */
export type MemorySource = "nvml" | "cuMemGetInfo";

/** What the Worker is told. */
export interface SamplerConfig {
  readonly buffer: SharedArrayBuffer;
  readonly source: MemorySource;
  /** The CUDA ordinal, for the driver fallback (and NVML's index where the bus id is unknown to it). */
  readonly ordinal: number;
  /** `0000:18:00.0`: how NVML finds the device CUDA calls `ordinal`. */
  readonly pciBusId: string;
  readonly intervalMs: number;
  readonly nvmlPaths?: readonly string[];
  readonly cudaPaths?: readonly string[];
}

/** Options of {@link GpuMemorySampler.start}. */
export interface SamplerOptions {
  /** The one source to read. */
  readonly source: MemorySource;
  readonly ordinal: number;
  readonly pciBusId: string;
  /** @default {@link SAMPLE_INTERVAL_MS} */
  readonly intervalMs?: number;
  /** @default {@link SAMPLE_CAPACITY} */
  readonly capacity?: number;
  /** NVML paths to try in place of the usual ones. */
  readonly nvmlPaths?: readonly string[];
  /** Driver paths to try in place of the usual ones. */
  readonly cudaPaths?: readonly string[];
}

/** One sample: when (epoch ms, `performance.timeOrigin + performance.now()`), and the bytes in use. */
export interface MemorySample {
  readonly epochMs: number;
  readonly usedBytes: number;
}

/** A running sampler; `close()` stops its Worker and is safe to call twice. */
export class GpuMemorySampler implements Disposable {
  readonly #worker: Worker;
  readonly #header: Int32Array;
  readonly #data: Float64Array;
  readonly #capacity: number;
  #error: string | undefined;
  #closed = false;
  readonly #settled: Promise<void>;

  private constructor(worker: Worker, buffer: SharedArrayBuffer, capacity: number) {
    this.#worker = worker;
    this.#header = new Int32Array(buffer, 0, HEADER.length);
    this.#data = new Float64Array(buffer, HEADER.bytes);
    this.#capacity = capacity;
    let settle = () => {};
    this.#settled = new Promise((resolve) => settle = resolve);
    worker.onmessage = (event: MessageEvent<{ state?: string; error?: string }>) => {
      if (event.data.error !== undefined) this.#error = event.data.error;
      if (event.data.error !== undefined || event.data.state !== undefined) settle();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#error = event.message;
      Atomics.store(this.#header, HEADER.state, SAMPLER_FAILED);
      settle();
    };
  }

  /** Starts the Worker; it opens its source (NVML, or the driver) on its own thread. */
  static start(options: SamplerOptions): GpuMemorySampler {
    const capacity = options.capacity ?? SAMPLE_CAPACITY;
    const buffer = new SharedArrayBuffer(HEADER.bytes + capacity * 2 * 8);
    const worker = new Worker(new URL("./_memory_sampler_worker.ts", import.meta.url), {
      type: "module",
    });
    const sampler = new GpuMemorySampler(worker, buffer, capacity);
    const config: SamplerConfig = {
      buffer,
      source: options.source,
      ordinal: options.ordinal,
      pciBusId: options.pciBusId,
      intervalMs: options.intervalMs ?? SAMPLE_INTERVAL_MS,
      ...(options.nvmlPaths && { nvmlPaths: options.nvmlPaths }),
      ...(options.cudaPaths && { cudaPaths: options.cudaPaths }),
    };
    worker.postMessage(config);
    return sampler;
  }

  /** Waits until the Worker samples or fails (at most `timeoutMs`); true when it samples. */
  async ready(timeoutMs = 10_000): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#settled,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    return this.state === "running";
  }

  /** `starting`, `running`, `failed` or `stopped`. */
  get state(): "starting" | "running" | "failed" | "stopped" {
    switch (Atomics.load(this.#header, HEADER.state)) {
      case SAMPLER_RUNNING:
        return "running";
      case SAMPLER_FAILED:
        return "failed";
      case SAMPLER_STOPPED:
        return "stopped";
      case SAMPLER_STARTING: // the buffer starts zeroed: the Worker has not written yet
        return "starting";
    }
    throw new Error("Memory sampler: unknown state in its shared buffer");
  }

  /** `nvml` or `cuMemGetInfo` once samples are taken; `none` before, or where there are none. */
  get source(): MemorySource | "none" {
    const source = Atomics.load(this.#header, HEADER.source);
    if (source === SOURCE_NVML) return "nvml";
    if (source === SOURCE_CUDA) return "cuMemGetInfo";
    return "none";
  }

  /** Why there are no samples (the source's error), where the sampler failed. */
  get problem(): string | undefined {
    return this.state === "failed" ? this.#error ?? "unknown error" : undefined;
  }

  /** Samples taken so far. */
  get count(): number {
    return Atomics.load(this.#header, HEADER.count);
  }

  /** The samples taken from `fromEpochMs` to `toEpochMs`, oldest first. */
  window(fromEpochMs: number, toEpochMs: number): MemorySample[] {
    const count = Atomics.load(this.#header, HEADER.count);
    const first = Math.max(0, count - this.#capacity);
    const samples: MemorySample[] = [];
    for (let i = first; i < count; i++) {
      const slot = (i % this.#capacity) * 2;
      const epochMs = this.#data[slot]!;
      if (epochMs >= fromEpochMs && epochMs <= toEpochMs) {
        samples.push({ epochMs, usedBytes: this.#data[slot + 1]! });
      }
    }
    return samples;
  }

  /** Stops the Worker, letting it release NVML or its context first (up to a second); later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#header, HEADER.stop, 1);
    Atomics.notify(this.#header, HEADER.stop);
    const deadline = performance.now() + STOP_WAIT_MS;
    while (this.state === "running" && performance.now() < deadline) {
      Atomics.wait(this.#header, HEADER.state, SAMPLER_RUNNING, STOP_WAIT_MS / 10);
    }
    this.#worker.terminate();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
