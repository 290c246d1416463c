/**
 * A file read straight into native memory with `pread`, synchronously or on a
 * pool thread so that several reads can be in flight.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NativeFile } from "./native_file.ts";
 * import { NativeMemory } from "./native_memory.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([7, 8, 9]));
 * using file = NativeFile.open(path);
 * using memory = NativeMemory.allocate(file.size);
 * await file.readIntoAsync(memory.pointer(), file.size, 0);
 * assert.ok(memory.view(0, 3).join() === "7,8,9");
 * assert.ok(file.readBytes(1, 2).join() === "8,9");
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import {
  cString,
  errno,
  libc,
  O_CLOEXEC,
  O_RDONLY,
  offsetPointer,
  SEEK_END,
  systemError,
  unwrap,
} from "./libc.ts";

/** The most one pread asks for; Linux caps a single read near 2 GiB. */
const MAX_READ = 1 << 30;

/** An owned, read-only file descriptor. */
export class NativeFile implements Disposable {
  #fd: number;
  readonly path: string;
  readonly size: number;

  private constructor(fd: number, path: string, size: number) {
    this.#fd = fd;
    this.path = path;
    this.size = size;
  }

  /** Opens `path` read-only; `extraFlags` adds open(2) flags such as `O_DIRECT`. */
  static open(path: string, extraFlags = 0): NativeFile {
    const fd = unwrap(
      `open "${path}"`,
      libc().open(cString(path), O_RDONLY | O_CLOEXEC | extraFlags, 0),
    );
    const end = libc().lseek(fd, 0n, SEEK_END);
    if (end < 0n) {
      const error = systemError(`lseek "${path}"`, errno());
      libc().close(fd);
      throw error;
    }
    return new NativeFile(fd, path, Number(end));
  }

  /** The descriptor, for calls this class does not wrap. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`File "${this.path}" used after close()`);
    return this.#fd;
  }

  /** Reads exactly `length` bytes at `offset` into native memory at `destination`. */
  readInto(destination: Deno.PointerObject, length: number, offset: number): void {
    const done = this.readAtMost(destination, length, offset);
    if (done < length) throw this.#shortRead(offset, length, done);
  }

  /** Reads up to `length` bytes at `offset`, stopping early only at the end of the file. */
  readAtMost(destination: Deno.PointerObject, length: number, offset: number): number {
    let done = 0;
    while (done < length) {
      const want = BigInt(Math.min(length - done, MAX_READ));
      const got = Number(
        libc().pread(this.fd, offsetPointer(destination, done), want, BigInt(offset + done)),
      );
      if (got < 0) throw systemError(`pread "${this.path}" at ${offset + done}`, errno());
      if (got === 0) break;
      done += got;
    }
    return done;
  }

  /** Like {@link readInto}, on a pool thread; several may be in flight at once. */
  async readIntoAsync(
    destination: Deno.PointerObject,
    length: number,
    offset: number,
  ): Promise<void> {
    const done = await this.readAtMostAsync(destination, length, offset);
    if (done < length) throw this.#shortRead(offset, length, done);
  }

  /**
   * Reads up to `length` bytes at `offset` on a pool thread, stopping early
   * only at the end of the file; returns the bytes read.
   */
  async readAtMostAsync(
    destination: Deno.PointerObject,
    length: number,
    offset: number,
  ): Promise<number> {
    let done = 0;
    while (done < length) {
      const want = BigInt(Math.min(length - done, MAX_READ));
      const target = offsetPointer(destination, done);
      const at = BigInt(offset + done);
      let got = Number(await libc().preadAsync(this.fd, target, want, at));
      if (got < 0) {
        // errno belongs to the pool thread: repeat the read here to learn why it failed.
        got = Number(libc().pread(this.fd, target, want, at));
        if (got < 0) throw systemError(`pread "${this.path}" at ${offset + done}`, errno());
      }
      if (got === 0) break;
      done += got;
    }
    return done;
  }

  /** Reads `length` bytes at `offset` into a new JavaScript buffer. */
  readBytes(offset: number, length: number): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(length);
    if (length > 0) this.readInto(Deno.UnsafePointer.of(bytes)!, length, offset);
    return bytes;
  }

  #shortRead(offset: number, length: number, done: number): Error {
    return new Error(
      `Cannot read "${this.path}": file ended at ${offset + done}, ${
        length - done
      } bytes short of ${offset + length}`,
    );
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor; later calls do nothing. */
  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
