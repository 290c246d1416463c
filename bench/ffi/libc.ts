/**
 * The libc symbols weightbench calls through Deno's FFI: file I/O straight into
 * native memory, mappings, page-cache control and residency, and `/proc` reads.
 *
 * The library is opened on first use, so modules that never call it need no
 * `--allow-ffi`. `WEIGHTBENCH_LIBC` names another path to try first.
 *
 * Every call that reports failure as `-1` and `errno` goes through
 * {@link unwrap}, which turns it into a {@link SystemError} carrying the errno
 * name and libc's own text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cString, libc, O_CLOEXEC, O_RDONLY, SC_PAGESIZE } from "./libc.ts";
 *
 * const pageSize = Number(libc().sysconf(SC_PAGESIZE));
 * assert.ok(pageSize >= 4096);
 * const fd = libc().open(cString("/proc/self/status"), O_RDONLY | O_CLOEXEC, 0);
 * assert.ok(fd >= 0);
 * libc().close(fd);
 * ```
 *
 * @module
 */

import { type LibrarySpec, NativeCallError, openLibrary } from "./library.ts";

/** Linux x86-64 and aarch64 share these values. */
export const O_RDONLY = 0;
/** Open for writing only. */
export const O_WRONLY = 1;
/** Create the file if missing. */
export const O_CREAT = 0o100;
/** Truncate the file on open. */
export const O_TRUNC = 0o1000;
/** Close the descriptor on exec. */
export const O_CLOEXEC = 0o2000000;
/** Bypass the page cache (x86-64 value; aarch64 uses 0o200000). */
export const O_DIRECT = Deno.build.arch === "aarch64" ? 0o200000 : 0o40000;
/** `PROT_READ` for mmap. */
export const PROT_READ = 1;
/** `PROT_WRITE` for mmap. */
export const PROT_WRITE = 2;
/** `MAP_SHARED` for mmap. */
export const MAP_SHARED = 0x01;
/** `MAP_PRIVATE` for mmap. */
export const MAP_PRIVATE = 0x02;
/** `MAP_ANONYMOUS` for mmap. */
export const MAP_ANONYMOUS = 0x20;
/** `MAP_POPULATE`: fault every page in at map time. */
export const MAP_POPULATE = 0x8000;
/** `MADV_SEQUENTIAL`: expect sequential access, read ahead aggressively. */
export const MADV_SEQUENTIAL = 2;
/** `MADV_WILLNEED`: start reading the range now. */
export const MADV_WILLNEED = 3;
/** `MADV_POPULATE_WRITE` (Linux 5.14): fault the range in, writable, without writing it. */
export const MADV_POPULATE_WRITE = 23;
/** `MADV_HUGEPAGE`: back the range with transparent huge pages. */
export const MADV_HUGEPAGE = 14;
/** `POSIX_FADV_SEQUENTIAL`. */
export const POSIX_FADV_SEQUENTIAL = 2;
/** `POSIX_FADV_DONTNEED`: drop the range's clean pages from the page cache. */
export const POSIX_FADV_DONTNEED = 4;
/** `SEEK_END` for lseek. */
export const SEEK_END = 2;
/** `_SC_PAGESIZE` for sysconf. */
export const SC_PAGESIZE = 30;

/** The libc symbols, as `unistd.h`, `fcntl.h`, `sys/mman.h` and `string.h` declare them. */
export const LIBC_SYMBOLS = {
  /** int open(const char *path, int flags, mode_t mode) */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int unlink(const char *path) */
  unlink: { parameters: ["buffer"], result: "i32" },
  /** int statfs(const char *path, struct statfs *buf); f_type is the first field (a long) */
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** off_t lseek(int fd, off_t offset, int whence) */
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  /** ssize_t pread(int fd, void *buf, size_t count, off_t offset) */
  pread: { parameters: ["i32", "pointer", "usize", "i64"], result: "isize" },
  /** the same pread, run on a pool thread so several can be in flight */
  preadAsync: {
    name: "pread",
    parameters: ["i32", "pointer", "usize", "i64"],
    result: "isize",
    nonblocking: true,
  },
  /** ssize_t read(int fd, void *buf, size_t count), into a JS buffer */
  readBuffer: { name: "read", parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t write(int fd, const void *buf, size_t count), from a JS buffer */
  writeBuffer: { name: "write", parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** int fdatasync(int fd) */
  fdatasync: { parameters: ["i32"], result: "i32" },
  /** int posix_fadvise(int fd, off_t offset, off_t len, int advice); returns the error number */
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  /** void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) */
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  /** int munmap(void *addr, size_t length) */
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  /** int madvise(void *addr, size_t length, int advice) */
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  /** the same madvise, on a pool thread (for MADV_POPULATE_WRITE of large ranges) */
  madviseAsync: {
    name: "madvise",
    parameters: ["pointer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** void *memset(void *s, int c, size_t n), on a pool thread */
  memsetAsync: {
    name: "memset",
    parameters: ["pointer", "i32", "usize"],
    result: "pointer",
    nonblocking: true,
  },
  /** int mincore(void *addr, size_t length, unsigned char *vec) */
  mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  /** void *memcpy(void *dest, const void *src, size_t n) */
  memcpy: { parameters: ["pointer", "pointer", "usize"], result: "pointer" },
  /** the same memcpy, run on a pool thread so several can be in flight */
  memcpyAsync: {
    name: "memcpy",
    parameters: ["pointer", "pointer", "usize"],
    result: "pointer",
    nonblocking: true,
  },
  /** long sysconf(int name) */
  sysconf: { parameters: ["i32"], result: "i64" },
  /** int *__errno_location(void) */
  __errno_location: { parameters: [], result: "pointer" },
  /** char *strerror(int errnum) */
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc functions weightbench uses. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** libc: `WEIGHTBENCH_LIBC` first, then the usual names; every symbol is required. */
export const LIBC: LibrarySpec<typeof LIBC_SYMBOLS> = {
  name: "libc",
  env: "WEIGHTBENCH_LIBC",
  candidates: ["libc.so.6", "libc.so"],
  symbols: LIBC_SYMBOLS,
  fallbacks: {},
};

let loaded: Libc | undefined;

/** Opens libc on first use and keeps it; every path tried is listed if none opens. */
export function libc(): Libc {
  loaded ??= openLibrary(LIBC).library.symbols;
  return loaded;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
};

/** A libc call failed; `code` is the errno name (`ENOENT`), `errno` its number. */
export class SystemError extends NativeCallError {
  readonly errno: number;

  constructor(call: string, errno: number, detail: string) {
    super(call, errno, ERRNO_NAMES[errno] ?? `errno ${errno}`, detail);
    this.name = "SystemError";
    this.errno = errno;
  }
}

/** The calling thread's `errno`, read right after a failed synchronous call. */
export function errno(): number {
  const location = libc().__errno_location();
  return location ? new Deno.UnsafePointerView(location).getInt32() : 0;
}

/** The `SystemError` for `errnum` after `call` failed. */
export function systemError(call: string, errnum: number): SystemError {
  const text = libc().strerror(errnum);
  return new SystemError(call, errnum, text ? Deno.UnsafePointerView.getCString(text) : "unknown");
}

/**
 * Returns `result` unless it is `-1`, in which case it throws the
 * {@link SystemError} for the current `errno`. Call it right after the libc
 * call, on the same thread, before anything else can change `errno`.
 */
export function unwrap<T extends number | bigint>(call: string, result: T): T {
  if (result === -1 || result === -1n) throw systemError(call, errno());
  return result;
}

/** A NUL-terminated copy of `text` for `char *` parameters. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** `pointer + offset` for pointers into native memory. */
export function offsetPointer(pointer: Deno.PointerObject, offset: number): Deno.PointerObject {
  if (offset === 0) return pointer;
  return Deno.UnsafePointer.offset(pointer, offset) as Deno.PointerObject;
}

let pageSize: number | undefined;

/** The system page size in bytes. */
export function systemPageSize(): number {
  pageSize ??= Number(libc().sysconf(SC_PAGESIZE));
  return pageSize;
}

/** `f_type` of tmpfs in statfs. */
export const TMPFS_MAGIC = 0x01021994n;
/** `f_type` of ramfs in statfs. */
export const RAMFS_MAGIC = 0x858458f6n;

/** The file system type number (`f_type`) of the file system holding `path`. */
export function fileSystemType(path: string): bigint {
  return BigInt.asUintN(64, statfs(path)[0]!);
}

/** Bytes an unprivileged user may still write on the file system holding `path`. */
export function freeBytes(path: string): number {
  const fields = statfs(path); // f_type, f_bsize, f_blocks, f_bfree, f_bavail, …
  return Number(fields[4]!) * Number(fields[1]!);
}

function statfs(path: string): BigInt64Array {
  const fields = new BigInt64Array(16); // struct statfs is 120 bytes on 64-bit Linux
  unwrap(`statfs "${path}"`, libc().statfs(cString(path), new Uint8Array(fields.buffer)));
  return fields;
}
