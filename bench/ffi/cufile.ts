/**
 * NVIDIA cuFile (GPUDirect Storage) through FFI: just what the `gds`
 * strategy needs — open the driver, register a file and a device buffer,
 * read from the file straight into the buffer.
 *
 * The library is found as `WEIGHTBENCH_CUFILE` names it, else
 * `libcufile.so.0`, `libcufile.so` or under `/usr/local/cuda/lib64`; when none
 * opens, {@link cufile} throws {@link CufileUnavailableError} listing every
 * path tried. Whether reads are true GPUDirect Storage (DMA from NVMe to GPU
 * memory through the `nvidia-fs` kernel module) or cuFile's compatibility
 * mode (POSIX reads through a bounce buffer, as with no GDS at all) is read
 * from the module's presence: {@link cufileMode}.
 *
 * Signatures follow `cufile.h` (CUDA 12/13). Only the path where the library
 * is absent has run on the machines this was written on; the rest waits for a
 * GPU machine with cuFile installed.
 *
 * @module
 */

import { optionalEnv } from "../util/env.ts";

const symbols = {
  /** CUfileError_t cuFileDriverOpen(void) — { CUfileOpError err; CUresult cu_err; } by value */
  cuFileDriverOpen: { parameters: [], result: { struct: ["i32", "i32"] } },
  /** CUfileError_t cuFileHandleRegister(CUfileHandle_t *fh, CUfileDescr_t *descr) */
  cuFileHandleRegister: { parameters: ["buffer", "buffer"], result: { struct: ["i32", "i32"] } },
  /** void cuFileHandleDeregister(CUfileHandle_t fh) */
  cuFileHandleDeregister: { parameters: ["pointer"], result: "void" },
  /** CUfileError_t cuFileBufRegister(const void *devPtr_base, size_t length, int flags) */
  cuFileBufRegister: {
    parameters: ["pointer", "usize", "i32"],
    result: { struct: ["i32", "i32"] },
  },
  /** CUfileError_t cuFileBufDeregister(const void *devPtr_base) */
  cuFileBufDeregister: { parameters: ["pointer"], result: { struct: ["i32", "i32"] } },
  /**
   * ssize_t cuFileRead(CUfileHandle_t fh, void *devPtr_base, size_t size, off_t file_offset,
   * off_t devPtr_offset), on a pool thread: it blocks until the bytes are in device memory
   */
  cuFileRead: {
    parameters: ["pointer", "pointer", "usize", "i64", "i64"],
    result: "isize",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The cuFile functions weightbench uses. */
export type Cufile = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Where the library is looked for, after `WEIGHTBENCH_CUFILE`. */
export const CUFILE_CANDIDATES: readonly string[] = [
  "libcufile.so.0",
  "libcufile.so",
  "/usr/local/cuda/lib64/libcufile.so.0",
];

/** `CU_FILE_HANDLE_TYPE_OPAQUE_FD` of `CUfileFileHandleType`. */
const CU_FILE_HANDLE_TYPE_OPAQUE_FD = 1;

/** No cuFile library could be opened; the message lists every path tried. */
export class CufileUnavailableError extends Error {
  constructor(readonly tried: readonly string[], options?: ErrorOptions) {
    super(
      `Cannot open cuFile (GPUDirect Storage): tried ${tried.map((p) => `"${p}"`).join(", ")}`,
      options,
    );
    this.name = "CufileUnavailableError";
  }
}

/** A cuFile call failed: `err` is its CUfileOpError, `cuErr` the CUresult beside it. */
export class CufileError extends Error {
  constructor(call: string, readonly err: number, readonly cuErr: number) {
    super(`${call} failed: CUfileOpError ${err}${cuErr !== 0 ? `, CUresult ${cuErr}` : ""}`);
    this.name = "CufileError";
  }
}

let loaded: Deno.DynamicLibrary<typeof symbols> | undefined;
let driverOpen = false;

/** Opens cuFile on first use (and its driver); throws {@link CufileUnavailableError} when absent. */
export function cufile(candidates: readonly string[] = defaultCandidates()): Cufile {
  if (loaded) return loaded.symbols;
  const errors: unknown[] = [];
  for (const path of candidates) {
    try {
      loaded = Deno.dlopen(path, symbols);
      return loaded.symbols;
    } catch (error) {
      errors.push(error);
    }
  }
  throw new CufileUnavailableError(candidates, { cause: errors });
}

/** The paths tried: `WEIGHTBENCH_CUFILE` first when set. */
export function defaultCandidates(): string[] {
  const override = optionalEnv("WEIGHTBENCH_CUFILE");
  return override ? [override, ...CUFILE_CANDIDATES] : [...CUFILE_CANDIDATES];
}

/** Throws {@link CufileError} unless the CUfileError_t `status` is success. */
export function unwrapCufile(call: string, status: Uint8Array): void {
  const view = new DataView(status.buffer, status.byteOffset, status.byteLength);
  const err = view.getInt32(0, true);
  const cuErr = view.getInt32(4, true);
  if (err !== 0) throw new CufileError(call, err, cuErr);
}

/** Opens the cuFile driver once per process. */
export function openCufileDriver(): void {
  if (driverOpen) return;
  unwrapCufile("cuFileDriverOpen", cufile().cuFileDriverOpen());
  driverOpen = true;
}

/** How cuFile will move bytes on this machine, in words for the profile. */
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

/** A file registered with cuFile; `close()` deregisters it and is safe to call twice. */
export class CufileHandle implements Disposable {
  #handle: Deno.PointerObject | null;

  constructor(fd: number) {
    openCufileDriver();
    // CUfileDescr_t: { int type; (pad); union { int fd; void *handle; }; const CUfileFSOps_t *fs_ops; }
    const descr = new Uint8Array(24);
    const view = new DataView(descr.buffer);
    view.setInt32(0, CU_FILE_HANDLE_TYPE_OPAQUE_FD, true);
    view.setInt32(8, fd, true);
    const out = new BigUint64Array(1);
    unwrapCufile("cuFileHandleRegister", cufile().cuFileHandleRegister(out, descr));
    this.#handle = Deno.UnsafePointer.create(out[0]!);
  }

  /** Reads `size` bytes at `fileOffset` into device memory at `device` + `deviceOffset`. */
  async read(
    device: Deno.PointerObject,
    size: number,
    fileOffset: number,
    deviceOffset: number,
  ): Promise<number> {
    if (this.#handle === null) throw new Error("cuFile handle used after close()");
    const got = Number(
      await cufile().cuFileRead(
        this.#handle,
        device,
        BigInt(size),
        BigInt(fileOffset),
        BigInt(deviceOffset),
      ),
    );
    if (got < 0) throw new CufileError("cuFileRead", -got, 0);
    return got;
  }

  close(): void {
    if (this.#handle === null) return;
    cufile().cuFileHandleDeregister(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Device memory registered with cuFile for the duration of a read; `close()` is safe twice. */
export class CufileBuffer implements Disposable {
  #pointer: Deno.PointerObject | null;

  constructor(device: Deno.PointerObject, length: number) {
    unwrapCufile("cuFileBufRegister", cufile().cuFileBufRegister(device, BigInt(length), 0));
    this.#pointer = device;
  }

  close(): void {
    if (this.#pointer === null) return;
    unwrapCufile("cuFileBufDeregister", cufile().cuFileBufDeregister(this.#pointer));
    this.#pointer = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
