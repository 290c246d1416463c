/**
 * NVIDIA cuFile (GPUDirect Storage, `libcufile.so.0`) through FFI: just what
 * the `gds` strategy needs — open the driver and ask what it can do, register
 * a file and a device buffer, and read from the file straight into the
 * buffer.
 *
 * One symbol table ({@link CUFILE_SYMBOLS}) opened by the project's loader
 * ({@link Cufile.open}: `WEIGHTBENCH_CUFILE` first, then the usual names,
 * every path tried listed on failure; nothing cached, so the paths asked for
 * are the paths tried), one {@link Cufile.unwrap} that turns a `CUfileError_t`
 * into a {@link CufileError} named as `cufile.h` names it. cuFile has no call
 * that describes a code (`cufileop_status_error` is an inline function of the
 * header), so its table is here, checked against the header by the layout
 * test; the `CUresult` beside it is named by the CUDA driver.
 *
 * Reads run off the main thread with the CUDA context current: a
 * {@link CufileReader} keeps Workers that push the context around each
 * `cuFileRead` and pop it after, as NVIDIA's kvikio does, so cuFile never
 * runs on a thread without the context.
 *
 * Whether reads are true GPUDirect Storage (DMA from NVMe to GPU memory
 * through the `nvidia-fs` kernel module) or cuFile's compatibility mode
 * (POSIX reads through a bounce buffer) is {@link cufileMode}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cufile, CufileUnavailableError, describeCufileStatus } from "./cufile.ts";
 *
 * assert.equal(describeCufileStatus(5011).name, "CU_FILE_CUDA_DRIVER_ERROR");
 * assert.throws(
 *   () => Cufile.open({ paths: ["/nonexistent/libcufile.so.0"] }),
 *   CufileUnavailableError,
 * );
 * ```
 *
 * @module
 */

import { type CudaContext, cudaDriver } from "./cuda.ts";
import {
  libraryCandidates,
  type LibrarySpec,
  LibraryUnavailableError,
  NativeCallError,
  openLibrary,
  Owned,
} from "./library.ts";
import { systemError } from "./libc.ts";
import { optionalEnv } from "../util/env.ts";

/** `CUfileError_t`: `{ CUfileOpError err; CUresult cu_err; }`, returned by value. */
const CUFILE_ERROR_T = { struct: ["i32", "i32"] } as const;

/** cuFile's symbols, as `cufile.h` declares them. */
export const CUFILE_SYMBOLS = {
  /** CUfileError_t cuFileDriverOpen(void) */
  cuFileDriverOpen: { parameters: [], result: CUFILE_ERROR_T },
  /** CUfileError_t cuFileDriverGetProperties(CUfileDrvProps_t *props) */
  cuFileDriverGetProperties: { parameters: ["buffer"], result: CUFILE_ERROR_T },
  /** CUfileError_t cuFileHandleRegister(CUfileHandle_t *fh, CUfileDescr_t *descr) */
  cuFileHandleRegister: { parameters: ["buffer", "buffer"], result: CUFILE_ERROR_T },
  /** void cuFileHandleDeregister(CUfileHandle_t fh) */
  cuFileHandleDeregister: { parameters: ["pointer"], result: "void" },
  /** CUfileError_t cuFileBufRegister(const void *devPtr_base, size_t length, int flags) */
  cuFileBufRegister: { parameters: ["pointer", "usize", "i32"], result: CUFILE_ERROR_T },
  /** CUfileError_t cuFileBufDeregister(const void *devPtr_base) */
  cuFileBufDeregister: { parameters: ["pointer"], result: CUFILE_ERROR_T },
  /**
   * ssize_t cuFileRead(CUfileHandle_t fh, void *devPtr_base, size_t size, off_t file_offset,
   * off_t devPtr_offset): blocks until the bytes are in device memory, so it is called
   * from a {@link CufileReader}'s Workers, with the context pushed there
   */
  cuFileRead: { parameters: ["pointer", "pointer", "usize", "i64", "i64"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The cuFile functions weightbench uses. */
export type CufileSymbols = Deno.DynamicLibrary<typeof CUFILE_SYMBOLS>["symbols"];

/** Where the library is looked for, after `WEIGHTBENCH_CUFILE`. */
export const CUFILE_CANDIDATES: readonly string[] = [
  "libcufile.so.0",
  "libcufile.so",
  "/usr/local/cuda/lib64/libcufile.so.0",
];

/** cuFile as the loader knows it. */
export const CUFILE: LibrarySpec<typeof CUFILE_SYMBOLS> = {
  name: "cuFile (GPUDirect Storage)",
  env: "WEIGHTBENCH_CUFILE",
  candidates: CUFILE_CANDIDATES,
  symbols: CUFILE_SYMBOLS,
  fallbacks: {},
};

/** `CU_FILE_HANDLE_TYPE_OPAQUE_FD` of `CUfileFileHandleType`. */
export const CU_FILE_HANDLE_TYPE_OPAQUE_FD = 1;
/** `sizeof(CUfileDescr_t)`: type, (padding), the fd/handle union, `fs_ops`. */
export const CUFILE_DESCR_BYTES = 24;
/** Offsets in `CUfileDescr_t` of `type`, `handle.fd` and `fs_ops`. */
export const CUFILE_DESCR_OFFSETS = { type: 0, fd: 8, fsOps: 16 } as const;
/** Offsets in `CUfileDrvProps_t` of the fields weightbench reads. */
export const CUFILE_PROPS_OFFSETS = {
  majorVersion: 0,
  minorVersion: 4,
  pollThresholdSize: 8,
  maxDirectIoSize: 16,
  statusFlags: 24,
  controlFlags: 28,
  featureFlags: 32,
} as const;
/** Bytes given to `cuFileDriverGetProperties`: more than any cuFile's `CUfileDrvProps_t`. */
export const CUFILE_PROPS_BUFFER_BYTES = 512;
/** `CU_FILE_ALLOW_COMPAT_MODE`: a bit number of `dcontrolflags`. */
export const CU_FILE_ALLOW_COMPAT_MODE = 1;
/** `CU_FILE_NVME_SUPPORTED`: a bit number of `dstatusflags`. */
export const CU_FILE_NVME_SUPPORTED = 4;
/** `CU_FILE_CUDA_DRIVER_ERROR`: the CUresult beside it says what the CUDA driver answered. */
export const CU_FILE_CUDA_DRIVER_ERROR = 5011;

/**
 * `CUfileOpError` → [name, text], as `cufile.h`'s `CUFILEOP_STATUS_ENTRIES`
 * spells them (the header's `cufileop_status_error` is inline: no library call
 * gives them). The layout test compares every entry with the header.
 */
export const CUFILE_OP_ERRORS: Readonly<Record<number, readonly [string, string]>> = {
  0: ["CU_FILE_SUCCESS", "cufile success"],
  5001: ["CU_FILE_DRIVER_NOT_INITIALIZED", "nvidia-fs driver is not loaded"],
  5002: ["CU_FILE_DRIVER_INVALID_PROPS", "invalid property"],
  5003: ["CU_FILE_DRIVER_UNSUPPORTED_LIMIT", "property range error"],
  5004: ["CU_FILE_DRIVER_VERSION_MISMATCH", "nvidia-fs driver version mismatch"],
  5005: ["CU_FILE_DRIVER_VERSION_READ_ERROR", "nvidia-fs driver version read error"],
  5006: ["CU_FILE_DRIVER_CLOSING", "driver shutdown in progress"],
  5007: ["CU_FILE_PLATFORM_NOT_SUPPORTED", "GPUDirect Storage not supported on current platform"],
  5008: ["CU_FILE_IO_NOT_SUPPORTED", "GPUDirect Storage not supported on current file"],
  5009: ["CU_FILE_DEVICE_NOT_SUPPORTED", "GPUDirect Storage not supported on current GPU"],
  5010: ["CU_FILE_NVFS_DRIVER_ERROR", "nvidia-fs driver ioctl error"],
  5011: ["CU_FILE_CUDA_DRIVER_ERROR", "CUDA Driver API error"],
  5012: ["CU_FILE_CUDA_POINTER_INVALID", "invalid device pointer"],
  5013: ["CU_FILE_CUDA_MEMORY_TYPE_INVALID", "invalid pointer memory type"],
  5014: ["CU_FILE_CUDA_POINTER_RANGE_ERROR", "pointer range exceeds allocated address range"],
  5015: ["CU_FILE_CUDA_CONTEXT_MISMATCH", "cuda context mismatch"],
  5016: ["CU_FILE_INVALID_MAPPING_SIZE", "access beyond maximum pinned size"],
  5017: ["CU_FILE_INVALID_MAPPING_RANGE", "access beyond mapped size"],
  5018: ["CU_FILE_INVALID_FILE_TYPE", "unsupported file type"],
  5019: ["CU_FILE_INVALID_FILE_OPEN_FLAG", "unsupported file open flags"],
  5020: ["CU_FILE_DIO_NOT_SET", "fd direct IO not set"],
  5022: ["CU_FILE_INVALID_VALUE", "invalid arguments"],
  5023: ["CU_FILE_MEMORY_ALREADY_REGISTERED", "device pointer already registered"],
  5024: ["CU_FILE_MEMORY_NOT_REGISTERED", "device pointer lookup failure"],
  5025: ["CU_FILE_PERMISSION_DENIED", "driver or file access error"],
  5026: ["CU_FILE_DRIVER_ALREADY_OPEN", "driver is already open"],
  5027: ["CU_FILE_HANDLE_NOT_REGISTERED", "file descriptor is not registered"],
  5028: ["CU_FILE_HANDLE_ALREADY_REGISTERED", "file descriptor is already registered"],
  5029: ["CU_FILE_DEVICE_NOT_FOUND", "GPU device not found"],
  5030: ["CU_FILE_INTERNAL_ERROR", "internal error"],
  5031: ["CU_FILE_GETNEWFD_FAILED", "failed to obtain new file descriptor"],
  5033: ["CU_FILE_NVFS_SETUP_ERROR", "NVFS driver initialization error"],
  5034: ["CU_FILE_IO_DISABLED", "GPUDirect Storage disabled by config on current file"],
  5035: ["CU_FILE_BATCH_SUBMIT_FAILED", "failes to submit batch operation"],
  5036: ["CU_FILE_GPU_MEMORY_PINNING_FAILED", "Failed to allocate pinned GPU Memory"],
  5037: ["CU_FILE_IO_MAX_ERROR", "GPUDirect Storage Max Error"],
};

/** The name and text `cufile.h` gives a `CUfileOpError`; a generic pair for a code it lacks. */
export function describeCufileStatus(err: number): { name: string; text: string } {
  const known = CUFILE_OP_ERRORS[err];
  return known
    ? { name: known[0], text: known[1] }
    : { name: `CUfileOpError ${err}`, text: "unknown cufile error" };
}

/** No cuFile library could be opened; the message lists every path tried. */
export class CufileUnavailableError extends LibraryUnavailableError {
  constructor(tried: readonly string[], errors: readonly unknown[]) {
    super(CUFILE.name, tried, errors);
    this.name = "CufileUnavailableError";
  }
}

/** A cuFile call failed: `status` is its `CUfileOpError`, `cuErr` the `CUresult` beside it. */
export class CufileError extends NativeCallError {
  readonly cuErr: number;

  constructor(call: string, err: number, cuErr: number) {
    const { name, text } = describeCufileStatus(err);
    super(call, err, name, cuErr === 0 ? text : `${text} (CUresult ${cuErr}: ${cudaName(cuErr)})`);
    this.name = "CufileError";
    this.cuErr = cuErr;
  }
}

/** The CUDA driver's name for `status` where the driver opens, else the number alone. */
function cudaName(status: number): string {
  try {
    const error = cudaDriver().error("", status);
    return `${error.code}: ${error.text}`;
  } catch {
    return "the CUDA driver could not be asked to name it";
  }
}

/** What `cuFileDriverGetProperties` says. */
export interface CufileProperties {
  /** The nvidia-fs version cuFile talks to: `0.0` where nvidia-fs is not loaded. */
  readonly nvfsVersion: string;
  readonly pollThresholdBytes: number;
  readonly maxDirectIoBytes: number;
  /** `dstatusflags`: the file systems cuFile supports with DMA (bit numbers of `CUfileDriverStatusFlags`). */
  readonly statusFlags: number;
  /** Whether `CU_FILE_ALLOW_COMPAT_MODE` is set: reads go through host memory where DMA cannot. */
  readonly compatModeAllowed: boolean;
}

/** Options of {@link Cufile.open}. */
export interface CufileOptions {
  /** Paths to try, in place of `WEIGHTBENCH_CUFILE` and {@link CUFILE_CANDIDATES}. */
  readonly paths?: readonly string[];
}

/** cuFile, opened; its driver opened once by {@link Cufile.openDriver}. */
export class Cufile extends Owned<Deno.DynamicLibrary<typeof CUFILE_SYMBOLS>> {
  protected readonly kind = "cuFile";
  readonly path: string;
  #driverOpen = false;

  private constructor(library: Deno.DynamicLibrary<typeof CUFILE_SYMBOLS>, path: string) {
    super(library);
    this.path = path;
  }

  /**
   * Opens the library (not its driver): the paths asked for, else
   * `WEIGHTBENCH_CUFILE` then the usual names. Throws
   * {@link CufileUnavailableError} listing every path tried.
   */
  static open(options: CufileOptions = {}): Cufile {
    keepCufileLogOutOfTheWorkingFolder();
    const { library, path } = openLibrary(
      CUFILE,
      options.paths ?? libraryCandidates(CUFILE),
      (tried, errors) => new CufileUnavailableError(tried, errors),
    );
    return new Cufile(library, path);
  }

  get symbols(): CufileSymbols {
    return this.value.symbols;
  }

  /** Throws the {@link CufileError} of `call` unless the `CUfileError_t` says success. */
  unwrap(call: string, status: Uint8Array): void {
    const view = new DataView(status.buffer, status.byteOffset, status.byteLength);
    const err = view.getInt32(0, true);
    if (err !== 0) throw new CufileError(call, err, view.getInt32(4, true));
  }

  /** `cuFileDriverOpen`, once; the CUDA context should be current on this thread. */
  openDriver(): void {
    if (this.#driverOpen) return;
    this.unwrap("cuFileDriverOpen", this.symbols.cuFileDriverOpen());
    this.#driverOpen = true;
  }

  /** `cuFileDriverGetProperties`, after {@link openDriver}. */
  properties(): CufileProperties {
    this.openDriver();
    const bytes = new Uint8Array(CUFILE_PROPS_BUFFER_BYTES);
    this.unwrap("cuFileDriverGetProperties", this.symbols.cuFileDriverGetProperties(bytes));
    const view = new DataView(bytes.buffer);
    const at = CUFILE_PROPS_OFFSETS;
    return {
      nvfsVersion: `${view.getUint32(at.majorVersion, true)}.${
        view.getUint32(at.minorVersion, true)
      }`,
      pollThresholdBytes: Number(view.getBigUint64(at.pollThresholdSize, true)),
      maxDirectIoBytes: Number(view.getBigUint64(at.maxDirectIoSize, true)),
      statusFlags: view.getUint32(at.statusFlags, true),
      compatModeAllowed:
        (view.getUint32(at.controlFlags, true) & (1 << CU_FILE_ALLOW_COMPAT_MODE)) !==
          0,
    };
  }

  /** Leaves the library loaded: cuFile keeps threads of its own once its driver opened. */
  protected release(library: Deno.DynamicLibrary<typeof CUFILE_SYMBOLS>): void {
    if (!this.#driverOpen) library.close();
  }
}

let shared: Cufile | undefined;

/** The process's cuFile (`WEIGHTBENCH_CUFILE`, then the usual names), opened on first use and kept. */
export function cufile(): Cufile {
  shared ??= Cufile.open();
  return shared;
}

/**
 * cuFile writes its log (`cufile.log`) into the working folder unless told
 * otherwise: point it at the temporary folder, unless the user chose a place
 * (`CUFILE_LOGFILE_PATH`, or a configuration through `CUFILE_ENV_PATH_JSON`).
 */
function keepCufileLogOutOfTheWorkingFolder(): void {
  if (optionalEnv("CUFILE_LOGFILE_PATH") || optionalEnv("CUFILE_ENV_PATH_JSON")) return;
  const { state } = Deno.permissions.querySync({ name: "env", variable: "CUFILE_LOGFILE_PATH" });
  if (state !== "granted") return;
  const dir = optionalEnv("TMPDIR") ?? "/tmp";
  Deno.env.set("CUFILE_LOGFILE_PATH", `${dir}/weightbench-cufile.log`);
}

/** How cuFile will move bytes on this machine. */
export function cufileMode(nvidiaFsLoaded: boolean = nvidiaFsPresent()): "gds" | "compat" {
  return nvidiaFsLoaded ? "gds" : "compat";
}

/** Whether the `nvidia-fs` kernel module (true GPUDirect Storage) is loaded. */
export function nvidiaFsPresent(): boolean {
  for (const path of ["/proc/driver/nvidia-fs/version", "/sys/module/nvidia_fs"]) {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      // not there
    }
  }
  return false;
}

/** A file registered with cuFile; `close()` deregisters it. */
export class CufileHandle extends Owned<Deno.PointerObject> {
  protected readonly kind = "cuFile handle";
  readonly cufile: Cufile;

  /** Registers the open descriptor `fd` (`O_DIRECT` for DMA) with cuFile, its driver opened first. */
  constructor(cufile: Cufile, fd: number) {
    cufile.openDriver();
    const descr = new Uint8Array(CUFILE_DESCR_BYTES);
    const view = new DataView(descr.buffer);
    view.setInt32(CUFILE_DESCR_OFFSETS.type, CU_FILE_HANDLE_TYPE_OPAQUE_FD, true);
    view.setInt32(CUFILE_DESCR_OFFSETS.fd, fd, true);
    const out = new BigUint64Array(1);
    cufile.unwrap("cuFileHandleRegister", cufile.symbols.cuFileHandleRegister(out, descr));
    super(Deno.UnsafePointer.create(out[0]!)!);
    this.cufile = cufile;
  }

  /** The `CUfileHandle_t` as a number, for a reader's Worker. */
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.value));
  }

  protected release(handle: Deno.PointerObject): void {
    this.cufile.symbols.cuFileHandleDeregister(handle);
  }
}

/** Device memory registered with cuFile for reads into it; `close()` deregisters it. */
export class CufileBuffer extends Owned<Deno.PointerObject> {
  protected readonly kind = "cuFile buffer";
  readonly cufile: Cufile;

  constructor(cufile: Cufile, device: Deno.PointerObject, length: number) {
    cufile.unwrap(
      `cuFileBufRegister of ${length} bytes`,
      cufile.symbols.cuFileBufRegister(device, BigInt(length), 0),
    );
    super(device);
    this.cufile = cufile;
  }

  protected release(device: Deno.PointerObject): void {
    this.cufile.unwrap("cuFileBufDeregister", this.cufile.symbols.cuFileBufDeregister(device));
  }
}

/** What a reader's Worker is told. */
export type ReadRequest =
  | {
    readonly kind: "start";
    readonly cudaPath: string;
    readonly cufilePath: string;
    readonly context: bigint;
  }
  | {
    readonly kind: "read";
    readonly id: number;
    readonly handle: bigint;
    readonly device: bigint;
    readonly size: number;
    readonly fileOffset: number;
    readonly deviceOffset: number;
  };

/**
 * A reader's Worker's answer: id -1 for the start (with `status`, the
 * `CUresult` of opening and pushing the context once, as a check), else a
 * read's `got` (bytes, or a negative error) with `errno` for -1, or the
 * `CUresult` of pushing or popping the context where that failed.
 */
export interface ReadAnswer {
  readonly id: number;
  readonly got?: number;
  readonly errno?: number;
  readonly status?: number;
  readonly error?: string;
}

/**
 * Reads through cuFile on `threads` Workers, each of which pushes the CUDA
 * context around every `cuFileRead` and pops it after (as kvikio does), so
 * no read runs on a thread without the context; up to `threads` reads are in
 * flight, the rest queue. `close()` stops the Workers.
 */
export class CufileReader implements Disposable {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: {
    readonly request: Omit<Extract<ReadRequest, { kind: "read" }>, "id">;
    readonly settle: (answer: ReadAnswer | Error) => void;
  }[] = [];
  readonly #pending = new Map<number, (answer: ReadAnswer | Error) => void>();
  readonly #started: Promise<void>;
  #next = 0;
  #failure: Error | undefined;

  constructor(cufile: Cufile, context: CudaContext, threads: number) {
    const starts: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, threads); i++) {
      const worker = new Worker(new URL("./_cufile_read_worker.ts", import.meta.url), {
        type: "module",
      });
      this.#workers.push(worker);
      starts.push(
        new Promise((resolve, reject) => {
          worker.onmessage = (event: MessageEvent<ReadAnswer>) => {
            const answer = event.data;
            if (answer.id === -1) {
              if (answer.error !== undefined) reject(new Error(answer.error));
              else resolve();
              return;
            }
            const settle = this.#pending.get(answer.id);
            this.#pending.delete(answer.id);
            this.#idle.push(worker);
            this.#dispatch();
            settle?.(answer);
          };
        }),
      );
      worker.onerror = (event) => {
        event.preventDefault();
        this.#fail(new Error(`A cuFile read Worker failed: ${event.message}`));
      };
      const start: ReadRequest = {
        kind: "start",
        cudaPath: context.driver.path,
        cufilePath: cufile.path,
        context: context.address,
      };
      worker.postMessage(start);
    }
    this.#started = Promise.all(starts).then(() => {
      this.#idle.push(...this.#workers);
      this.#dispatch();
    }, (error: Error) => this.#fail(error));
  }

  /** Resolves once every Worker has its libraries open, or rejects with why one has not. */
  async ready(): Promise<void> {
    await this.#started;
    if (this.#failure) throw this.#failure;
  }

  /**
   * Reads `size` bytes of `handle`'s file at `fileOffset` into device memory at
   * `device` + `deviceOffset`; resolves to the bytes read (fewer only at the
   * end of the file).
   */
  read(
    handle: CufileHandle,
    device: bigint,
    size: number,
    fileOffset: number,
    deviceOffset: number,
  ): Promise<number> {
    const request = {
      kind: "read" as const,
      handle: handle.address,
      device,
      size,
      fileOffset,
      deviceOffset,
    };
    return new Promise<ReadAnswer | Error>((settle) => {
      if (this.#failure) return settle(this.#failure);
      this.#queue.push({ request, settle });
      this.#dispatch();
    }).then((answer) => {
      if (answer instanceof Error) throw answer;
      if (answer.error !== undefined) throw new Error(answer.error);
      const got = answer.got!;
      if (got >= 0) return got;
      const call = `cuFileRead of ${size} bytes at ${fileOffset}`;
      if (-got > 5000) throw new CufileError(call, -got, 0);
      throw systemError(call, got === -1 ? answer.errno ?? 0 : -got);
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#idle.length > 0) {
      const worker = this.#idle.pop()!;
      const { request, settle } = this.#queue.shift()!;
      const id = this.#next++;
      this.#pending.set(id, settle);
      const message: ReadRequest = { ...request, id };
      worker.postMessage(message);
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const settle of this.#pending.values()) settle(error);
    this.#pending.clear();
    for (const { settle } of this.#queue.splice(0)) settle(error);
  }

  /** Stops the Workers; reads still in flight reject. */
  close(): void {
    this.#fail(new Error("The cuFile reader was closed"));
    for (const worker of this.#workers) worker.terminate();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
