/**
 * NVML (`libnvidia-ml.so.1`) through Deno's FFI: the driver version, and per
 * device its name, UUID, memory (the versioned `nvmlMemory_v2_t`), PCIe link
 * and throughput, and the compute processes with the memory each holds.
 *
 * One symbol table, one loader ({@link Nvml.open}: `WEIGHTBENCH_LIBNVML`
 * first, then the usual names, every path tried listed on failure), one
 * {@link Nvml.unwrap} that turns an `nvmlReturn_t` into an {@link NvmlError}
 * with NVML's own text for it (`nvmlErrorString`) and the name `nvml.h`
 * gives it ({@link describeNvmlStatus}). NVML needs no CUDA context, so any
 * thread may call it (the memory sampler does, from a Worker).
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

import { optionalEnv } from "../util/env.ts";

/** `NVML_SUCCESS`. */
export const NVML_SUCCESS = 0;
/** `NVML_ERROR_NOT_SUPPORTED`: the device cannot answer this query. */
export const NVML_ERROR_NOT_SUPPORTED = 3;
/** `NVML_ERROR_INSUFFICIENT_SIZE`: the buffer was too small; the count says how many. */
export const NVML_ERROR_INSUFFICIENT_SIZE = 7;
/** `nvmlMemory_v2`: `NVML_STRUCT_VERSION(Memory, 2)`, sizeof(nvmlMemory_v2_t) = 40 | 2 << 24. */
export const NVML_MEMORY_V2_VERSION = 40 | (2 << 24);
/** `NVML_VALUE_NOT_AVAILABLE` as an unsigned long long. */
const VALUE_NOT_AVAILABLE = 0xffffffffffffffffn;
/** `sizeof(nvmlProcessInfo_t)`: pid, padding, usedGpuMemory, gpuInstanceId, computeInstanceId. */
const PROCESS_INFO_BYTES = 24;
/** `nvmlPcieUtilCounter_t`: `NVML_PCIE_UTIL_TX_BYTES`, `NVML_PCIE_UTIL_RX_BYTES`. */
const PCIE_TX = 0;
const PCIE_RX = 1;

/** NVML's symbols. `nvmlReturn_t` and enums are `int`; `nvmlDevice_t` is a pointer. */
const symbols = {
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
export type NvmlSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** The names tried for NVML, after `WEIGHTBENCH_LIBNVML`. */
export const NVML_LIBRARY_CANDIDATES: readonly string[] = [
  "libnvidia-ml.so.1",
  "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
  "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
  "/usr/lib64/libnvidia-ml.so.1",
  "/usr/local/nvidia/lib64/libnvidia-ml.so.1",
  "/usr/lib/wsl/lib/libnvidia-ml.so.1",
];

/** `nvmlReturn_t` → name, as `nvml.h` spells them. */
const NVML_ERROR_NAMES: Readonly<Record<number, string>> = {
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
export class NvmlUnavailableError extends Error {
  readonly tried: readonly string[];

  constructor(tried: readonly string[], errors: readonly unknown[]) {
    const first = errors[0] instanceof Error ? errors[0].message.split("\n")[0] : undefined;
    super(
      `Cannot open NVML: tried ${tried.map((p) => `"${p}"`).join(", ")}${
        first ? ` (${first})` : ""
      }`,
      { cause: errors },
    );
    this.name = "NvmlUnavailableError";
    this.tried = tried;
  }
}

/** An NVML call failed; `code` is the NVML error name, `status` its number. */
export class NvmlError extends Error {
  readonly status: number;
  readonly code: string;
  readonly call: string;

  constructor(call: string, status: number, name: string, text: string) {
    super(`${call} failed: ${name}: ${text}`);
    this.name = "NvmlError";
    this.status = status;
    this.code = name;
    this.call = call;
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
export class Nvml implements Disposable {
  readonly #library: Deno.DynamicLibrary<typeof symbols>;
  readonly path: string;
  #open = true;

  private constructor(library: Deno.DynamicLibrary<typeof symbols>, path: string) {
    this.#library = library;
    this.path = path;
  }

  /** Opens and initialises NVML; throws {@link NvmlUnavailableError} or {@link NvmlError}. */
  static open(options: NvmlOptions = {}): Nvml {
    const override = options.paths ? undefined : optionalEnv("WEIGHTBENCH_LIBNVML");
    const candidates = options.paths ??
      (override ? [override, ...NVML_LIBRARY_CANDIDATES] : NVML_LIBRARY_CANDIDATES);
    const tried: string[] = [];
    const errors: unknown[] = [];
    for (const path of candidates) {
      let library: Deno.DynamicLibrary<typeof symbols>;
      try {
        library = Deno.dlopen(path, symbols);
      } catch (error) {
        tried.push(path);
        errors.push(error);
        continue;
      }
      const nvml = new Nvml(library, path);
      try {
        nvml.unwrap("nvmlInit_v2", library.symbols.nvmlInit_v2());
      } catch (error) {
        library.close();
        throw error;
      }
      return nvml;
    }
    throw new NvmlUnavailableError(tried, errors);
  }

  /** The symbols, for calls this module does not wrap. */
  get symbols(): NvmlSymbols {
    if (!this.#open) throw new Error("NVML used after close()");
    return this.#library.symbols;
  }

  /** Returns when `status` is `NVML_SUCCESS`; otherwise throws the {@link NvmlError} naming `call`. */
  unwrap(call: string, status: number): void {
    if (status === NVML_SUCCESS) return;
    let text: string | null = null;
    try {
      const pointer = this.#library.symbols.nvmlErrorString(status);
      if (pointer) text = Deno.UnsafePointerView.getCString(pointer);
    } catch { /* the table's name is enough */ }
    const described = describeNvmlStatus(status, text);
    throw new NvmlError(call, status, described.name, described.text);
  }

  /** The display driver's version: `580.159.04`. */
  driverVersion(): string {
    const text = new Uint8Array(96);
    this.unwrap("nvmlSystemGetDriverVersion", this.symbols.nvmlSystemGetDriverVersion(text, 96));
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

  /** Shuts NVML down and unloads it; later calls do nothing. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      this.#library.symbols.nvmlShutdown();
    } finally {
      this.#library.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** One device; valid while its {@link Nvml} is open. */
export class NvmlDevice {
  constructor(readonly nvml: Nvml, readonly handle: Deno.PointerObject) {}

  /** `NVIDIA H100 80GB HBM3` */
  name(): string {
    const text = new Uint8Array(96);
    this.nvml.unwrap(
      "nvmlDeviceGetName",
      this.nvml.symbols.nvmlDeviceGetName(this.handle, text, 96),
    );
    return cText(text);
  }

  /** `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` */
  uuid(): string {
    const text = new Uint8Array(96);
    this.nvml.unwrap(
      "nvmlDeviceGetUUID",
      this.nvml.symbols.nvmlDeviceGetUUID(this.handle, text, 96),
    );
    return cText(text);
  }

  /** Device memory (`nvmlDeviceGetMemoryInfo_v2`, with its version field set). */
  memory(): NvmlMemory {
    const struct = new DataView(new ArrayBuffer(40));
    struct.setUint32(0, NVML_MEMORY_V2_VERSION, true);
    this.nvml.unwrap(
      "nvmlDeviceGetMemoryInfo_v2",
      this.nvml.symbols.nvmlDeviceGetMemoryInfo_v2(this.handle, new Uint8Array(struct.buffer)),
    );
    return {
      total: Number(struct.getBigUint64(8, true)),
      reserved: Number(struct.getBigUint64(16, true)),
      free: Number(struct.getBigUint64(24, true)),
      used: Number(struct.getBigUint64(32, true)),
    };
  }

  /** The PCIe link now and at best; a field the device cannot report is null. */
  pcieLink(): PcieLink {
    const s = this.nvml.symbols;
    return {
      generation: this.#optionalUint(
        "nvmlDeviceGetCurrPcieLinkGeneration",
        (out) => s.nvmlDeviceGetCurrPcieLinkGeneration(this.handle, out),
      ),
      width: this.#optionalUint(
        "nvmlDeviceGetCurrPcieLinkWidth",
        (out) => s.nvmlDeviceGetCurrPcieLinkWidth(this.handle, out),
      ),
      maxGeneration: this.#optionalUint(
        "nvmlDeviceGetMaxPcieLinkGeneration",
        (out) => s.nvmlDeviceGetMaxPcieLinkGeneration(this.handle, out),
      ),
      maxWidth: this.#optionalUint(
        "nvmlDeviceGetMaxPcieLinkWidth",
        (out) => s.nvmlDeviceGetMaxPcieLinkWidth(this.handle, out),
      ),
    };
  }

  /** PCIe traffic over the last 20 ms, in KB/s each way; null where not supported. */
  pcieThroughput(): { txKBps: number; rxKBps: number } | null {
    const s = this.nvml.symbols;
    const tx = this.#optionalUint(
      "nvmlDeviceGetPcieThroughput TX",
      (out) => s.nvmlDeviceGetPcieThroughput(this.handle, PCIE_TX, out),
    );
    const rx = this.#optionalUint(
      "nvmlDeviceGetPcieThroughput RX",
      (out) => s.nvmlDeviceGetPcieThroughput(this.handle, PCIE_RX, out),
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
      const infos = new DataView(new ArrayBuffer(capacity * PROCESS_INFO_BYTES));
      const status = call(this.handle, count, new Uint8Array(infos.buffer));
      if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
        capacity = Math.max(capacity * 2, count[0]! + 8);
        continue;
      }
      this.nvml.unwrap("nvmlDeviceGetComputeRunningProcesses_v3", status);
      const processes: GpuProcess[] = [];
      for (let i = 0; i < count[0]!; i++) {
        const base = i * PROCESS_INFO_BYTES;
        const used = infos.getBigUint64(base + 8, true);
        processes.push({
          pid: infos.getUint32(base, true),
          usedBytes: used === VALUE_NOT_AVAILABLE ? null : Number(used),
        });
      }
      return processes;
    }
    throw new Error("nvmlDeviceGetComputeRunningProcesses_v3: the process list kept growing");
  }

  #optionalUint(call: string, fn: (out: Uint32Array) => number): number | null {
    const out = new Uint32Array(1);
    const status = fn(out);
    if (status === NVML_ERROR_NOT_SUPPORTED) return null;
    this.nvml.unwrap(call, status);
    return out[0]!;
  }
}

function cText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
