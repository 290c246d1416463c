/**
 * A zip reader that finds entries without reading them: the end of central
 * directory record (zip64 too), the central directory, and for an entry, the
 * byte range of its stored data in the file, from its local header. Nothing
 * is decompressed: callers refuse entries that are not stored.
 *
 * Every count, size and offset is checked against the file's real size, and
 * entries whose headers or data overlap are refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { encodeStoredZip, readZip } from "./zip.ts";
 *
 * const bytes = encodeStoredZip([{ name: "a/data.pkl", data: new Uint8Array([1, 2, 3]) }]);
 * const zip = readZip(bytesSource("x.zip", bytes));
 * const entry = zip.entries[0]!;
 * assert.equal(entry.name, "a/data.pkl");
 * assert.deepEqual([...bytes.subarray(entry.dataOffset, entry.dataOffset + entry.size)], [1, 2, 3]);
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";
import { SourceCursor } from "./_cursor.ts";
import type { ByteSource } from "./format.ts";

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_BYTES = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const ZIP64_EXTRA = 0x0001;
/** Compression methods by number, for messages. */
const METHODS: Record<number, string> = {
  0: "stored",
  8: "deflate",
  9: "deflate64",
  12: "bzip2",
  14: "lzma",
  93: "zstd",
};

/** One entry of a zip, with where its (compressed) data lies in the file. */
export interface ZipEntry {
  readonly name: string;
  /** 0 for stored, 8 for deflate, … */
  readonly method: number;
  /** The method's name (`stored`, `deflate`). */
  readonly methodName: string;
  /** Bytes of data in the file. */
  readonly compressedSize: number;
  /** Bytes once decompressed (equal to `compressedSize` when stored). */
  readonly size: number;
  readonly crc32: number;
  /** Offset of the entry's local header. */
  readonly localOffset: number;
  /** Offset of the entry's first data byte. */
  readonly dataOffset: number;
}

/** A zip's entries, in central directory order. */
export interface ZipArchive {
  readonly entries: readonly ZipEntry[];
  /** Whether the archive used zip64 records. */
  readonly zip64: boolean;
  /** Where the central directory starts. */
  readonly centralOffset: number;
}

/** Reads the central directory and every entry's local header. Throws {@link WeightFileError}. */
export function readZip(source: ByteSource): ZipArchive {
  const fail = (detail: string) => fileError(source.name, detail);
  const directory = _locateCentralDirectory(source, fail);
  const central = _readCentralDirectory(source, directory, fail);
  const entries = _locateData(source, central, directory.offset, fail);
  _refuseOverlaps(entries, fail);
  return {
    entries,
    zip64: directory.zip64 || central.some((entry) => entry.zip64),
    centralOffset: directory.offset,
  };
}

/** Where the central directory lies, from the end records. */
interface _Directory {
  /** Entries, as the end record says. */
  readonly count: number;
  readonly offset: number;
  readonly size: number;
  /** Whether the end records were zip64 ones. */
  readonly zip64: boolean;
}

/** An entry as the central directory describes it, before its local header is read; a zip64 extra field replaces its sizes and offset. */
interface _CentralEntry extends Omit<ZipEntry, "dataOffset"> {
  /** Whether a zip64 extra field gave the entry's sizes or offset. */
  zip64: boolean;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The end records, zip64 ones included, checked against the file and each other. */
function _locateCentralDirectory(source: ByteSource, fail: (d: string) => Error): _Directory {
  const end = _findEndRecord(source, fail);
  let { count, size, offset } = end;
  const zip64 = count === 0xffff || size === 0xffffffff || offset === 0xffffffff;
  if (zip64) {
    ({ count, size, offset } = _readZip64EndRecord(source, end.recordOffset, fail));
  } else if (end.disk !== 0 || end.directoryDisk !== 0) {
    throw fail("multi-part (spanned) zip archives are not supported");
  }
  if (!(offset + size <= end.recordOffset)) {
    throw fail(
      `central directory (${size} bytes at byte ${offset}) runs past the end record at byte ${end.recordOffset}`,
    );
  }
  if (count * CENTRAL_BYTES > size) {
    throw fail(`entry count ${count} exceeds what the ${size}-byte central directory holds`);
  }
  return { count, offset, size, zip64 };
}

/** The end of central directory record's fields, and where it starts. */
interface _EndRecord {
  readonly recordOffset: number;
  readonly disk: number;
  readonly directoryDisk: number;
  readonly count: number;
  readonly size: number;
  readonly offset: number;
}

/**
 * The end of central directory record: in the last 22 + 65535 bytes, the one
 * whose comment length reaches exactly to the end of the file. Most archives
 * have no comment, so the last 22 bytes are tried before the whole 64 KiB.
 */
function _findEndRecord(source: ByteSource, fail: (d: string) => Error): _EndRecord {
  if (source.size < EOCD_BYTES) {
    throw fail(`truncated: ${source.size} bytes, too short for a zip's end of central directory`);
  }
  for (const want of [EOCD_BYTES, EOCD_BYTES + MAX_COMMENT]) {
    const tailLength = Math.min(source.size, want);
    const tailStart = source.size - tailLength;
    const tail = source.read(tailStart, tailLength);
    const view = new DataView(tail.buffer, tail.byteOffset, tail.length);
    const at = _endRecordIn(view);
    if (at >= 0) {
      return {
        recordOffset: tailStart + at,
        disk: view.getUint16(at + 4, true),
        directoryDisk: view.getUint16(at + 6, true),
        count: view.getUint16(at + 10, true),
        size: view.getUint32(at + 12, true),
        offset: view.getUint32(at + 16, true),
      };
    }
    if (tailLength === source.size) break;
  }
  throw fail("not a complete zip: no end of central directory record (truncated?)");
}

/** Where in `tail` (the end of the file) the end record starts, or -1. */
function _endRecordIn(tail: DataView): number {
  for (let at = tail.byteLength - EOCD_BYTES; at >= 0; at--) {
    if (
      tail.getUint32(at, true) === EOCD_SIGNATURE &&
      at + EOCD_BYTES + tail.getUint16(at + 20, true) === tail.byteLength
    ) {
      return at;
    }
  }
  return -1;
}

/** The zip64 end record's entry count and directory, through the locator just before the end record. */
function _readZip64EndRecord(
  source: ByteSource,
  endRecordOffset: number,
  fail: (d: string) => Error,
): { count: number; size: number; offset: number } {
  if (endRecordOffset < 20) {
    throw fail("zip64 archive without its zip64 end of central directory locator");
  }
  const locator = new SourceCursor(source, endRecordOffset - 20, { windowBytes: 20 });
  if (locator.u32("zip64 locator") !== ZIP64_LOCATOR_SIGNATURE) {
    throw fail("zip64 archive without its zip64 end of central directory locator");
  }
  locator.u32("zip64 locator disk");
  const recordOffset = locator.u64("zip64 end of central directory offset");
  if (recordOffset + 56 > endRecordOffset - 20) {
    throw fail(`zip64 end of central directory offset ${recordOffset} is outside the file`);
  }
  const record = new SourceCursor(source, recordOffset, { windowBytes: 56 });
  if (record.u32("zip64 end of central directory") !== ZIP64_EOCD_SIGNATURE) {
    throw fail(`no zip64 end of central directory record at byte ${recordOffset}`);
  }
  record.skip(8 + 2 + 2 + 4 + 4, "zip64 end of central directory");
  record.u64("zip64 entries on this disk");
  const count = record.u64("zip64 entry count");
  const size = record.u64("zip64 central directory size");
  const offset = record.u64("zip64 central directory offset");
  return { count, size, offset };
}

/** Every entry of the central directory, in its order. */
function _readCentralDirectory(
  source: ByteSource,
  directory: _Directory,
  fail: (d: string) => Error,
): _CentralEntry[] {
  const cursor = new SourceCursor(source, directory.offset, {
    windowBytes: Math.min(directory.size, 1 << 20) || 1,
  });
  const end = directory.offset + directory.size;
  const entries: _CentralEntry[] = [];
  for (let i = 0; i < directory.count; i++) entries.push(_readCentralEntry(cursor, i, end, fail));
  return entries;
}

/** One central directory record, at the cursor, which moves past it. */
function _readCentralEntry(
  cursor: SourceCursor,
  i: number,
  directoryEnd: number,
  fail: (d: string) => Error,
): _CentralEntry {
  const what = `central directory entry #${i}`;
  if (cursor.pos + CENTRAL_BYTES > directoryEnd) {
    throw fail(`${what} runs past the central directory`);
  }
  if (cursor.u32(what) !== CENTRAL_SIGNATURE) {
    throw fail(`${what} at byte ${cursor.pos - 4} has a bad signature`);
  }
  cursor.skip(4, what); // versions
  const flags = cursor.u16(what);
  const method = cursor.u16(what);
  cursor.skip(4, what); // time, date
  const crc32 = cursor.u32(what);
  const compressedSize = cursor.u32(what);
  const size = cursor.u32(what);
  const nameLength = cursor.u16(what);
  const extraLength = cursor.u16(what);
  const commentLength = cursor.u16(what);
  const diskStart = cursor.u16(what);
  cursor.skip(6, what); // attributes
  const localOffset = cursor.u32(what);
  if (cursor.pos + nameLength + extraLength + commentLength > directoryEnd) {
    throw fail(`${what} runs past the central directory`);
  }
  const name = _name(cursor.bytes(nameLength, `${what} name`));
  const entry: _CentralEntry = {
    name,
    method,
    methodName: METHODS[method] ?? `method ${method}`,
    compressedSize,
    size,
    crc32,
    localOffset,
    zip64: false,
  };
  const extraEnd = cursor.pos + extraLength;
  _readExtraFields(cursor, extraEnd, entry, what, fail);
  cursor.pos = extraEnd + commentLength;
  if (flags & 1) throw fail(`entry ${_quote(name)} is encrypted`);
  if (diskStart !== 0 && diskStart !== 0xffff) {
    throw fail("multi-part (spanned) zip archives are not supported");
  }
  return entry;
}

/** The extra fields up to `extraEnd`: a zip64 one gives `entry` the sizes and offset its record leaves at 0xffffffff. */
function _readExtraFields(
  cursor: SourceCursor,
  extraEnd: number,
  entry: _CentralEntry,
  what: string,
  fail: (d: string) => Error,
): void {
  while (cursor.pos + 4 <= extraEnd) {
    const id = cursor.u16(`${what} extra field`);
    const length = cursor.u16(`${what} extra field`);
    if (cursor.pos + length > extraEnd) {
      throw fail(`entry ${_quote(entry.name)}: extra field runs past its end`);
    }
    const fieldEnd = cursor.pos + length;
    if (id === ZIP64_EXTRA) _readZip64Extra(cursor, fieldEnd, entry, what, fail);
    cursor.pos = fieldEnd;
  }
}

/** A zip64 extra field: the 64-bit values, in order, of the fields whose 32-bit ones are 0xffffffff. */
function _readZip64Extra(
  cursor: SourceCursor,
  fieldEnd: number,
  entry: _CentralEntry,
  what: string,
  fail: (d: string) => Error,
): void {
  entry.zip64 = true;
  const take = (label: string) => {
    if (cursor.pos + 8 > fieldEnd) {
      throw fail(`entry ${_quote(entry.name)}: zip64 field lacks its ${label}`);
    }
    return cursor.u64(`${what} zip64 ${label}`);
  };
  if (entry.size === 0xffffffff) entry.size = take("size");
  if (entry.compressedSize === 0xffffffff) entry.compressedSize = take("compressed size");
  if (entry.localOffset === 0xffffffff) entry.localOffset = take("local header offset");
}

/** Each entry with where its data starts, from its local header, checked to end before the central directory. */
function _locateData(
  source: ByteSource,
  central: readonly _CentralEntry[],
  directoryOffset: number,
  fail: (d: string) => Error,
): ZipEntry[] {
  const local = new SourceCursor(source, 0, { windowBytes: LOCAL_BYTES });
  const entries: ZipEntry[] = [];
  for (const entry of central) {
    const dataOffset = _readLocalHeader(local, entry, directoryOffset, fail);
    entries.push({
      name: entry.name,
      method: entry.method,
      methodName: entry.methodName,
      compressedSize: entry.compressedSize,
      size: entry.size,
      crc32: entry.crc32,
      localOffset: entry.localOffset,
      dataOffset,
    });
  }
  return entries;
}

/** Where `entry`'s data starts: past its local header, whose name and extra lengths may differ from the directory's. */
function _readLocalHeader(
  local: SourceCursor,
  entry: _CentralEntry,
  directoryOffset: number,
  fail: (d: string) => Error,
): number {
  const what = `entry ${_quote(entry.name)}`;
  if (!(entry.localOffset + LOCAL_BYTES <= directoryOffset)) {
    throw fail(
      `${what}: local header at byte ${entry.localOffset} is outside the data before the central directory`,
    );
  }
  local.pos = entry.localOffset;
  if (local.u32(`${what} local header`) !== LOCAL_SIGNATURE) {
    throw fail(`${what}: no local header at byte ${entry.localOffset}`);
  }
  local.skip(22, `${what} local header`);
  const nameLength = local.u16(`${what} local header`);
  const extraLength = local.u16(`${what} local header`);
  const dataOffset = entry.localOffset + LOCAL_BYTES + nameLength + extraLength;
  if (!(dataOffset + entry.compressedSize <= directoryOffset)) {
    throw fail(
      `${what}: ${entry.compressedSize} bytes of data at byte ${dataOffset} run past the central directory at byte ${directoryOffset}`,
    );
  }
  if (entry.method === 0 && entry.size !== entry.compressedSize) {
    throw fail(
      `${what} is stored but its sizes differ (${entry.compressedSize} and ${entry.size})`,
    );
  }
  return dataOffset;
}

/** Throws when two entries' headers or data overlap. */
function _refuseOverlaps(entries: readonly ZipEntry[], fail: (d: string) => Error): void {
  const sorted = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.localOffset < a.dataOffset + a.compressedSize) {
      throw fail(`entries ${_quote(a.name)} and ${_quote(b.name)} overlap`);
    }
  }
}

const _utf8 = new TextDecoder("utf-8", { fatal: true });

function _name(bytes: Uint8Array): string {
  try {
    return _utf8.decode(bytes);
  } catch {
    // Names without the UTF-8 flag are CP437; torch writes ASCII. Keep them readable.
    return Array.from(bytes, (b) => String.fromCharCode(b)).join("");
  }
}

function _quote(text: string): string {
  return JSON.stringify(text.length <= 120 ? text : `${text.slice(0, 120)}…`);
}

// ---------------------------------------------------------------------------
// Writer

/** One entry for {@link encodeStoredZip}. */
export interface StoredEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/**
 * A zip of stored (uncompressed) entries laid out as `torch.save` lays them:
 * each entry's data starts at a multiple of 64 bytes, padded with an extra
 * field. For small files (tests); fixtures stream with {@link localHeader}.
 */
export function encodeStoredZip(entries: readonly StoredEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: CentralRecord[] = [];
  let offset = 0;
  for (const entry of entries) {
    const crc = crc32(entry.data);
    const header = localHeader(entry.name, entry.data.length, crc, offset);
    parts.push(header, entry.data);
    central.push({ name: entry.name, size: entry.data.length, crc, localOffset: offset });
    offset += header.length + entry.data.length;
  }
  parts.push(centralDirectory(central, offset));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What {@link centralDirectory} records of each entry. */
export interface CentralRecord {
  readonly name: string;
  readonly size: number;
  readonly crc: number;
  readonly localOffset: number;
}

/** Data of an entry starts at a multiple of this, as in PyTorch's writer. */
export const ZIP_DATA_ALIGNMENT = 64;
const PAD_EXTRA_ID = 0x4246; // "FB", the id PyTorch pads with
const U32_MAX = 0xffffffff;

/**
 * The local header of a stored entry whose header starts at `offset`, padded
 * so its data starts at a multiple of {@link ZIP_DATA_ALIGNMENT}; with a zip64
 * extra field when the size needs one.
 */
export function localHeader(name: string, size: number, crc: number, offset: number): Uint8Array {
  const nameBytes = _encoder.encode(name);
  const big = size >= U32_MAX;
  const zip64Length = big ? 4 + 16 : 0;
  const base = offset + LOCAL_BYTES + nameBytes.length + zip64Length;
  const pad = (ZIP_DATA_ALIGNMENT - ((base + 4) % ZIP_DATA_ALIGNMENT)) % ZIP_DATA_ALIGNMENT;
  const extraLength = zip64Length + 4 + pad;
  const out = new Uint8Array(LOCAL_BYTES + nameBytes.length + extraLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, LOCAL_SIGNATURE, true);
  v.setUint16(4, big ? 45 : 20, true);
  v.setUint16(6, 0x0800, true); // UTF-8 names
  v.setUint16(8, 0, true); // stored
  v.setUint32(14, crc, true);
  v.setUint32(18, big ? U32_MAX : size, true);
  v.setUint32(22, big ? U32_MAX : size, true);
  v.setUint16(26, nameBytes.length, true);
  v.setUint16(28, extraLength, true);
  out.set(nameBytes, LOCAL_BYTES);
  let at = LOCAL_BYTES + nameBytes.length;
  if (big) {
    v.setUint16(at, ZIP64_EXTRA, true);
    v.setUint16(at + 2, 16, true);
    v.setBigUint64(at + 4, BigInt(size), true);
    v.setBigUint64(at + 12, BigInt(size), true);
    at += 20;
  }
  v.setUint16(at, PAD_EXTRA_ID, true);
  v.setUint16(at + 2, pad, true);
  return out;
}

/** The central directory and end records for `entries`, the directory starting at `offset`. */
export function centralDirectory(
  entries: readonly CentralRecord[],
  offset: number,
  options: { readonly zip64?: boolean } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  let needs64 = options.zip64 === true || entries.length >= 0xffff || offset >= U32_MAX;
  for (const e of entries) {
    const nameBytes = _encoder.encode(e.name);
    const bigSize = e.size >= U32_MAX;
    const bigOffset = e.localOffset >= U32_MAX;
    const extra = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
    const extraLength = extra > 0 ? 4 + extra : 0;
    needs64 ||= extra > 0;
    const out = new Uint8Array(CENTRAL_BYTES + nameBytes.length + extraLength);
    const v = new DataView(out.buffer);
    v.setUint32(0, CENTRAL_SIGNATURE, true);
    v.setUint16(4, extra > 0 ? 45 : 20, true);
    v.setUint16(6, extra > 0 ? 45 : 20, true);
    v.setUint16(8, 0x0800, true);
    v.setUint32(16, e.crc, true);
    v.setUint32(20, bigSize ? U32_MAX : e.size, true);
    v.setUint32(24, bigSize ? U32_MAX : e.size, true);
    v.setUint16(28, nameBytes.length, true);
    v.setUint16(30, extraLength, true);
    v.setUint32(42, bigOffset ? U32_MAX : e.localOffset, true);
    out.set(nameBytes, CENTRAL_BYTES);
    if (extra > 0) {
      let at = CENTRAL_BYTES + nameBytes.length;
      v.setUint16(at, ZIP64_EXTRA, true);
      v.setUint16(at + 2, extra, true);
      at += 4;
      if (bigSize) {
        v.setBigUint64(at, BigInt(e.size), true);
        v.setBigUint64(at + 8, BigInt(e.size), true);
        at += 16;
      }
      if (bigOffset) v.setBigUint64(at, BigInt(e.localOffset), true);
    }
    parts.push(out);
    length += out.length;
  }
  const cdEnd = offset + length;
  if (needs64) {
    const record = new Uint8Array(56 + 20);
    const v = new DataView(record.buffer);
    v.setUint32(0, ZIP64_EOCD_SIGNATURE, true);
    v.setBigUint64(4, 44n, true);
    v.setUint16(12, 45, true);
    v.setUint16(14, 45, true);
    v.setBigUint64(24, BigInt(entries.length), true);
    v.setBigUint64(32, BigInt(entries.length), true);
    v.setBigUint64(40, BigInt(length), true);
    v.setBigUint64(48, BigInt(offset), true);
    v.setUint32(56, ZIP64_LOCATOR_SIGNATURE, true);
    v.setBigUint64(56 + 8, BigInt(cdEnd), true);
    v.setUint32(56 + 16, 1, true);
    parts.push(record);
  }
  const end = new Uint8Array(EOCD_BYTES);
  const v = new DataView(end.buffer);
  v.setUint32(0, EOCD_SIGNATURE, true);
  v.setUint16(8, needs64 ? 0xffff : entries.length, true);
  v.setUint16(10, needs64 ? 0xffff : entries.length, true);
  v.setUint32(12, needs64 ? U32_MAX : length, true);
  v.setUint32(16, needs64 ? U32_MAX : offset, true);
  parts.push(end);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const _encoder = new TextEncoder();

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of `bytes`, continuing from `crc` (the CRC of the bytes before). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
