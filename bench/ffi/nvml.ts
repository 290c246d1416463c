/**
 * NVML (`libnvidia-ml.so.1`) through Deno's FFI: the driver version, and per
 * device its name, UUID, memory (the versioned `nvmlMemory_v2_t`), PCIe link
 * and throughput, and the compute processes with the memory each holds.
 *
 * One symbol table ({@link NVML_SYMBOLS}), opened by the project's loader
 * ({@link Nvml.open}: `WEIGHTBENCH_LIBNVML` first, then the usual names, every
 * path tried listed on failure), one {@link Nvml.unwrap} that turns an
 * `nvmlReturn_t` into an {@link NvmlError} with NVML's own text for it
 * (`nvmlErrorString`) and the name `nvml.h` gives it (NVML has no call that
 * names a code: {@link describeNvmlStatus}). NVML needs no CUDA context, so
 * any thread may call it (the memory sampler does, from a Worker). A query a
 * device cannot answer is null, and any other failure of an optional query is
 * reported beside the answer (`PcieLink.problems`), never thrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeNvmlStatus, Nvml, NvmlUnavailableError } from "./nvml.ts";
 *
 * assert.equal(describeNvmlStatus(3).name, "NVML_ERROR_NOT_SUPPORTED");
 * try {
 *   using nvml = Nvml.open();
 *   assert.ok(nvml.deviceCount() >= 0);
 * } catch (error) {
 *   assert.ok(error instanceof NvmlUnavailableError || (error as Error).name === "NvmlError");
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

/** `NVML_SUCCESS`. */
export const NVML_SUCCESS = 0;
/** `NVML_ERROR_NOT_SUPPORTED`: the device cannot answer this query. */
export const NVML_ERROR_NOT_SUPPORTED = 3;
/** `NVML_ERROR_DRIVER_NOT_LOADED`: no NVIDIA kernel driver is running (no GPU, or not loaded). */
export const NVML_ERROR_DRIVER_NOT_LOADED = 9;
/** `NVML_ERROR_INSUFFICIENT_SIZE`: the buffer was too small; the count says how many. */
export const NVML_ERROR_INSUFFICIENT_SIZE = 7;
/** `nvmlMemory_v2`: `NVML_STRUCT_VERSION(Memory, 2)`, sizeof(nvmlMemory_v2_t) = 40 | 2 << 24. */
export const NVML_MEMORY_V2_VERSION = 40 | (2 << 24);
/** `sizeof(nvmlMemory_v2_t)`: version, then total, reserved, free, used (unsigned long long). */
export const NVML_MEMORY_V2_BYTES = 40;
/** Offsets in `nvmlMemory_v2_t` of `total`, `reserved`, `free`, `used`. */
export const NVML_MEMORY_V2_OFFSETS = { total: 8, reserved: 16, free: 24, used: 32 } as const;
/** `NVML_VALUE_NOT_AVAILABLE` as an unsigned long long. */
export const NVML_VALUE_NOT_AVAILABLE = 0xffffffffffffffffn;
/** `sizeof(nvmlProcessInfo_t)`: pid, padding, usedGpuMemory, gpuInstanceId, computeInstanceId. */
export const NVML_PROCESS_INFO_BYTES = 24;
/** Offsets in `nvmlProcessInfo_t` of `pid` and `usedGpuMemory`. */
export const NVML_PROCESS_INFO_OFFSETS = { pid: 0, usedGpuMemory: 8 } as const;
/** `NVML_PCIE_UTIL_TX_BYTES` of `nvmlPcieUtilCounter_t`. */
export const NVML_PCIE_UTIL_TX_BYTES = 0;
/** `NVML_PCIE_UTIL_RX_BYTES` of `nvmlPcieUtilCounter_t`. */
export const NVML_PCIE_UTIL_RX_BYTES = 1;
/** Buffer for names, UUIDs and versions: `NVML_DEVICE_NAME_V2_BUFFER_SIZE`, the largest of them. */
export const NVML_TEXT_BYTES = 96;

/** NVML's symbols. `nvmlReturn_t` and enums are `int`; `nvmlDevice_t` is a pointer. */
export const NVML_SYMBOLS = {
  /** nvmlReturn_t nvmlInit_v2(void) */
  nvmlInit_v2: { parameters: [], result: "i32" },
  /** nvmlReturn_t nvmlShutdown(void) */
  nvmlShutdown: { parameters: [], result: "i32" },
  /** const char *nvmlErrorString(nvmlReturn_t result) */
  nvmlErrorString: { parameters: ["i32"], result: "pointer" },
  /** nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) */
  nvmlSystemGetDriverVersion: { parameters: ["buffer", "u32"], result: "i32" },
  /** nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) */
  nvmlSystemGetCudaDriverVersion_v2: { parameters: ["buffer"], result: "i32", optional: true },
  /** nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) */
  nvmlDeviceGetCount_v2: { parameters: ["buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) */
  nvmlDeviceGetHandleByIndex_v2: { parameters: ["u32", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device) */
  nvmlDeviceGetHandleByPciBusId_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) */
  nvmlDeviceGetName: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) */
  nvmlDeviceGetUUID: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) */
  nvmlDeviceGetMemoryInfo_v2: { parameters: ["pointer", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device, unsigned int *currLinkGen) */
  nvmlDeviceGetCurrPcieLinkGeneration: { parameters: ["pointer", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device, unsigned int *currLinkWidth) */
  nvmlDeviceGetCurrPcieLinkWidth: { parameters: ["pointer", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t device, unsigned int *maxLinkGen) */
  nvmlDeviceGetMaxPcieLinkGeneration: { parameters: ["pointer", "buffer"], result: "i32" },
  /** nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t device, unsigned int *maxLinkWidth) */
  nvmlDeviceGetMaxPcieLinkWidth: { parameters: ["pointer", "buffer"], result: "i32" },
  /**
   * nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device,
   * nvmlPcieUtilCounter_t counter, unsigned int *value); KB/s over the last 20 ms
   */
  nvmlDeviceGetPcieThroughput: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  /**
   * nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
   * unsigned int *infoCount, nvmlProcessInfo_t *infos)
   */
  nvmlDeviceGetComputeRunningProcesses_v3: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The NVML functions weightbench calls. */
export type NvmlSymbols = Deno.DynamicLibrary<typeof NVML_SYMBOLS>["symbols"];

/** The names tried for NVML, after `WEIGHTBENCH_LIBNVML`. */
export const NVML_LIBRARY_CANDIDATES: readonly string[] = [
  "libnvidia-ml.so.1",
  "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
  "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
  "/usr/lib64/libnvidia-ml.so.1",
  "/usr/local/nvidia/lib64/libnvidia-ml.so.1",
  "/usr/lib/wsl/lib/libnvidia-ml.so.1",
];

/** NVML as the loader knows it. */
export const NVML: LibrarySpec<typeof NVML_SYMBOLS> = {
  name: "NVML",
  env: "WEIGHTBENCH_LIBNVML",
  candidates: NVML_LIBRARY_CANDIDATES,
  symbols: NVML_SYMBOLS,
  fallbacks: {
    nvmlSystemGetCudaDriverVersion_v2: "the CUDA version is recorded as unknown (null)",
    nvmlDeviceGetComputeRunningProcesses_v3: "the process list is recorded as unknown (null)",
  },
};

/** `nvmlReturn_t` → name, as `nvml.h` spells them. */
export const NVML_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: "NVML_SUCCESS",
  1: "NVML_ERROR_UNINITIALIZED",
  2: "NVML_ERROR_INVALID_ARGUMENT",
  3: "NVML_ERROR_NOT_SUPPORTED",
  4: "NVML_ERROR_NO_PERMISSION",
  5: "NVML_ERROR_ALREADY_INITIALIZED",
  6: "NVML_ERROR_NOT_FOUND",
  7: "NVML_ERROR_INSUFFICIENT_SIZE",
  8: "NVML_ERROR_INSUFFICIENT_POWER",
  9: "NVML_ERROR_DRIVER_NOT_LOADED",
  10: "NVML_ERROR_TIMEOUT",
  11: "NVML_ERROR_IRQ_ISSUE",
  12: "NVML_ERROR_LIBRARY_NOT_FOUND",
  13: "NVML_ERROR_FUNCTION_NOT_FOUND",
  14: "NVML_ERROR_CORRUPTED_INFOROM",
  15: "NVML_ERROR_GPU_IS_LOST",
  16: "NVML_ERROR_RESET_REQUIRED",
  17: "NVML_ERROR_OPERATING_SYSTEM",
  18: "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
  19: "NVML_ERROR_IN_USE",
  20: "NVML_ERROR_MEMORY",
  21: "NVML_ERROR_NO_DATA",
  22: "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
  23: "NVML_ERROR_INSUFFICIENT_RESOURCES",
  24: "NVML_ERROR_FREQ_NOT_SUPPORTED",
  25: "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
  26: "NVML_ERROR_DEPRECATED",
  27: "NVML_ERROR_NOT_READY",
  28: "NVML_ERROR_GPU_NOT_FOUND",
  29: "NVML_ERROR_INVALID_STATE",
  30: "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED",
  999: "NVML_ERROR_UNKNOWN",
};

/** The name `nvml.h` gives `status`, and NVML's text where given. A pure function. */
export function describeNvmlStatus(
  status: number,
  text?: string | null,
): { name: string; text: string } {
  return {
    name: NVML_ERROR_NAMES[status] ?? `NVML error ${status}`,
    text: text || "unknown NVML error",
  };
}

/** NVML could not be opened; `tried` lists every path, in order. */
export class NvmlUnavailableError extends LibraryUnavailableError {
  constructor(tried: readonly string[], errors: readonly unknown[]) {
    super(NVML.name, tried, errors);
    this.name = "NvmlUnavailableError";
  }
}

/** An NVML call failed; `code` is the NVML error name, `status` its number. */
export class NvmlError extends NativeCallError {
  constructor(call: string, status: number, code: string, text: string) {
    super(call, status, code, text);
    this.name = "NvmlError";
  }
}

/** Device memory as `nvmlDeviceGetMemoryInfo_v2` reports it, in bytes. */
export interface NvmlMemory {
  readonly total: number;
  readonly reserved: number;
  readonly free: number;
  /** Allocated memory, the reserved memory included. */
  readonly used: number;
}

/** A PCIe link; null where the device does not say. */
export interface PcieLink {
  readonly generation: number | null;
  readonly width: number | null;
  readonly maxGeneration: number | null;
  readonly maxWidth: number | null;
  /** Why a field is null other than NOT_SUPPORTED: each failed query's error, in words. */
  readonly problems: readonly string[];
}

/** A compute process on a device. */
export interface GpuProcess {
  readonly pid: number;
  /** Null where the driver cannot attribute memory (NVML_VALUE_NOT_AVAILABLE). */
  readonly usedBytes: number | null;
}

/** Options of {@link Nvml.open}. */
export interface NvmlOptions {
  /** Paths to try, in place of `WEIGHTBENCH_LIBNVML` and {@link NVML_LIBRARY_CANDIDATES}. */
  readonly paths?: readonly string[];
}

/** NVML, opened and initialised; `close()` shuts it down and unloads it. */
export class Nvml extends Owned<Deno.DynamicLibrary<typeof NVML_SYMBOLS>> {
  protected readonly kind = "NVML";
  readonly path: string;

  private constructor(library: Deno.DynamicLibrary<typeof NVML_SYMBOLS>, path: string) {
    super(library);
    this.path = path;
  }

  /**
   * Opens and initialises NVML; throws {@link NvmlUnavailableError}, or the
   * {@link NvmlError} of `nvmlInit_v2` (`NVML_ERROR_DRIVER_NOT_LOADED` without a GPU).
   */
  static open(options: NvmlOptions = {}): Nvml {
    const { library, path } = openLibrary(
      NVML,
      options.paths,
      (tried, errors) => new NvmlUnavailableError(tried, errors),
    );
    const status = library.symbols.nvmlInit_v2();
    if (status !== NVML_SUCCESS) {
      const error = nvmlError(library.symbols, "nvmlInit_v2", status);
      library.close();
      throw error;
    }
    return new Nvml(library, path);
  }

  /** The symbols, for calls this module does not wrap. */
  get symbols(): NvmlSymbols {
    return this.value.symbols;
  }

  /** Returns when `status` is `NVML_SUCCESS`; otherwise throws the {@link NvmlError} naming `call`. */
  unwrap(call: string, status: number): void {
    if (status !== NVML_SUCCESS) throw nvmlError(this.symbols, call, status);
  }

  /** The display driver's version: `580.159.04`. */
  driverVersion(): string {
    const text = new Uint8Array(NVML_TEXT_BYTES);
    this.unwrap(
      "nvmlSystemGetDriverVersion",
      this.symbols.nvmlSystemGetDriverVersion(text, NVML_TEXT_BYTES),
    );
    return cText(text);
  }

  /** The CUDA version the driver supports (13000 for 13.0), or null where NVML cannot say. */
  cudaDriverVersion(): number | null {
    const call = this.symbols.nvmlSystemGetCudaDriverVersion_v2;
    if (!call) return null;
    const out = new Int32Array(1);
    return call(out) === NVML_SUCCESS ? out[0]! : null;
  }

  /** The number of devices NVML sees. */
  deviceCount(): number {
    const out = new Uint32Array(1);
    this.unwrap("nvmlDeviceGetCount_v2", this.symbols.nvmlDeviceGetCount_v2(out));
    return out[0]!;
  }

  /** Device `index` in NVML's order (PCI order, which CUDA's need not follow). */
  device(index: number): NvmlDevice {
    const out = new BigUint64Array(1);
    this.unwrap(
      `nvmlDeviceGetHandleByIndex_v2 ${index}`,
      this.symbols.nvmlDeviceGetHandleByIndex_v2(index, out),
    );
    return new NvmlDevice(this, Deno.UnsafePointer.create(out[0]!)!);
  }

  /** The device at PCI bus id `0000:18:00.0` (as `cuDeviceGetPCIBusId` gives it). */
  deviceByPciBusId(pciBusId: string): NvmlDevice {
    const out = new BigUint64Array(1);
    this.unwrap(
      `nvmlDeviceGetHandleByPciBusId_v2 "${pciBusId}"`,
      this.symbols.nvmlDeviceGetHandleByPciBusId_v2(
        new TextEncoder().encode(`${pciBusId}\0`),
        out,
      ),
    );
    return new NvmlDevice(this, Deno.UnsafePointer.create(out[0]!)!);
  }

  /** Shuts NVML down and unloads it. */
  protected release(library: Deno.DynamicLibrary<typeof NVML_SYMBOLS>): void {
    try {
      library.symbols.nvmlShutdown();
    } finally {
      library.close();
    }
  }
}

/** The {@link NvmlError} for `status` after `call`, with NVML's own text for it. */
function nvmlError(symbols: NvmlSymbols, call: string, status: number): NvmlError {
  let text: string | null = null;
  try {
    text = cStringAt(symbols.nvmlErrorString(status));
  } catch { /* the name is enough */ }
  const described = describeNvmlStatus(status, text);
  return new NvmlError(call, status, described.name, described.text);
}

/** One device; valid while its {@link Nvml} is open. */
export class NvmlDevice {
  constructor(readonly nvml: Nvml, readonly handle: Deno.PointerObject) {}

  /** `NVIDIA H100 80GB HBM3` */
  name(): string {
    const text = new Uint8Array(NVML_TEXT_BYTES);
    this.nvml.unwrap(
      "nvmlDeviceGetName",
      this.nvml.symbols.nvmlDeviceGetName(this.handle, text, NVML_TEXT_BYTES),
    );
    return cText(text);
  }

  /** `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` */
  uuid(): string {
    const text = new Uint8Array(NVML_TEXT_BYTES);
    this.nvml.unwrap(
      "nvmlDeviceGetUUID",
      this.nvml.symbols.nvmlDeviceGetUUID(this.handle, text, NVML_TEXT_BYTES),
    );
    return cText(text);
  }

  /** Device memory (`nvmlDeviceGetMemoryInfo_v2`, with its version field set). */
  memory(): NvmlMemory {
    const struct = new DataView(new ArrayBuffer(NVML_MEMORY_V2_BYTES));
    struct.setUint32(0, NVML_MEMORY_V2_VERSION, true);
    this.nvml.unwrap(
      "nvmlDeviceGetMemoryInfo_v2",
      this.nvml.symbols.nvmlDeviceGetMemoryInfo_v2(this.handle, new Uint8Array(struct.buffer)),
    );
    const at = NVML_MEMORY_V2_OFFSETS;
    return {
      total: Number(struct.getBigUint64(at.total, true)),
      reserved: Number(struct.getBigUint64(at.reserved, true)),
      free: Number(struct.getBigUint64(at.free, true)),
      used: Number(struct.getBigUint64(at.used, true)),
    };
  }

  /**
   * The PCIe link now and at best; a field the device cannot report is null,
   * and a query that failed otherwise is null too, its error in `problems`.
   */
  pcieLink(): PcieLink {
    const s = this.nvml.symbols;
    const problems: string[] = [];
    const query = (call: string, fn: (out: Uint32Array) => number) =>
      this.#optionalUint(call, fn, problems);
    return {
      generation: query(
        "nvmlDeviceGetCurrPcieLinkGeneration",
        (out) => s.nvmlDeviceGetCurrPcieLinkGeneration(this.handle, out),
      ),
      width: query(
        "nvmlDeviceGetCurrPcieLinkWidth",
        (out) => s.nvmlDeviceGetCurrPcieLinkWidth(this.handle, out),
      ),
      maxGeneration: query(
        "nvmlDeviceGetMaxPcieLinkGeneration",
        (out) => s.nvmlDeviceGetMaxPcieLinkGeneration(this.handle, out),
      ),
      maxWidth: query(
        "nvmlDeviceGetMaxPcieLinkWidth",
        (out) => s.nvmlDeviceGetMaxPcieLinkWidth(this.handle, out),
      ),
      problems,
    };
  }

  /** PCIe traffic over the last 20 ms, in KB/s each way; null where either direction cannot say. */
  pcieThroughput(): { txKBps: number; rxKBps: number } | null {
    const s = this.nvml.symbols;
    const problems: string[] = [];
    const tx = this.#optionalUint(
      "nvmlDeviceGetPcieThroughput TX",
      (out) => s.nvmlDeviceGetPcieThroughput(this.handle, NVML_PCIE_UTIL_TX_BYTES, out),
      problems,
    );
    const rx = this.#optionalUint(
      "nvmlDeviceGetPcieThroughput RX",
      (out) => s.nvmlDeviceGetPcieThroughput(this.handle, NVML_PCIE_UTIL_RX_BYTES, out),
      problems,
    );
    return tx === null || rx === null ? null : { txKBps: tx, rxKBps: rx };
  }

  /** The compute processes on the device and the memory each holds; null where NVML lacks the call. */
  processes(): GpuProcess[] | null {
    const call = this.nvml.symbols.nvmlDeviceGetComputeRunningProcesses_v3;
    if (!call) return null;
    let capacity = 16;
    for (let attempt = 0; attempt < 4; attempt++) {
      const count = new Uint32Array([capacity]);
      const infos = new DataView(new ArrayBuffer(capacity * NVML_PROCESS_INFO_BYTES));
      const status = call(this.handle, count, new Uint8Array(infos.buffer));
      if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
        capacity = Math.max(capacity * 2, count[0]! + 8);
        continue;
      }
      this.nvml.unwrap("nvmlDeviceGetComputeRunningProcesses_v3", status);
      const processes: GpuProcess[] = [];
      for (let i = 0; i < count[0]!; i++) {
        const base = i * NVML_PROCESS_INFO_BYTES;
        const used = infos.getBigUint64(base + NVML_PROCESS_INFO_OFFSETS.usedGpuMemory, true);
        processes.push({
          pid: infos.getUint32(base + NVML_PROCESS_INFO_OFFSETS.pid, true),
          usedBytes: used === NVML_VALUE_NOT_AVAILABLE ? null : Number(used),
        });
      }
      return processes;
    }
    throw new Error("nvmlDeviceGetComputeRunningProcesses_v3: the process list kept growing");
  }

  /** The query's answer; null where it failed: NOT_SUPPORTED silently, any other error told to `problems`. */
  #optionalUint(
    call: string,
    fn: (out: Uint32Array) => number,
    problems: string[],
  ): number | null {
    const out = new Uint32Array(1);
    const status = fn(out);
    if (status === NVML_SUCCESS) return out[0]!;
    if (status !== NVML_ERROR_NOT_SUPPORTED) {
      problems.push(nvmlError(this.nvml.symbols, call, status).message);
    }
    return null;
  }
}
