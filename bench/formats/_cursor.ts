/**
 * A forward cursor over a {@link ByteSource} for the binary formats (GGUF,
 * zip, pickle, protobuf): little- or big-endian integers read through a
 * window, so a file read with `pread` costs one read per window rather than
 * one per field, and a source already in memory is read without copying.
 *
 * Every read checks the file's real size first: a length that claims more
 * than the file holds fails with a one-line {@link WeightFileError} naming
 * what was being read, before anything is allocated for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { SourceCursor } from "./_cursor.ts";
 *
 * const cursor = new SourceCursor(bytesSource("x.bin", new Uint8Array([1, 0, 2, 0, 0, 0])));
 * assert.equal(cursor.u16("a"), 1);
 * assert.equal(cursor.u32("b"), 2);
 * assert.throws(() => cursor.u8("c"), /truncated: c at byte 6 needs 1 byte but the file ends at 6/);
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";
import type { ByteSource } from "./format.ts";

/** Bytes read at a time from a source that is not in memory. @default 256 KiB */
export const CURSOR_WINDOW = 256 << 10;

const TWO_32 = 2 ** 32;

/** Reads integers, floats and byte strings forward from a position of a source. */
export class SourceCursor {
  /** The next byte to read. */
  pos: number;
  readonly source: ByteSource;
  readonly littleEndian: boolean;
  #window: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #start = 0;
  readonly #windowBytes: number;

  constructor(
    source: ByteSource,
    pos = 0,
    options: { littleEndian?: boolean; windowBytes?: number } = {},
  ) {
    this.source = source;
    this.pos = pos;
    this.littleEndian = options.littleEndian ?? true;
    this.#windowBytes = options.windowBytes ?? CURSOR_WINDOW;
  }

  /** Bytes left from {@link pos} to the end of the file. */
  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** Throws unless `length` bytes from {@link pos} are in the file; `what` names them. */
  need(length: number, what: string): void {
    if (!(length <= this.source.size - this.pos)) {
      throw fileError(
        this.source.name,
        `truncated: ${what} at byte ${this.pos} needs ${
          _count(length)
        } but the file ends at ${this.source.size}`,
      );
    }
  }

  /** Makes `length` bytes from {@link pos} readable in the window; returns their index in it. */
  #at(length: number, what: string): number {
    const offset = this.pos - this.#start;
    if (offset >= 0 && offset + length <= this.#window.length) return offset;
    this.need(length, what);
    const size = Math.min(Math.max(length, this.#windowBytes), this.source.size - this.pos);
    this.#window = this.source.read(this.pos, size);
    this.#view = new DataView(this.#window.buffer, this.#window.byteOffset, this.#window.length);
    this.#start = this.pos;
    return 0;
  }

  u8(what: string): number {
    const at = this.#at(1, what);
    this.pos += 1;
    return this.#window[at]!;
  }

  u16(what: string): number {
    const at = this.#at(2, what);
    this.pos += 2;
    return this.#view.getUint16(at, this.littleEndian);
  }

  u32(what: string): number {
    const at = this.#at(4, what);
    this.pos += 4;
    return this.#view.getUint32(at, this.littleEndian);
  }

  i32(what: string): number {
    const at = this.#at(4, what);
    this.pos += 4;
    return this.#view.getInt32(at, this.littleEndian);
  }

  /**
   * An unsigned 64-bit integer as a number: exact up to 2^53, and past that
   * a close value no smaller than 2^53, which every size check rejects.
   */
  u64(what: string): number {
    const at = this.#at(8, what);
    this.pos += 8;
    const a = this.#view.getUint32(at, this.littleEndian);
    const b = this.#view.getUint32(at + 4, this.littleEndian);
    return this.littleEndian ? b * TWO_32 + a : a * TWO_32 + b;
  }

  /** A signed 64-bit integer as a number (exact within ±2^53). */
  i64(what: string): number {
    const at = this.#at(8, what);
    this.pos += 8;
    return Number(this.#view.getBigInt64(at, this.littleEndian));
  }

  /** An unsigned 64-bit integer, exactly. */
  u64Big(what: string): bigint {
    const at = this.#at(8, what);
    this.pos += 8;
    return this.#view.getBigUint64(at, this.littleEndian);
  }

  f32(what: string): number {
    const at = this.#at(4, what);
    this.pos += 4;
    return this.#view.getFloat32(at, this.littleEndian);
  }

  f64(what: string): number {
    const at = this.#at(8, what);
    this.pos += 8;
    return this.#view.getFloat64(at, this.littleEndian);
  }

  /** `length` bytes (a view into the window or the source; do not keep it past the next read). */
  bytes(length: number, what: string): Uint8Array {
    this.need(length, what);
    if (length > this.#windowBytes) {
      const bytes = this.source.read(this.pos, length);
      this.pos += length;
      return bytes;
    }
    const at = this.#at(length, what);
    this.pos += length;
    return this.#window.subarray(at, at + length);
  }

  /**
   * Moves past `count` length-prefixed strings (u64 length, then the bytes)
   * without decoding them; returns the index of a string whose length runs
   * past the end of the file (with {@link pos} at its length field), or -1.
   */
  skipStrings(count: number, what: string): number {
    for (let i = 0; i < count; i++) {
      let at = this.pos - this.#start;
      if (at < 0 || at + 8 > this.#window.length) at = this.#at(8, `${what}[${i}] length`);
      const a = this.#view.getUint32(at, this.littleEndian);
      const b = this.#view.getUint32(at + 4, this.littleEndian);
      const length = this.littleEndian ? b * TWO_32 + a : a * TWO_32 + b;
      if (length > this.source.size - this.pos - 8) return i;
      this.pos += 8 + length;
    }
    return -1;
  }

  /** Moves past `length` bytes without reading them. */
  skip(length: number, what: string): void {
    this.need(length, what);
    this.pos += length;
  }
}

function _count(length: number): string {
  if (!Number.isFinite(length) || length >= 2 ** 53) {
    return `about 2^${Math.round(Math.log2(length))} bytes`;
  }
  return `${length} byte${length === 1 ? "" : "s"}`;
}
