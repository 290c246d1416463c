/**
 * The CUDA driver API (`libcuda.so.1`, the driver itself: not the runtime,
 * not the toolkit's stubs) through Deno's FFI: devices, the primary context,
 * device memory, pinned host memory, synchronous and stream-ordered copies,
 * streams, events, and modules with kernel launches.
 *
 * One symbol table ({@link CUDA_SYMBOLS}), opened by the project's loader
 * ({@link CudaDriver.open}: `WEIGHTBENCH_LIBCUDA` first, then the usual names,
 * every path tried listed on failure), one {@link CudaDriver.unwrap} that turns
 * a `CUresult` into a {@link CudaError} with the driver's own name and text
 * (`cuGetErrorName`, `cuGetErrorString`). Native resources are {@link Owned}:
 * `close()` is safe to call twice.
 *
 * Threads: a CUDA context is current per OS thread. Every call that needs
 * one runs on a thread where it is current: the calling thread after
 * {@link CudaContext.makeCurrent} (which asks the driver what is current, so
 * a library that pushes and pops contexts behind our back cannot leave a
 * stale answer), or, for waits on streams and events, a Worker that made the
 * context current on its own thread once ({@link CudaContext.wait}). Should
 * that Worker fail in any way, waits block the calling thread instead, and
 * {@link CudaContext.waitMode} says so and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CudaDriver, CudaError, CudaUnavailableError } from "./cuda.ts";
 *
 * let driver: CudaDriver | undefined;
 * try {
 *   driver = CudaDriver.open();
 *   driver.deviceCount();
 * } catch (error) {
 *   // no driver here, or one without a device (the driver names the code)
 *   assert.ok(error instanceof CudaUnavailableError || error instanceof CudaError);
 * }
 * ```
 *
 * @module
 */

import {
  cStringAt,
  cText,
  type LibrarySpec,
  LibraryUnavailableError,
  NativeCallError,
  openLibrary,
  Owned,
} from "./library.ts";

/** `CUDA_SUCCESS`. */
export const CUDA_SUCCESS = 0;
/** `CUDA_ERROR_INVALID_VALUE`. */
export const CUDA_ERROR_INVALID_VALUE = 1;
/** `CUDA_ERROR_OUT_OF_MEMORY`. */
export const CUDA_ERROR_OUT_OF_MEMORY = 2;
/** `CUDA_ERROR_NOT_INITIALIZED`: `cuInit` was not called, or failed. */
export const CUDA_ERROR_NOT_INITIALIZED = 3;
/** `CUDA_ERROR_STUB_LIBRARY`: the toolkit's stub `libcuda.so` was loaded, not the driver. */
export const CUDA_ERROR_STUB_LIBRARY = 34;
/** `CUDA_ERROR_NO_DEVICE`: the driver found no CUDA device. */
export const CUDA_ERROR_NO_DEVICE = 100;
/** `CUDA_ERROR_INVALID_DEVICE`: no device has that ordinal. */
export const CUDA_ERROR_INVALID_DEVICE = 101;
/** `CUDA_ERROR_INVALID_CONTEXT`: no context is current on the calling thread. */
export const CUDA_ERROR_INVALID_CONTEXT = 201;
/** `CUDA_ERROR_INVALID_HANDLE`. */
export const CUDA_ERROR_INVALID_HANDLE = 400;
/** `CUDA_ERROR_NOT_FOUND`: no kernel of that name in the module. */
export const CUDA_ERROR_NOT_FOUND = 500;
/** `CUDA_ERROR_NOT_READY`: a queried stream or event has work outstanding. */
export const CUDA_ERROR_NOT_READY = 600;
/** `CUDA_ERROR_SYSTEM_DRIVER_MISMATCH`: the kernel module and the library disagree. */
export const CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803;

/** `CU_STREAM_DEFAULT`. */
export const CU_STREAM_DEFAULT = 0;
/** `CU_STREAM_NON_BLOCKING`: no implicit synchronisation with the NULL stream. */
export const CU_STREAM_NON_BLOCKING = 1;
/** `CU_EVENT_DEFAULT`: records timing, waits by spinning. */
export const CU_EVENT_DEFAULT = 0;
/** `CU_EVENT_BLOCKING_SYNC`: a wait blocks the thread rather than spinning. */
export const CU_EVENT_BLOCKING_SYNC = 1;
/** `CU_EVENT_DISABLE_TIMING`: cheaper events that record no time. */
export const CU_EVENT_DISABLE_TIMING = 2;
/** `CU_MEMHOSTALLOC_PORTABLE`: pinned memory usable from every context. */
export const CU_MEMHOSTALLOC_PORTABLE = 1;
/** `CU_MEMHOSTREGISTER_PORTABLE`. */
export const CU_MEMHOSTREGISTER_PORTABLE = 1;
/** `CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT`. */
export const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
/** `CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT`: copy engines. */
export const CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT = 40;
/** `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`. */
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
/** `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`. */
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
/** `sizeof(CUuuid)`: `char bytes[16]`. */
export const CUUUID_BYTES = 16;

/**
 * The driver API symbols, under the names `cuda.h` maps its calls to (the
 * `_v2` entry points). `CUresult`, `CUdevice` and enums are `int`;
 * `CUdeviceptr` is `unsigned long long`; handles (`CUcontext`, `CUstream`,
 * `CUevent`, `CUmodule`, `CUfunction`) are pointers; out-parameters are
 * buffers. Every call is synchronous on the calling thread: the waits that
 * must not block the main thread run on a Worker ({@link CudaContext.wait}).
 */
export const CUDA_SYMBOLS = {
  /** CUresult cuInit(unsigned int Flags) */
  cuInit: { parameters: ["u32"], result: "i32" },
  /** CUresult cuDriverGetVersion(int *driverVersion) */
  cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
  /** CUresult cuGetErrorName(CUresult error, const char **pStr) */
  cuGetErrorName: { parameters: ["i32", "buffer"], result: "i32" },
  /** CUresult cuGetErrorString(CUresult error, const char **pStr) */
  cuGetErrorString: { parameters: ["i32", "buffer"], result: "i32" },
  /** CUresult cuDeviceGetCount(int *count) */
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  /** CUresult cuDeviceGet(CUdevice *device, int ordinal) */
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  /** CUresult cuDeviceGetName(char *name, int len, CUdevice dev) */
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) */
  cuDeviceTotalMem_v2: { parameters: ["buffer", "i32"], result: "i32" },
  /** CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) */
  cuDeviceGetPCIBusId: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) */
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  /** CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev); CUuuid is char bytes[16] */
  cuDeviceGetUuid_v2: { parameters: ["buffer", "i32"], result: "i32", optional: true },
  /** CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) */
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  /** CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) */
  cuDevicePrimaryCtxRelease_v2: { parameters: ["i32"], result: "i32" },
  /** CUresult cuCtxSetCurrent(CUcontext ctx) */
  cuCtxSetCurrent: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuCtxGetCurrent(CUcontext *pctx) */
  cuCtxGetCurrent: { parameters: ["buffer"], result: "i32" },
  /** CUresult cuCtxPushCurrent_v2(CUcontext ctx): around a call on a thread that is not ours */
  cuCtxPushCurrent_v2: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuCtxPopCurrent_v2(CUcontext *pctx) */
  cuCtxPopCurrent_v2: { parameters: ["buffer"], result: "i32" },
  /** CUresult cuCtxSynchronize(void) */
  cuCtxSynchronize: { parameters: [], result: "i32" },
  /** CUresult cuMemGetInfo_v2(size_t *free, size_t *total) */
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  /** CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) */
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  /** CUresult cuMemFree_v2(CUdeviceptr dptr) */
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  /** CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) */
  cuMemsetD8_v2: { parameters: ["u64", "u8", "usize"], result: "i32" },
  /** CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags) */
  cuMemHostAlloc: { parameters: ["buffer", "usize", "u32"], result: "i32" },
  /** CUresult cuMemFreeHost(void *p) */
  cuMemFreeHost: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags) */
  cuMemHostRegister_v2: { parameters: ["pointer", "usize", "u32"], result: "i32" },
  /** CUresult cuMemHostUnregister(void *p) */
  cuMemHostUnregister: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) */
  cuMemcpyHtoD_v2: { parameters: ["u64", "pointer", "usize"], result: "i32" },
  /** CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) */
  cuMemcpyDtoH_v2: { parameters: ["pointer", "u64", "usize"], result: "i32" },
  /**
   * CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost,
   * size_t ByteCount, CUstream hStream)
   */
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "pointer", "usize", "pointer"], result: "i32" },
  /**
   * CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice,
   * size_t ByteCount, CUstream hStream)
   */
  cuMemcpyDtoHAsync_v2: { parameters: ["pointer", "u64", "usize", "pointer"], result: "i32" },
  /** CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags) */
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  /** CUresult cuStreamDestroy_v2(CUstream hStream) */
  cuStreamDestroy_v2: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuStreamQuery(CUstream hStream) */
  cuStreamQuery: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuStreamSynchronize(CUstream hStream), blocking the calling thread */
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags) */
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32" },
  /** CUresult cuEventDestroy_v2(CUevent hEvent) */
  cuEventDestroy_v2: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuEventRecord(CUevent hEvent, CUstream hStream) */
  cuEventRecord: { parameters: ["pointer", "pointer"], result: "i32" },
  /** CUresult cuEventQuery(CUevent hEvent) */
  cuEventQuery: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuEventSynchronize(CUevent hEvent), blocking the calling thread */
  cuEventSynchronize: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd): 12.8+ */
  cuEventElapsedTime_v2: {
    parameters: ["buffer", "pointer", "pointer"],
    result: "i32",
    optional: true,
  },
  /** CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) */
  cuEventElapsedTime: {
    parameters: ["buffer", "pointer", "pointer"],
    result: "i32",
    optional: true,
  },
  /** CUresult cuModuleLoadData(CUmodule *module, const void *image) */
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
  /** CUresult cuModuleUnload(CUmodule hmod) */
  cuModuleUnload: { parameters: ["pointer"], result: "i32" },
  /** CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) */
  cuModuleGetFunction: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  /**
   * CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
   * unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
   * unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
   * void **kernelParams, void **extra)
   */
  cuLaunchKernel: {
    parameters: [
      "pointer",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "pointer",
      "buffer",
      "pointer",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The driver API functions weightbench calls. */
export type CudaSymbols = Deno.DynamicLibrary<typeof CUDA_SYMBOLS>["symbols"];

/** The names tried for the driver, after `WEIGHTBENCH_LIBCUDA`. */
export const CUDA_LIBRARY_CANDIDATES: readonly string[] = [
  "libcuda.so.1",
  "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
  "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
  "/usr/lib64/libcuda.so.1",
  "/usr/local/nvidia/lib64/libcuda.so.1",
  "/usr/lib/wsl/lib/libcuda.so.1",
];

/** The CUDA driver as the loader knows it. */
export const CUDA_DRIVER: LibrarySpec<typeof CUDA_SYMBOLS> = {
  name: "the CUDA driver",
  env: "WEIGHTBENCH_LIBCUDA",
  candidates: CUDA_LIBRARY_CANDIDATES,
  symbols: CUDA_SYMBOLS,
  fallbacks: {
    cuDeviceGetUuid_v2: "the device's uuid is recorded as null",
    cuEventElapsedTime_v2: "cuEventElapsedTime (drivers before CUDA 12.8 have only it)",
    cuEventElapsedTime: "cuEventElapsedTime_v2 (a driver may drop the first version)",
  },
};

/** The driver library could not be opened; `tried` lists every path, in order. */
export class CudaUnavailableError extends LibraryUnavailableError {
  constructor(tried: readonly string[], errors: readonly unknown[]) {
    super(CUDA_DRIVER.name, tried, errors);
    this.name = "CudaUnavailableError";
  }
}

/** A driver call failed; `code` is the CUDA error name, `status` its number. */
export class CudaError extends NativeCallError {
  constructor(call: string, status: number, code: string, text: string) {
    super(call, status, code, text);
    this.name = "CudaError";
  }
}

/**
 * Names for the codes weightbench compares against, for a driver that cannot
 * name them itself (the toolkit's stub answers every call, `cuGetErrorName`
 * included, with 34). The layout test checks each against `cuda.h`.
 */
export const CUDA_CODE_NAMES: Readonly<Record<number, string>> = {
  [CUDA_SUCCESS]: "CUDA_SUCCESS",
  [CUDA_ERROR_INVALID_VALUE]: "CUDA_ERROR_INVALID_VALUE",
  [CUDA_ERROR_OUT_OF_MEMORY]: "CUDA_ERROR_OUT_OF_MEMORY",
  [CUDA_ERROR_NOT_INITIALIZED]: "CUDA_ERROR_NOT_INITIALIZED",
  [CUDA_ERROR_STUB_LIBRARY]: "CUDA_ERROR_STUB_LIBRARY",
  [CUDA_ERROR_NO_DEVICE]: "CUDA_ERROR_NO_DEVICE",
  [CUDA_ERROR_INVALID_DEVICE]: "CUDA_ERROR_INVALID_DEVICE",
  [CUDA_ERROR_INVALID_CONTEXT]: "CUDA_ERROR_INVALID_CONTEXT",
  [CUDA_ERROR_INVALID_HANDLE]: "CUDA_ERROR_INVALID_HANDLE",
  [CUDA_ERROR_NOT_FOUND]: "CUDA_ERROR_NOT_FOUND",
  [CUDA_ERROR_NOT_READY]: "CUDA_ERROR_NOT_READY",
  [CUDA_ERROR_SYSTEM_DRIVER_MISMATCH]: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
};

/** The one text no driver call gives: the stub cannot describe itself. */
const STUB_TEXT =
  "the library loaded is the CUDA toolkit's stub (libcuda.so from the toolkit's stubs folder), not the driver";

/**
 * The name and text of a `CUresult`: the driver's own (`lookup`, from
 * `cuGetErrorName`/`cuGetErrorString`) where it gave them, else the name of
 * a code weightbench compares against, else a generic one. A pure function.
 */
export function describeCudaStatus(
  status: number,
  lookup: { readonly name?: string | null; readonly text?: string | null } = {},
): { name: string; text: string } {
  return {
    name: lookup.name || CUDA_CODE_NAMES[status] || `CUDA error ${status}`,
    text: lookup.text ||
      (status === CUDA_ERROR_STUB_LIBRARY ? STUB_TEXT : "the driver has no text for this code"),
  };
}

/** How {@link CudaContext} waits on streams and events. */
export type WaitMode = "worker" | "blocking";

/** Options of {@link CudaDriver.open}. */
export interface CudaDriverOptions {
  /** Paths to try, in place of `WEIGHTBENCH_LIBCUDA` and {@link CUDA_LIBRARY_CANDIDATES}. */
  readonly paths?: readonly string[];
}

/** Facts about one device. */
export interface CudaDeviceInfo {
  readonly ordinal: number;
  /** The `CUdevice` handle. */
  readonly handle: number;
  readonly name: string;
  readonly totalMemoryBytes: number;
  /** `0000:18:00.0` */
  readonly pciBusId: string;
  /** `9.0` */
  readonly computeCapability: string;
  /** `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as nvidia-smi prints it; null where unknown. */
  readonly uuid: string | null;
  readonly multiprocessors: number;
  readonly copyEngines: number;
}

/** The opened driver library. */
export class CudaDriver extends Owned<Deno.DynamicLibrary<typeof CUDA_SYMBOLS>> {
  protected readonly kind = "CUDA driver";
  /** The path that opened. */
  readonly path: string;
  #initialized = false;

  private constructor(library: Deno.DynamicLibrary<typeof CUDA_SYMBOLS>, path: string) {
    super(library);
    this.path = path;
  }

  /**
   * Opens the driver: `WEIGHTBENCH_LIBCUDA` first, then the usual names.
   * Throws {@link CudaUnavailableError} listing every path tried.
   */
  static open(options: CudaDriverOptions = {}): CudaDriver {
    const { library, path } = openLibrary(
      CUDA_DRIVER,
      options.paths,
      (tried, errors) => new CudaUnavailableError(tried, errors),
    );
    return new CudaDriver(library, path);
  }

  /** The symbols, for calls this module does not wrap. */
  get symbols(): CudaSymbols {
    return this.value.symbols;
  }

  /**
   * Returns when `status` is `CUDA_SUCCESS`; otherwise throws the
   * {@link CudaError} naming `call`, with the driver's name and text for it.
   */
  unwrap(call: string, status: number): void {
    if (status !== CUDA_SUCCESS) throw this.error(call, status);
  }

  /** The {@link CudaError} for `status` after `call`. */
  error(call: string, status: number): CudaError {
    const { name, text } = describeCudaStatus(status, {
      name: this.#errorString("cuGetErrorName", status),
      text: this.#errorString("cuGetErrorString", status),
    });
    return new CudaError(call, status, name, text);
  }

  #errorString(which: "cuGetErrorName" | "cuGetErrorString", status: number): string | null {
    try {
      const out = new BigUint64Array(1);
      if (this.symbols[which](status, out) !== CUDA_SUCCESS || out[0] === 0n) return null;
      return cStringAt(Deno.UnsafePointer.create(out[0]!));
    } catch {
      return null;
    }
  }

  /** `cuInit(0)`, once. */
  init(): void {
    if (this.#initialized) return;
    this.unwrap("cuInit", this.symbols.cuInit(0));
    this.#initialized = true;
  }

  /** The driver's CUDA version as `cuDriverGetVersion` reports it: 13000 for 13.0. */
  version(): number {
    const out = new Int32Array(1);
    this.unwrap("cuDriverGetVersion", this.symbols.cuDriverGetVersion(out));
    return out[0]!;
  }

  /** The number of CUDA devices (initialises the driver). */
  deviceCount(): number {
    this.init();
    const out = new Int32Array(1);
    this.unwrap("cuDeviceGetCount", this.symbols.cuDeviceGetCount(out));
    return out[0]!;
  }

  /** Facts about device `ordinal`; `CUDA_ERROR_INVALID_DEVICE` when there is none. */
  device(ordinal: number): CudaDeviceInfo {
    this.init();
    const s = this.symbols;
    const handleOut = new Int32Array(1);
    this.unwrap(`cuDeviceGet ${ordinal}`, s.cuDeviceGet(handleOut, ordinal));
    const handle = handleOut[0]!;
    const text = new Uint8Array(256);
    this.unwrap("cuDeviceGetName", s.cuDeviceGetName(text, text.length, handle));
    const name = cText(text);
    text.fill(0);
    this.unwrap("cuDeviceGetPCIBusId", s.cuDeviceGetPCIBusId(text, 64, handle));
    const pciBusId = cText(text);
    const total = new BigUint64Array(1);
    this.unwrap("cuDeviceTotalMem_v2", s.cuDeviceTotalMem_v2(total, handle));
    const attribute = (attribute: number) => {
      const out = new Int32Array(1);
      this.unwrap(
        `cuDeviceGetAttribute ${attribute}`,
        s.cuDeviceGetAttribute(out, attribute, handle),
      );
      return out[0]!;
    };
    let uuid: string | null = null;
    if (s.cuDeviceGetUuid_v2) {
      const bytes = new Uint8Array(CUUUID_BYTES);
      if (s.cuDeviceGetUuid_v2(bytes, handle) === CUDA_SUCCESS) uuid = formatUuid(bytes);
    }
    return {
      ordinal,
      handle,
      name,
      totalMemoryBytes: Number(total[0]!),
      pciBusId,
      computeCapability: `${attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)}.${
        attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
      }`,
      uuid,
      multiprocessors: attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
      copyEngines: attribute(CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT),
    };
  }

  /** Closes the library: close every object made through it first (never the process's driver). */
  protected release(library: Deno.DynamicLibrary<typeof CUDA_SYMBOLS>): void {
    library.close();
  }
}

let shared: CudaDriver | undefined;
let sharedFailure: CudaUnavailableError | undefined;

/**
 * The process's driver, opened on first use and kept open (unloading libcuda
 * under its own threads is unsafe); throws the same
 * {@link CudaUnavailableError} every time where it cannot be opened.
 */
export function cudaDriver(): CudaDriver {
  if (shared) return shared;
  if (sharedFailure) throw sharedFailure;
  try {
    shared = CudaDriver.open();
    return shared;
  } catch (error) {
    if (error instanceof CudaUnavailableError) sharedFailure = error;
    throw error;
  }
}

/** One scratch slot for `cuCtxGetCurrent` (one per thread: Workers load their own copy). */
const currentOut = new BigUint64Array(1);

/** What a wait Worker is told, and answers. */
export type WaitRequest =
  | { readonly kind: "start"; readonly path: string; readonly context: bigint }
  | { readonly kind: "stream" | "event"; readonly id: number; readonly handle: bigint };
/** The Worker's answer: the `CUresult` of `cuCtxSetCurrent` (id -1) or of a wait. */
export interface WaitAnswer {
  readonly id: number;
  readonly status: number;
}

/**
 * A Worker that made a context current on its own thread and waits there,
 * one wait after another, in the order asked (`cuStreamSynchronize`,
 * `cuEventSynchronize`): the main thread goes on meanwhile.
 */
class WaitWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (answer: WaitAnswer | Error) => void>();
  #next = 0;
  #failure: Error | undefined;

  constructor(path: string, context: bigint) {
    this.#worker = new Worker(new URL("./_cuda_wait_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<WaitAnswer>) => {
      const settle = this.#pending.get(event.data.id);
      this.#pending.delete(event.data.id);
      settle?.(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`The CUDA wait Worker failed: ${event.message}`));
    };
    const start: WaitRequest = { kind: "start", path, context };
    this.#worker.postMessage(start);
    // The start's answer comes first: a wait asked before it is queued behind it.
    this.#pending.set(-1, (answer) => {
      if (answer instanceof Error) return;
      if (answer.status !== CUDA_SUCCESS) {
        this.#fail(new Error(`cuCtxSetCurrent in the wait Worker returned ${answer.status}`));
      }
    });
  }

  /** The wait's `CUresult`; rejects where the Worker failed. */
  wait(kind: "stream" | "event", handle: bigint): Promise<WaitAnswer> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (answer) => answer instanceof Error ? reject(answer) : resolve(answer));
      const request: WaitRequest = { kind, id, handle };
      this.#worker.postMessage(request);
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const settle of this.#pending.values()) settle(error);
    this.#pending.clear();
  }

  close(): void {
    this.#fail(new Error("The CUDA wait Worker was closed"));
    this.#worker.terminate();
  }
}

/** A device's primary context, retained; `close()` releases it. */
export class CudaContext extends Owned<Deno.PointerObject> {
  protected readonly kind = "CUDA context";
  readonly driver: CudaDriver;
  readonly device: CudaDeviceInfo;
  #waiter: WaitWorker | undefined;
  #waitMode: WaitMode = "worker";
  #waitNote: string | undefined;

  private constructor(driver: CudaDriver, device: CudaDeviceInfo, handle: Deno.PointerObject) {
    super(handle);
    this.driver = driver;
    this.device = device;
  }

  /** Retains the primary context of device `ordinal` and makes it current on this thread. */
  static retainPrimary(driver: CudaDriver, ordinal: number): CudaContext {
    const device = driver.device(ordinal);
    const out = new BigUint64Array(1);
    driver.unwrap(
      `cuDevicePrimaryCtxRetain ${ordinal}`,
      driver.symbols.cuDevicePrimaryCtxRetain(out, device.handle),
    );
    const context = new CudaContext(driver, device, Deno.UnsafePointer.create(out[0]!)!);
    context.makeCurrent();
    return context;
  }

  /** The `CUcontext`. */
  get handle(): Deno.PointerObject {
    return this.value;
  }

  /** The `CUcontext` as a number, for another thread (a Worker) to make it current there. */
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.value));
  }

  /**
   * Makes this context current on the calling thread, unless the driver says
   * it already is (asked every time: cuFile and others push and pop contexts).
   */
  makeCurrent(): void {
    const handle = this.handle;
    const s = this.driver.symbols;
    if (
      s.cuCtxGetCurrent(currentOut) === CUDA_SUCCESS &&
      currentOut[0] === BigInt(Deno.UnsafePointer.value(handle))
    ) {
      return;
    }
    this.driver.unwrap("cuCtxSetCurrent", s.cuCtxSetCurrent(handle));
  }

  /** `cuMemGetInfo_v2`: free and total device memory, in bytes. */
  memoryInfo(): { free: number; total: number } {
    this.makeCurrent();
    const free = new BigUint64Array(1);
    const total = new BigUint64Array(1);
    this.driver.unwrap("cuMemGetInfo_v2", this.driver.symbols.cuMemGetInfo_v2(free, total));
    return { free: Number(free[0]!), total: Number(total[0]!) };
  }

  /** `cuCtxSynchronize`: waits on this thread for all the context's work. */
  synchronize(): void {
    this.makeCurrent();
    this.driver.unwrap("cuCtxSynchronize", this.driver.symbols.cuCtxSynchronize());
  }

  /** Starts the wait Worker now (it loads in the background), so the first wait does not pay for it. */
  startWaits(): void {
    if (this.#waitMode !== "worker" || this.#waiter) return;
    try {
      this.#waiter = new WaitWorker(this.driver.path, this.address);
    } catch (error) {
      this.#blockFromNowOn(error instanceof Error ? error.message : String(error));
    }
  }

  /** How waits run: on the context's wait Worker, or blocking this thread after a failure of it. */
  get waitMode(): WaitMode {
    return this.#waitMode;
  }

  /** Why waits block this thread, where they do. */
  get waitNote(): string | undefined {
    return this.#waitNote;
  }

  /**
   * Waits for a stream (`cuStreamSynchronize`) or an event
   * (`cuEventSynchronize`) on the context's wait Worker, where the context is
   * current; on any failure of that path, here, blocking this thread, for this
   * wait and every later one. A failed wait throws the driver's error.
   */
  async wait(kind: "stream" | "event", handle: Deno.PointerObject): Promise<void> {
    if (this.#waitMode === "worker") {
      try {
        this.#waiter ??= new WaitWorker(this.driver.path, this.address);
        const { status } = await this.#waiter.wait(kind, BigInt(Deno.UnsafePointer.value(handle)));
        if (status === CUDA_SUCCESS) return;
        this.#blockFromNowOn(
          `the wait Worker's ${kind} wait returned ${describeCudaStatus(status).name}`,
        );
      } catch (error) {
        this.#blockFromNowOn(error instanceof Error ? error.message : String(error));
      }
    }
    this.makeCurrent();
    const s = this.driver.symbols;
    const status = kind === "stream" ? s.cuStreamSynchronize(handle) : s.cuEventSynchronize(handle);
    this.driver.unwrap(kind === "stream" ? "cuStreamSynchronize" : "cuEventSynchronize", status);
  }

  #blockFromNowOn(reason: string): void {
    if (this.#waitMode === "blocking") return;
    this.#waitMode = "blocking";
    this.#waitNote = reason;
    this.#waiter?.close();
    this.#waiter = undefined;
  }

  /** Stops the wait Worker, and releases the primary context. */
  protected release(handle: Deno.PointerObject): void {
    this.#waiter?.close();
    this.#waiter = undefined;
    const s = this.driver.symbols;
    if (
      s.cuCtxGetCurrent(currentOut) === CUDA_SUCCESS &&
      currentOut[0] === BigInt(Deno.UnsafePointer.value(handle))
    ) {
      s.cuCtxSetCurrent(null);
    }
    this.driver.unwrap(
      "cuDevicePrimaryCtxRelease_v2",
      s.cuDevicePrimaryCtxRelease_v2(this.device.handle),
    );
  }
}

/** Device memory from `cuMemAlloc_v2`; `close()` frees it. */
export class DeviceMemory extends Owned<bigint> {
  protected readonly kind = "device memory";
  readonly context: CudaContext;
  readonly size: number;

  private constructor(context: CudaContext, address: bigint, size: number) {
    super(address);
    this.context = context;
    this.size = size;
  }

  /** Allocates `size` bytes (at least 1). */
  static allocate(context: CudaContext, size: number): DeviceMemory {
    checkSize(size);
    context.makeCurrent();
    const out = new BigUint64Array(1);
    context.driver.unwrap(
      `cuMemAlloc_v2 of ${size} bytes on cuda:${context.device.ordinal}`,
      context.driver.symbols.cuMemAlloc_v2(out, BigInt(Math.max(size, 1))),
    );
    return new DeviceMemory(context, out[0]!, size);
  }

  /** The device address of byte `offset`. */
  address(offset = 0): bigint {
    const base = this.value;
    if (offset < 0 || offset > this.size) {
      throw new RangeError(`Offset ${offset} outside ${this.size} bytes of device memory`);
    }
    return base + BigInt(offset);
  }

  protected release(address: bigint): void {
    this.context.makeCurrent();
    this.context.driver.unwrap("cuMemFree_v2", this.context.driver.symbols.cuMemFree_v2(address));
  }
}

/** Host memory at a pointer, owned by a context; views and offsets checked against its size. */
abstract class ContextHostMemory extends Owned<Deno.PointerObject> {
  readonly context: CudaContext;
  readonly size: number;

  protected constructor(context: CudaContext, pointer: Deno.PointerObject, size: number) {
    super(pointer);
    this.context = context;
    this.size = size;
  }

  /** The address of byte `offset`. */
  pointer(offset = 0): Deno.PointerObject {
    const base = this.value;
    if (offset < 0 || offset > this.size) {
      throw new RangeError(`Offset ${offset} outside a ${this.size}-byte ${this.kind}`);
    }
    return offset === 0 ? base : Deno.UnsafePointer.offset(base, offset) as Deno.PointerObject;
  }

  /** A view of `length` bytes from `offset`; valid until `close()`. */
  view(offset: number, length: number): Uint8Array<ArrayBuffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`View ${offset}+${length} outside a ${this.size}-byte ${this.kind}`);
    }
    if (length === 0) return new Uint8Array(0);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.pointer(offset), length));
  }
}

/** Page-locked host memory from `cuMemHostAlloc`; `close()` frees it. */
export class PinnedMemory extends ContextHostMemory {
  protected readonly kind = "pinned allocation";

  /** Allocates `size` bytes of pinned host memory (page aligned). */
  static allocate(context: CudaContext, size: number, flags = 0): PinnedMemory {
    checkSize(size);
    context.makeCurrent();
    const out = new BigUint64Array(1);
    context.driver.unwrap(
      `cuMemHostAlloc of ${size} bytes`,
      context.driver.symbols.cuMemHostAlloc(out, BigInt(Math.max(size, 1)), flags),
    );
    return new PinnedMemory(context, Deno.UnsafePointer.create(out[0]!)!, size);
  }

  protected release(pointer: Deno.PointerObject): void {
    this.context.makeCurrent();
    this.context.driver.unwrap(
      "cuMemFreeHost",
      this.context.driver.symbols.cuMemFreeHost(pointer),
    );
  }
}

/** Host memory page-locked in place with `cuMemHostRegister_v2`; `close()` unregisters it. */
export class HostRegistration extends ContextHostMemory {
  protected readonly kind = "host registration";

  /** Pins `size` bytes at `pointer` (page aligned, as `mmap` gives). */
  static register(
    context: CudaContext,
    pointer: Deno.PointerObject,
    size: number,
    flags = 0,
  ): HostRegistration {
    checkSize(size);
    context.makeCurrent();
    context.driver.unwrap(
      `cuMemHostRegister_v2 of ${size} bytes`,
      context.driver.symbols.cuMemHostRegister_v2(pointer, BigInt(size), flags),
    );
    return new HostRegistration(context, pointer, size);
  }

  /** Unpins the memory (it stays allocated). */
  protected release(pointer: Deno.PointerObject): void {
    this.context.makeCurrent();
    this.context.driver.unwrap(
      "cuMemHostUnregister",
      this.context.driver.symbols.cuMemHostUnregister(pointer),
    );
  }
}

/** A stream; `close()` destroys it once its work is done. */
export class CudaStream extends Owned<Deno.PointerObject> {
  protected readonly kind = "CUDA stream";
  readonly context: CudaContext;

  private constructor(context: CudaContext, handle: Deno.PointerObject) {
    super(handle);
    this.context = context;
  }

  /** Creates a stream (`CU_STREAM_DEFAULT`: ordered with the NULL stream, as synchronous copies are). */
  static create(context: CudaContext, flags = CU_STREAM_DEFAULT): CudaStream {
    context.makeCurrent();
    const out = new BigUint64Array(1);
    context.driver.unwrap("cuStreamCreate", context.driver.symbols.cuStreamCreate(out, flags));
    return new CudaStream(context, Deno.UnsafePointer.create(out[0]!)!);
  }

  /** The `CUstream`. */
  get handle(): Deno.PointerObject {
    return this.value;
  }

  /** Waits off this thread until the stream's work is done. */
  synchronize(): Promise<void> {
    return this.context.wait("stream", this.handle);
  }

  /** Waits on this thread until the stream's work is done (for `close()` paths that cannot await). */
  synchronizeNow(): void {
    synchronizeStream(this.context, this.handle);
  }

  /** Destroys the stream after its work. */
  protected release(handle: Deno.PointerObject): void {
    synchronizeStream(this.context, handle);
    this.context.driver.unwrap(
      "cuStreamDestroy_v2",
      this.context.driver.symbols.cuStreamDestroy_v2(handle),
    );
  }
}

function synchronizeStream(context: CudaContext, handle: Deno.PointerObject): void {
  context.makeCurrent();
  context.driver.unwrap("cuStreamSynchronize", context.driver.symbols.cuStreamSynchronize(handle));
}

/** An event; `close()` destroys it. */
export class CudaEvent extends Owned<Deno.PointerObject> {
  protected readonly kind = "CUDA event";
  readonly context: CudaContext;

  private constructor(context: CudaContext, handle: Deno.PointerObject) {
    super(handle);
    this.context = context;
  }

  /** Creates an event; `CU_EVENT_DEFAULT` records time. */
  static create(context: CudaContext, flags = CU_EVENT_DEFAULT): CudaEvent {
    context.makeCurrent();
    const out = new BigUint64Array(1);
    context.driver.unwrap("cuEventCreate", context.driver.symbols.cuEventCreate(out, flags));
    return new CudaEvent(context, Deno.UnsafePointer.create(out[0]!)!);
  }

  /** The `CUevent`. */
  get handle(): Deno.PointerObject {
    return this.value;
  }

  /** Records the event on `stream` (null: the NULL stream). */
  record(stream: CudaStream | null): void {
    this.context.makeCurrent();
    this.context.driver.unwrap(
      "cuEventRecord",
      this.context.driver.symbols.cuEventRecord(this.handle, stream?.handle ?? null),
    );
  }

  /** Whether the work before the event's last record is done. */
  query(): boolean {
    this.context.makeCurrent();
    const status = this.context.driver.symbols.cuEventQuery(this.handle);
    if (status === CUDA_ERROR_NOT_READY) return false;
    this.context.driver.unwrap("cuEventQuery", status);
    return true;
  }

  /** Waits off this thread until the event completes. */
  synchronize(): Promise<void> {
    return this.context.wait("event", this.handle);
  }

  /** Milliseconds between two completed events (`cuEventElapsedTime_v2`, else the first version). */
  static elapsedMs(start: CudaEvent, end: CudaEvent): number {
    const driver = start.context.driver;
    const s = driver.symbols;
    const out = new Float32Array(1);
    start.context.makeCurrent();
    if (s.cuEventElapsedTime_v2) {
      driver.unwrap(
        "cuEventElapsedTime_v2",
        s.cuEventElapsedTime_v2(out, start.handle, end.handle),
      );
    } else if (s.cuEventElapsedTime) {
      driver.unwrap("cuEventElapsedTime", s.cuEventElapsedTime(out, start.handle, end.handle));
    } else {
      throw new Error("The CUDA driver has neither cuEventElapsedTime_v2 nor cuEventElapsedTime");
    }
    return out[0]!;
  }

  protected release(handle: Deno.PointerObject): void {
    this.context.makeCurrent();
    this.context.driver.unwrap(
      "cuEventDestroy_v2",
      this.context.driver.symbols.cuEventDestroy_v2(handle),
    );
  }
}

/** One argument of a kernel launch, by its C type. */
export type KernelArgument =
  | { readonly u64: bigint }
  | { readonly u32: number }
  | { readonly i32: number }
  | { readonly f32: number };

/** A loaded module (PTX or cubin from `cuModuleLoadData`); `close()` unloads it. */
export class CudaModule extends Owned<Deno.PointerObject> {
  protected readonly kind = "CUDA module";
  readonly context: CudaContext;

  private constructor(context: CudaContext, handle: Deno.PointerObject) {
    super(handle);
    this.context = context;
  }

  /** Loads `image`: PTX text (NUL-terminated here) or a cubin/fatbin's bytes. */
  static load(context: CudaContext, image: string | Uint8Array): CudaModule {
    const bytes = typeof image === "string"
      ? new TextEncoder().encode(`${image}\0`)
      : new Uint8Array(image);
    context.makeCurrent();
    const out = new BigUint64Array(1);
    context.driver.unwrap(
      "cuModuleLoadData",
      context.driver.symbols.cuModuleLoadData(out, bytes),
    );
    return new CudaModule(context, Deno.UnsafePointer.create(out[0]!)!);
  }

  /** The kernel `name`; `CUDA_ERROR_NOT_FOUND` when the module has none. */
  kernel(name: string): CudaKernel {
    const handle = this.value;
    this.context.makeCurrent();
    const out = new BigUint64Array(1);
    this.context.driver.unwrap(
      `cuModuleGetFunction "${name}"`,
      this.context.driver.symbols.cuModuleGetFunction(
        out,
        handle,
        new TextEncoder().encode(`${name}\0`),
      ),
    );
    return new CudaKernel(this, name, Deno.UnsafePointer.create(out[0]!)!);
  }

  protected release(handle: Deno.PointerObject): void {
    this.context.makeCurrent();
    this.context.driver.unwrap(
      "cuModuleUnload",
      this.context.driver.symbols.cuModuleUnload(handle),
    );
  }
}

/** A kernel of a {@link CudaModule}; valid while the module is loaded. */
export class CudaKernel {
  constructor(
    readonly module: CudaModule,
    readonly name: string,
    readonly handle: Deno.PointerObject,
  ) {}

  /** Launches the kernel on `stream` (null: the NULL stream) with `args` in order. */
  launch(options: {
    readonly grid: readonly [number, number?, number?];
    readonly block: readonly [number, number?, number?];
    readonly sharedMemBytes?: number;
    readonly stream?: CudaStream | null;
    readonly args: readonly KernelArgument[];
  }): void {
    const values = options.args.map(argumentBytes);
    const pointers = new BigUint64Array(values.length);
    values.forEach((value, i) => {
      pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(value)!));
    });
    const { context } = this.module;
    context.makeCurrent();
    const [gx, gy = 1, gz = 1] = options.grid;
    const [bx, by = 1, bz = 1] = options.block;
    context.driver.unwrap(
      `cuLaunchKernel "${this.name}"`,
      context.driver.symbols.cuLaunchKernel(
        this.handle,
        gx,
        gy,
        gz,
        bx,
        by,
        bz,
        options.sharedMemBytes ?? 0,
        options.stream?.handle ?? null,
        pointers, // the driver copies the values `pointers` points into during the call
        null,
      ),
    );
  }
}

/** `dst` on the device ← `length` bytes at `src` in host memory, on this thread (`cuMemcpyHtoD_v2`). */
export function copyHostToDevice(
  context: CudaContext,
  dst: bigint,
  src: Deno.PointerObject,
  length: number,
): void {
  context.makeCurrent();
  context.driver.unwrap(
    `cuMemcpyHtoD_v2 of ${length} bytes`,
    context.driver.symbols.cuMemcpyHtoD_v2(dst, src, BigInt(length)),
  );
}

/**
 * Queues `dst` ← `length` bytes at `src` on `stream` (`cuMemcpyHtoDAsync_v2`).
 * `src` must stay allocated, and unchanged, until the stream has done it.
 */
export function copyHostToDeviceAsync(
  stream: CudaStream,
  dst: bigint,
  src: Deno.PointerObject,
  length: number,
): void {
  stream.context.makeCurrent();
  stream.context.driver.unwrap(
    `cuMemcpyHtoDAsync_v2 of ${length} bytes`,
    stream.context.driver.symbols.cuMemcpyHtoDAsync_v2(dst, src, BigInt(length), stream.handle),
  );
}

/** `length` bytes at `dst` in host memory ← `src` on the device, on this thread (`cuMemcpyDtoH_v2`). */
export function copyDeviceToHost(
  context: CudaContext,
  dst: Deno.PointerObject,
  src: bigint,
  length: number,
): void {
  context.makeCurrent();
  context.driver.unwrap(
    `cuMemcpyDtoH_v2 of ${length} bytes`,
    context.driver.symbols.cuMemcpyDtoH_v2(dst, src, BigInt(length)),
  );
}

/** Queues host `dst` ← device `src` on `stream` (`cuMemcpyDtoHAsync_v2`); `dst` must stay allocated until done. */
export function copyDeviceToHostAsync(
  stream: CudaStream,
  dst: Deno.PointerObject,
  src: bigint,
  length: number,
): void {
  stream.context.makeCurrent();
  stream.context.driver.unwrap(
    `cuMemcpyDtoHAsync_v2 of ${length} bytes`,
    stream.context.driver.symbols.cuMemcpyDtoHAsync_v2(dst, src, BigInt(length), stream.handle),
  );
}

/** Sets `length` bytes at `dst` to `value` (`cuMemsetD8_v2`). */
export function fillDevice(context: CudaContext, dst: bigint, value: number, length: number): void {
  context.makeCurrent();
  context.driver.unwrap(
    `cuMemsetD8_v2 of ${length} bytes`,
    context.driver.symbols.cuMemsetD8_v2(dst, value, BigInt(length)),
  );
}

/** `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` from a `CUuuid`'s 16 bytes. */
export function formatUuid(bytes: Uint8Array): string {
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

function argumentBytes(argument: KernelArgument): Uint8Array<ArrayBuffer> {
  if ("u64" in argument) return new Uint8Array(new BigUint64Array([argument.u64]).buffer);
  if ("u32" in argument) return new Uint8Array(new Uint32Array([argument.u32]).buffer);
  if ("i32" in argument) return new Uint8Array(new Int32Array([argument.i32]).buffer);
  return new Uint8Array(new Float32Array([argument.f32]).buffer);
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`Cannot allocate ${size} bytes: expected a byte count`);
  }
}
