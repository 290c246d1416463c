/**
 * The GGUF format (llama.cpp), versions 2 and 3: the magic `GGUF`, a version,
 * the tensor and metadata counts, typed metadata key/value pairs, one info per
 * tensor (name, dimensions innermost first, GGML type, offset in the data
 * section), then the data section at the next multiple of
 * `general.alignment` (32 unless the metadata says otherwise).
 *
 * {@link gguf} reads a file's index: each tensor's dtype is its GGML type name
 * and its byte length is exact from the type's block size. Every count and
 * length is checked against the file's real size before it is used, so a
 * hostile header fails in microseconds with one line naming the problem.
 * Metadata comes back as strings: scalars as their value (long strings cut
 * short), arrays as `[N × TYPE]`. {@link readGgufMetadata} gives every value
 * typed, for tests and tools. {@link encodeGguf} writes a file's header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { encodeGguf, gguf } from "./gguf.ts";
 *
 * const { bytes, dataOffset } = encodeGguf({
 *   metadata: [["general.architecture", { type: "STRING", value: "llama" }]],
 *   tensors: [{ name: "token_embd.weight", type: "Q8_0", ne: [64, 2] }],
 * });
 * const file = new Uint8Array(dataOffset + 136);
 * file.set(bytes);
 * assert.ok(gguf.sniff(file.subarray(0, 64)));
 * const index = gguf.parse(bytesSource("tiny.gguf", file));
 * const t = index.tensors[0]!;
 * assert.deepEqual([t.dtype, t.shape, t.offset, t.byteLength], ["Q8_0", [64, 2], dataOffset, 136]);
 * assert.equal(index.metadata["general.architecture"], "llama");
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";
import { suggest } from "../util/suggest.ts";
import { SourceCursor } from "./_cursor.ts";
import {
  type ByteSource,
  requireTensors,
  type TensorInfo,
  type WeightFileIndex,
  type WeightFormat,
} from "./format.ts";
import { GGML_TYPES, ggmlType, ggmlTypeById } from "./ggml.ts";

/** The four bytes every GGUF file starts with. */
export const GGUF_MAGIC = "GGUF";
/** The versions read. */
export const GGUF_VERSIONS: readonly number[] = [2, 3];
/** The data section's alignment when the metadata has no `general.alignment`. @default 32 */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Most dimensions of a tensor (ggml's GGML_MAX_DIMS). */
export const GGUF_MAX_DIMS = 4;
/** Deepest nesting of arrays in metadata. */
export const GGUF_MAX_ARRAY_DEPTH = 16;
/** Longest metadata string kept in the index's metadata; longer ones are cut short. */
const MAX_METADATA_CHARS = 256;
const MAX_QUOTED_CHARS = 120;

/** The metadata value types, by id. */
export const GGUF_VALUE_TYPES = [
  "UINT8",
  "INT8",
  "UINT16",
  "INT16",
  "UINT32",
  "INT32",
  "FLOAT32",
  "BOOL",
  "STRING",
  "ARRAY",
  "UINT64",
  "INT64",
  "FLOAT64",
] as const;

/** A metadata value type's name. */
export type GgufValueType = typeof GGUF_VALUE_TYPES[number];

/** Fixed byte sizes of the scalar value types; strings and arrays have none. */
const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  UINT32: 4,
  INT32: 4,
  FLOAT32: 4,
  BOOL: 1,
  UINT64: 8,
  INT64: 8,
  FLOAT64: 8,
};

/** A typed metadata value. 64-bit integers are `bigint`. */
export type GgufValue =
  | {
    readonly type: Exclude<GgufValueType, "ARRAY" | "STRING" | "BOOL" | "UINT64" | "INT64">;
    readonly value: number;
  }
  | { readonly type: "UINT64" | "INT64"; readonly value: bigint }
  | { readonly type: "BOOL"; readonly value: boolean }
  | { readonly type: "STRING"; readonly value: string }
  | {
    readonly type: "ARRAY";
    readonly itemType: GgufValueType;
    readonly value: readonly GgufValue[];
  };

/** A tensor as {@link encodeGguf} lays it out. */
export interface GgufTensorSpec {
  readonly name: string;
  /** A GGML type name (`F16`, `Q8_0`). */
  readonly type: string;
  /** Dimensions, innermost first (ggml's `ne`). */
  readonly ne: readonly number[];
}

/** What {@link encodeGguf} writes. */
export interface GgufSpec {
  /** @default 3 */
  readonly version?: number;
  readonly metadata: readonly (readonly [string, GgufValue])[];
  readonly tensors: readonly GgufTensorSpec[];
}

/** A header as {@link encodeGguf} builds it. */
export interface EncodedGguf {
  /** Everything before the data section, padding included. */
  readonly bytes: Uint8Array;
  /** Where the data section starts: `bytes.length`. */
  readonly dataOffset: number;
  /** Each tensor's range in the data section, in the order given. */
  readonly ranges: readonly { name: string; begin: number; end: number }[];
}

/** The GGUF format. */
export const gguf: WeightFormat = {
  name: "gguf",
  extensions: [".gguf"],
  sniff(head: Uint8Array): boolean {
    return head.length >= 8 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 &&
      head[3] === 0x46;
  },
  parse(source: ByteSource): WeightFileIndex {
    const { index, littleEndian } = _parse(source, false);
    if (!littleEndian) {
      throw fileError(
        source.name,
        "big-endian GGUF (written for s390x): its tensors' bytes are big-endian, and loads copy bytes as stored; convert it to little-endian with llama.cpp's gguf_convert_endian.py",
      );
    }
    return requireTensors(index, "the tensor infos (the header's tensor count is 0)");
  },
};

/** The index and every metadata value, typed, in file order. */
export function readGgufMetadata(
  source: ByteSource,
): {
  index: WeightFileIndex;
  metadata: Map<string, GgufValue>;
  version: number;
  littleEndian: boolean;
} {
  const { index, typed, version, littleEndian } = _parse(source, true);
  return { index, metadata: typed!, version, littleEndian };
}

interface _Parsed {
  index: WeightFileIndex;
  typed: Map<string, GgufValue> | undefined;
  version: number;
  littleEndian: boolean;
}

interface _RawTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly relative: number;
  readonly byteLength: number;
}

function _parse(source: ByteSource, full: boolean): _Parsed {
  const fail = (detail: string) => fileError(source.name, detail);
  const { version, littleEndian } = _readHeader(source, fail);
  const cursor = new SourceCursor(source, 8, { littleEndian });
  const { tensorCount, kvCount } = _readCounts(cursor, fail);
  const { metadata, typed, alignment } = _readMetadata(cursor, kvCount, full, fail);
  const infos = _readTensorInfos(cursor, tensorCount, fail);
  const dataOffset = _dataOffset(cursor.pos, alignment, source.size, fail);
  const tensors = _placeTensors(infos, dataOffset, alignment, source.size, fail);
  _refuseOverlaps(tensors, fail);
  metadata["gguf.version"] = String(version);
  if (!littleEndian) metadata["gguf.endianness"] = "big";
  return {
    index: { format: "gguf", path: source.name, size: source.size, dataOffset, tensors, metadata },
    typed,
    version,
    littleEndian,
  };
}

/** The magic, and the version, which also tells the byte order: a big-endian file's reads as a huge number little-endian. */
function _readHeader(
  source: ByteSource,
  fail: (d: string) => Error,
): { version: number; littleEndian: boolean } {
  if (source.size < 4) {
    throw fail(`truncated: ${source.size} bytes, a GGUF file starts with "GGUF"`);
  }
  const head = source.read(0, Math.min(8, source.size));
  if (!(head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46)) {
    throw fail(`wrong magic: expected "GGUF", found ${_hex(head.subarray(0, 4))}`);
  }
  if (source.size < 24) {
    throw fail(`truncated: ${source.size} bytes, a GGUF header takes 24`);
  }
  const le = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true);
  const be = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, false);
  if (GGUF_VERSIONS.includes(le)) return { version: le, littleEndian: true };
  if (GGUF_VERSIONS.includes(be)) return { version: be, littleEndian: false };
  throw fail(
    le === 1
      ? "GGUF version 1 is not supported (only versions 2 and 3): convert the file with a current llama.cpp"
      : `unsupported GGUF version ${le} (expected 2 or 3)`,
  );
}

/**
 * The tensor and metadata counts. Each pair takes at least 13 bytes (key
 * length, type, one byte of value), each tensor info at least 24: counts past
 * that are lies, refused before any loop.
 */
function _readCounts(
  cursor: SourceCursor,
  fail: (d: string) => Error,
): { tensorCount: number; kvCount: number } {
  const tensorCount = cursor.u64("tensor count");
  const kvCount = cursor.u64("metadata count");
  if (kvCount * 13 > cursor.remaining) {
    throw fail(
      `metadata count ${
        _big(kvCount)
      } exceeds what the file can hold (${cursor.source.size} bytes)`,
    );
  }
  if (tensorCount * 24 > cursor.remaining) {
    throw fail(
      `tensor count ${
        _big(tensorCount)
      } exceeds what the file can hold (${cursor.source.size} bytes)`,
    );
  }
  return { tensorCount, kvCount };
}

/**
 * The metadata key/value pairs: each as a string for the index, each typed
 * too when `full`, and the data section's alignment.
 */
function _readMetadata(
  cursor: SourceCursor,
  kvCount: number,
  full: boolean,
  fail: (d: string) => Error,
): {
  metadata: Record<string, string>;
  typed: Map<string, GgufValue> | undefined;
  alignment: number;
} {
  const metadata: Record<string, string> = {};
  const typed = full ? new Map<string, GgufValue>() : undefined;
  const seenKeys = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (let i = 0; i < kvCount; i++) {
    const key = _string(cursor, `metadata key #${i}`);
    if (seenKeys.has(key)) throw fail(`metadata key ${_quote(key)} appears twice`);
    seenKeys.add(key);
    const what = `metadata ${_quote(key)}`;
    const type = _valueType(cursor, what);
    if (key === "general.alignment") {
      alignment = _readAlignment(cursor, type, what, fail);
      metadata[key] = String(alignment);
      typed?.set(key, { type: "UINT32", value: alignment });
    } else if (typed !== undefined) {
      const value = _readValue(cursor, type, what, 0);
      typed.set(key, value);
      metadata[key] = _summary(value);
    } else {
      metadata[key] = _skimValue(cursor, type, what);
    }
  }
  return { metadata, typed, alignment };
}

/** `general.alignment`: a UINT32 power of two. */
function _readAlignment(
  cursor: SourceCursor,
  type: GgufValueType,
  what: string,
  fail: (d: string) => Error,
): number {
  if (type !== "UINT32") throw fail(`${what} is ${type}, expected UINT32`);
  const value = cursor.u32(what);
  if (value === 0 || (value & (value - 1)) !== 0) {
    throw fail(`${what} is ${value}, expected a power of two`);
  }
  return value;
}

/** Every tensor info, names distinct, each with its exact byte length. */
function _readTensorInfos(
  cursor: SourceCursor,
  tensorCount: number,
  fail: (d: string) => Error,
): _RawTensor[] {
  const infos: _RawTensor[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = _string(cursor, `tensor #${i} name`);
    if (names.has(name)) throw fail(`tensor ${_quote(name)} appears twice`);
    names.add(name);
    infos.push(_readTensorInfo(cursor, name, fail));
  }
  return infos;
}

/** The rest of tensor `name`'s info: dimensions (innermost first), GGML type, offset in the data section. */
function _readTensorInfo(
  cursor: SourceCursor,
  name: string,
  fail: (d: string) => Error,
): _RawTensor {
  const what = `tensor ${_quote(name)}`;
  const nDims = cursor.u32(`${what} dimension count`);
  if (nDims > GGUF_MAX_DIMS) {
    throw fail(`${what} has ${nDims} dimensions, at most ${GGUF_MAX_DIMS} are allowed`);
  }
  const shape: number[] = [];
  for (let d = 0; d < nDims; d++) shape.push(cursor.u64(`${what} dimension ${d}`));
  const typeId = cursor.u32(`${what} type`);
  const type = ggmlTypeById(typeId);
  if (type === undefined) {
    throw fail(`${what} has unknown GGML type ${typeId}`);
  }
  const relative = cursor.u64(`${what} offset`);
  return {
    name,
    dtype: type.name,
    shape,
    relative,
    byteLength: _byteLength(cursor.source.name, what, type.name, shape, cursor.source.size),
  };
}

/** Where the data section starts: the first multiple of `alignment` after the tensor infos. */
function _dataOffset(
  headerEnd: number,
  alignment: number,
  fileSize: number,
  fail: (d: string) => Error,
): number {
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  if (dataOffset > fileSize) {
    throw fail(
      `truncated: the data section starts at byte ${dataOffset} but the file ends at ${fileSize}`,
    );
  }
  return dataOffset;
}

/** Each tensor at its place in the file, aligned and inside the data section, sorted by offset. */
function _placeTensors(
  infos: readonly _RawTensor[],
  dataOffset: number,
  alignment: number,
  fileSize: number,
  fail: (d: string) => Error,
): TensorInfo[] {
  const dataLength = fileSize - dataOffset;
  const tensors: TensorInfo[] = [];
  for (const t of infos) {
    const what = `tensor ${_quote(t.name)}`;
    if (t.relative % alignment !== 0) {
      throw fail(
        `${what} offset ${_big(t.relative)} is not a multiple of the alignment ${alignment}`,
      );
    }
    if (t.relative + t.byteLength > dataLength) {
      throw fail(
        `${what} (${t.byteLength} bytes at data offset ${
          _big(t.relative)
        }) runs past the end of the file: the data section holds ${dataLength} bytes`,
      );
    }
    tensors.push({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      offset: dataOffset + t.relative,
      byteLength: t.byteLength,
    });
  }
  return tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
}

/** Throws when two tensors, sorted by offset, share bytes. */
function _refuseOverlaps(tensors: readonly TensorInfo[], fail: (d: string) => Error): void {
  for (let i = 1; i < tensors.length; i++) {
    const a = tensors[i - 1]!;
    const b = tensors[i]!;
    if (b.offset < a.offset + a.byteLength) {
      throw fail(
        `tensor ${_quote(b.name)} (bytes ${b.offset}..${b.offset + b.byteLength}) overlaps tensor ${
          _quote(a.name)
        } (bytes ${a.offset}..${a.offset + a.byteLength})`,
      );
    }
  }
}

/** Exact bytes of a tensor, or an error when the shape is not whole blocks or outgrows the file. */
function _byteLength(
  file: string,
  what: string,
  dtype: string,
  shape: readonly number[],
  fileSize: number,
): number {
  const type = ggmlType(dtype)!;
  if (shape.some((d) => d === 0)) return 0;
  const first = shape[0] ?? 1;
  if (first % type.blockSize !== 0) {
    throw fileError(
      file,
      `${what}: ${dtype} stores blocks of ${type.blockSize} elements but dimension 0 is ${
        _big(first)
      }`,
    );
  }
  let bytes = (first / type.blockSize) * type.typeSize;
  for (let d = 1; d < shape.length; d++) bytes *= shape[d]!;
  if (!(bytes <= fileSize)) {
    throw fileError(
      file,
      `${what}: shape [${shape.map(_big).join(", ")}] of ${dtype} needs ${
        _exactBytes(shape, type.blockSize, type.typeSize)
      } bytes, more than the file's ${fileSize}`,
    );
  }
  return bytes;
}

function _valueType(cursor: SourceCursor, what: string): GgufValueType {
  const id = cursor.u32(`${what} type`);
  const type = GGUF_VALUE_TYPES[id];
  if (type === undefined) {
    throw fileError(cursor.source.name, `${what} has unknown value type ${id}`);
  }
  return type;
}

/** A GGUF string: u64 length, then UTF-8 bytes; the length checked against the file first. */
function _string(cursor: SourceCursor, what: string): string {
  const length = cursor.u64(`${what} length`);
  if (length > cursor.remaining) {
    throw fileError(
      cursor.source.name,
      `${what}: string of ${
        _big(length)
      } bytes runs past the end of the file (${cursor.remaining} bytes left at byte ${cursor.pos})`,
    );
  }
  return _decode(cursor, cursor.bytes(length, what), what);
}

const _utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function _decode(cursor: SourceCursor, bytes: Uint8Array, what: string): string {
  try {
    return _utf8.decode(bytes);
  } catch (cause) {
    throw fileError(cursor.source.name, `${what} is not valid UTF-8`, { cause });
  }
}

/** Reads past a value, returning its summary for the index's metadata; array elements are only checked, not kept. */
function _skimValue(cursor: SourceCursor, type: GgufValueType, what: string): string {
  if (type === "ARRAY") {
    const itemType = _valueType(cursor, `${what} item`);
    const count = _arrayCount(cursor, itemType, what);
    _skipItems(cursor, itemType, count, what, 1);
    return `[${count} × ${itemType}]`;
  }
  return _summary(_readValue(cursor, type, what, 0));
}

function _arrayCount(cursor: SourceCursor, itemType: GgufValueType, what: string): number {
  const count = cursor.u64(`${what} count`);
  const least = SCALAR_BYTES[itemType] ?? (itemType === "STRING" ? 8 : 12);
  if (count * least > cursor.remaining) {
    throw fileError(
      cursor.source.name,
      `${what}: array of ${
        _big(count)
      } ${itemType} items runs past the end of the file (${cursor.remaining} bytes left at byte ${cursor.pos})`,
    );
  }
  return count;
}

function _skipItems(
  cursor: SourceCursor,
  itemType: GgufValueType,
  count: number,
  what: string,
  depth: number,
): void {
  if (depth > GGUF_MAX_ARRAY_DEPTH) {
    throw fileError(
      cursor.source.name,
      `${what}: arrays nested more than ${GGUF_MAX_ARRAY_DEPTH} deep`,
    );
  }
  const fixed = SCALAR_BYTES[itemType];
  if (fixed !== undefined) {
    cursor.skip(count * fixed, `${what} items`);
    return;
  }
  if (itemType === "STRING") {
    const bad = cursor.skipStrings(count, what);
    if (bad >= 0) {
      const length = cursor.u64(`${what}[${bad}] length`);
      throw fileError(
        cursor.source.name,
        `${what}[${bad}]: string of ${
          _big(length)
        } bytes runs past the end of the file (${cursor.remaining} bytes left at byte ${cursor.pos})`,
      );
    }
    return;
  }
  for (let i = 0; i < count; i++) {
    const inner = _valueType(cursor, `${what}[${i}] item`);
    const n = _arrayCount(cursor, inner, `${what}[${i}]`);
    _skipItems(cursor, inner, n, `${what}[${i}]`, depth + 1);
  }
}

function _readValue(
  cursor: SourceCursor,
  type: GgufValueType,
  what: string,
  depth: number,
): GgufValue {
  switch (type) {
    case "UINT8":
      return { type, value: cursor.u8(what) };
    case "INT8":
      return { type, value: (cursor.u8(what) << 24) >> 24 };
    case "UINT16":
      return { type, value: cursor.u16(what) };
    case "INT16":
      return { type, value: (cursor.u16(what) << 16) >> 16 };
    case "UINT32":
      return { type, value: cursor.u32(what) };
    case "INT32":
      return { type, value: cursor.i32(what) };
    case "FLOAT32":
      return { type, value: cursor.f32(what) };
    case "FLOAT64":
      return { type, value: cursor.f64(what) };
    case "BOOL": {
      const byte = cursor.u8(what);
      if (byte > 1) {
        throw fileError(cursor.source.name, `${what} is a BOOL of value ${byte}, expected 0 or 1`);
      }
      return { type, value: byte === 1 };
    }
    case "UINT64":
      return { type, value: cursor.u64Big(what) };
    case "INT64":
      return { type, value: BigInt.asIntN(64, cursor.u64Big(what)) };
    case "STRING":
      return { type, value: _string(cursor, what) };
    case "ARRAY": {
      if (depth >= GGUF_MAX_ARRAY_DEPTH) {
        throw fileError(
          cursor.source.name,
          `${what}: arrays nested more than ${GGUF_MAX_ARRAY_DEPTH} deep`,
        );
      }
      const itemType = _valueType(cursor, `${what} item`);
      const count = _arrayCount(cursor, itemType, what);
      const value: GgufValue[] = [];
      for (let i = 0; i < count; i++) {
        value.push(_readValue(cursor, itemType, `${what}[${i}]`, depth + 1));
      }
      return { type, itemType, value };
    }
  }
}

function _summary(value: GgufValue): string {
  if (value.type === "ARRAY") return `[${value.value.length} × ${value.itemType}]`;
  const text = String(value.value);
  return text.length <= MAX_METADATA_CHARS ? text : `${text.slice(0, MAX_METADATA_CHARS)}…`;
}

// ---------------------------------------------------------------------------
// Writer

/**
 * Builds a GGUF header: metadata in the order given, then tensor infos for
 * `tensors` laid out back to back, each at the next multiple of the
 * alignment (`general.alignment` when the metadata gives it, else 32), and
 * padding to the data section. Throws a plain `Error` for a tensor it cannot
 * describe.
 */
export function encodeGguf(spec: GgufSpec): EncodedGguf {
  const parts: Uint8Array[] = [];
  const out = new _Writer(parts);
  out.raw(new TextEncoder().encode(GGUF_MAGIC));
  out.u32(spec.version ?? 3);
  out.u64(BigInt(spec.tensors.length));
  out.u64(BigInt(spec.metadata.length));
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [key, value] of spec.metadata) {
    if (key === "general.alignment" && value.type === "UINT32") alignment = value.value;
    out.string(key);
    out.u32(GGUF_VALUE_TYPES.indexOf(value.type));
    _writeValue(out, value);
  }
  const ranges: { name: string; begin: number; end: number }[] = [];
  let end = 0;
  for (const t of spec.tensors) {
    const type = ggmlType(t.type);
    if (type === undefined) {
      throw new Error(
        `Cannot encode tensor "${t.name}": unknown GGML type "${t.type}"${_didYouMean(t.type)}`,
      );
    }
    const begin = Math.ceil(end / alignment) * alignment;
    let bytes = 0;
    if (!t.ne.some((d) => d === 0)) {
      if ((t.ne[0] ?? 1) % type.blockSize !== 0) {
        throw new Error(
          `Cannot encode tensor "${t.name}": ${t.type} needs dimension 0 to be a multiple of ${type.blockSize}`,
        );
      }
      bytes = t.ne.slice(1).reduce(
        (n, d) => n * d,
        ((t.ne[0] ?? 1) / type.blockSize) * type.typeSize,
      );
    }
    end = begin + bytes;
    ranges.push({ name: t.name, begin, end });
    out.string(t.name);
    out.u32(t.ne.length);
    for (const d of t.ne) out.u64(BigInt(d));
    out.u32(type.id);
    out.u64(BigInt(begin));
  }
  const length = parts.reduce((n, p) => n + p.length, 0);
  const dataOffset = Math.ceil(length / alignment) * alignment;
  const bytes = new Uint8Array(dataOffset);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, dataOffset, ranges };
}

class _Writer {
  readonly #parts: Uint8Array[];
  constructor(parts: Uint8Array[]) {
    this.#parts = parts;
  }
  raw(bytes: Uint8Array): void {
    this.#parts.push(bytes);
  }
  #fixed(size: number, set: (view: DataView) => void): void {
    const bytes = new Uint8Array(size);
    set(new DataView(bytes.buffer));
    this.#parts.push(bytes);
  }
  u8(v: number): void {
    this.#fixed(1, (d) => d.setUint8(0, v));
  }
  i8(v: number): void {
    this.#fixed(1, (d) => d.setInt8(0, v));
  }
  u16(v: number): void {
    this.#fixed(2, (d) => d.setUint16(0, v, true));
  }
  i16(v: number): void {
    this.#fixed(2, (d) => d.setInt16(0, v, true));
  }
  u32(v: number): void {
    this.#fixed(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.#fixed(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: bigint): void {
    this.#fixed(8, (d) => d.setBigUint64(0, v, true));
  }
  i64(v: bigint): void {
    this.#fixed(8, (d) => d.setBigInt64(0, v, true));
  }
  f32(v: number): void {
    this.#fixed(4, (d) => d.setFloat32(0, v, true));
  }
  f64(v: number): void {
    this.#fixed(8, (d) => d.setFloat64(0, v, true));
  }
  string(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u64(BigInt(bytes.length));
    this.raw(bytes);
  }
}

function _writeValue(out: _Writer, value: GgufValue): void {
  switch (value.type) {
    case "UINT8":
      return out.u8(value.value);
    case "INT8":
      return out.i8(value.value);
    case "UINT16":
      return out.u16(value.value);
    case "INT16":
      return out.i16(value.value);
    case "UINT32":
      return out.u32(value.value);
    case "INT32":
      return out.i32(value.value);
    case "FLOAT32":
      return out.f32(value.value);
    case "FLOAT64":
      return out.f64(value.value);
    case "BOOL":
      return out.u8(value.value ? 1 : 0);
    case "UINT64":
      return out.u64(value.value);
    case "INT64":
      return out.i64(value.value);
    case "STRING":
      return out.string(value.value);
    case "ARRAY":
      out.u32(GGUF_VALUE_TYPES.indexOf(value.itemType));
      out.u64(BigInt(value.value.length));
      for (const item of value.value) {
        if (item.type !== value.itemType) {
          throw new Error(`Cannot encode an array of ${value.itemType} holding a ${item.type}`);
        }
        _writeValue(out, item);
      }
  }
}

function _didYouMean(name: string): string {
  const s = suggest(name, GGML_TYPES.map((t) => t.name));
  return s === undefined ? "" : ` (did you mean "${s}"?)`;
}

/** A u64 read as a number, spelled out exactly below 2^53 and as a power of two above. */
function _big(value: number): string {
  if (value < 2 ** 53) return String(value);
  return `about 2^${Math.log2(value).toFixed(1).replace(/\.0$/, "")}`;
}

function _exactBytes(shape: readonly number[], blockSize: number, typeSize: number): string {
  let bytes = BigInt(typeSize);
  for (let d = 0; d < shape.length; d++) {
    const dim = BigInt(Math.round(shape[d]!));
    bytes *= d === 0 ? dim / BigInt(blockSize) : dim;
  }
  return bytes < 2n ** 128n ? String(bytes) : "more than 2^128";
}

function _hex(bytes: Uint8Array): string {
  return `0x${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function _quote(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}…`;
}
