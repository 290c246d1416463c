/**
 * ONNX models: a `ModelProto` protobuf whose graph's initializers are the
 * weights. An initializer keeps its bytes in `raw_data`, in a typed field
 * (`float_data`, `int64_data`, …), or in another file (external data:
 * `location`, `offset`, `length`, relative to the model's folder).
 *
 * The file is walked lazily with the field numbers of the `onnx.proto`
 * schema (loaded by protobufjs): the graph's nodes and every tensor's bytes
 * are skipped, never read, so listing a 2 GB model reads a few kilobytes.
 * Each initializer in the file becomes a {@link TensorInfo} whose range is the
 * bytes of its data field: for `raw_data`, `float_data` and `double_data`
 * these are the tensor's little-endian elements; varint fields
 * (`int32_data`, `int64_data`, `uint64_data`) hold their protobuf encoding,
 * and their dtype says so (`INT64 (varint)`). Initializers in external data
 * are listed in `external`, for `openWeights` to resolve and check; a
 * location that is absolute or climbs out of the folder is refused here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { onnx } from "./onnx.ts";
 * import { encodeOnnxModel } from "../../fixtures/onnx_writer.ts";
 *
 * const bytes = encodeOnnxModel([
 *   { name: "w", dtype: "FLOAT16", shape: [2, 2], data: new Uint8Array(8).fill(1) },
 * ]);
 * assert.ok(onnx.sniff(bytes.subarray(0, 64)));
 * const index = onnx.parse(bytesSource("model.onnx", bytes));
 * const w = index.tensors[0]!;
 * assert.deepEqual([w.name, w.dtype, w.shape, w.byteLength], ["w", "FLOAT16", [2, 2], 8]);
 * assert.deepEqual([...bytes.subarray(w.offset, w.offset + 8)], new Array(8).fill(1));
 * ```
 *
 * @module
 */

import protobuf from "protobufjs";
import { fileError } from "../util/errors.ts";
import { SourceCursor } from "./_cursor.ts";
import { ONNX_PROTO } from "./_onnx_proto.ts";
import type {
  ByteSource,
  ExternalTensor,
  TensorInfo,
  WeightFileIndex,
  WeightFormat,
} from "./format.ts";

/** ONNX element types by `TensorProto.DataType` number: name and bits per element. */
export const ONNX_DTYPES: Readonly<Record<number, { name: string; bits: number }>> = Object.freeze({
  1: { name: "FLOAT", bits: 32 },
  2: { name: "UINT8", bits: 8 },
  3: { name: "INT8", bits: 8 },
  4: { name: "UINT16", bits: 16 },
  5: { name: "INT16", bits: 16 },
  6: { name: "INT32", bits: 32 },
  7: { name: "INT64", bits: 64 },
  9: { name: "BOOL", bits: 8 },
  10: { name: "FLOAT16", bits: 16 },
  11: { name: "DOUBLE", bits: 64 },
  12: { name: "UINT32", bits: 32 },
  13: { name: "UINT64", bits: 64 },
  14: { name: "COMPLEX64", bits: 64 },
  15: { name: "COMPLEX128", bits: 128 },
  16: { name: "BFLOAT16", bits: 16 },
  17: { name: "FLOAT8E4M3FN", bits: 8 },
  18: { name: "FLOAT8E4M3FNUZ", bits: 8 },
  19: { name: "FLOAT8E5M2", bits: 8 },
  20: { name: "FLOAT8E5M2FNUZ", bits: 8 },
  21: { name: "UINT4", bits: 4 },
  22: { name: "INT4", bits: 4 },
  23: { name: "FLOAT4E2M1", bits: 4 },
  24: { name: "FLOAT8E8M0", bits: 8 },
});
const STRING_TYPE = 8;

/** The `onnx.proto` schema, parsed once when first needed. */
let _schema: protobuf.Root | undefined;
export function onnxSchema(): protobuf.Root {
  _schema ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return _schema;
}

/** Field numbers from the schema, by message and field name. */
let _fields: ReturnType<typeof _loadFields> | undefined;
function _loadFields() {
  const root = onnxSchema();
  const ids = (type: string) =>
    Object.fromEntries(
      Object.entries(root.lookupType(`onnx.${type}`).fields).map(([name, f]) => [name, f.id]),
    );
  return {
    model: ids("ModelProto") as Record<
      "ir_version" | "producer_name" | "producer_version" | "graph",
      number
    >,
    graph: ids("GraphProto") as Record<"name" | "initializer" | "sparse_initializer", number>,
    tensor: ids("TensorProto") as Record<
      | "dims"
      | "data_type"
      | "float_data"
      | "int32_data"
      | "string_data"
      | "int64_data"
      | "name"
      | "raw_data"
      | "external_data"
      | "data_location"
      | "double_data"
      | "uint64_data",
      number
    >,
    entry: ids("StringStringEntryProto") as Record<"key" | "value", number>,
  };
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;
const MAX_QUOTED_CHARS = 120;

/** The ONNX format. */
export const onnx: WeightFormat = {
  name: "onnx",
  extensions: [".onnx"],
  sniff(head: Uint8Array): boolean {
    // ModelProto writers put ir_version (field 1, a small varint) first, then another ModelProto field.
    if (head.length < 4 || head[0] !== 0x08 || head[1]! < 1 || head[1]! > 0x7f) return false;
    const next = head[2]!;
    return [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72].includes(next) ||
      (next === 0xa2 && head[3] === 0x01) || (next === 0xca && head[3] === 0x01);
  },
  parse(source: ByteSource): WeightFileIndex {
    return _parse(source);
  },
};

/** A region of the file: a length-delimited field's bytes. */
interface _Span {
  readonly offset: number;
  readonly length: number;
}

/** Reads protobuf fields from a cursor up to `end`. */
class _Fields {
  readonly #cursor: SourceCursor;
  readonly #end: number;
  readonly #what: string;
  constructor(cursor: SourceCursor, end: number, what: string) {
    this.#cursor = cursor;
    this.#end = end;
    this.#what = what;
  }
  get pos(): number {
    return this.#cursor.pos;
  }
  #fail(detail: string): Error {
    return fileError(this.#cursor.source.name, `${this.#what}: ${detail}`);
  }
  /** The next field's number and wire type, or `undefined` at the end. */
  next(): { field: number; wire: number } | undefined {
    if (this.#cursor.pos >= this.#end) return undefined;
    const at = this.#cursor.pos;
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw this.#fail(`field number 0 at byte ${at}`);
    return { field, wire };
  }
  /**
   * A varint as a number: exact below 2^53; above, close enough for any size
   * check, with 64-bit negatives (ten-byte varints) kept negative.
   */
  varint(): number {
    let value = 0;
    let scale = 1;
    let big: bigint | undefined;
    for (let i = 0; i < 10; i++) {
      if (this.#cursor.pos >= this.#end) {
        throw this.#fail(`truncated varint at byte ${this.#cursor.pos}`);
      }
      const byte = this.#cursor.u8("a varint");
      if (i === 7) big = BigInt(value);
      if (big !== undefined) big |= BigInt(byte & 0x7f) << BigInt(7 * i);
      else value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        return big === undefined
          ? value
          : Number(BigInt.asIntN(64, big) < 0n ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big));
      }
      scale *= 128;
    }
    throw this.#fail(`varint longer than 10 bytes at byte ${this.#cursor.pos}`);
  }
  /** A length-delimited field's region, checked to lie inside its message. */
  span(): _Span {
    const at = this.#cursor.pos;
    const length = this.varint();
    const offset = this.#cursor.pos;
    if (length < 0) throw this.#fail(`negative length at byte ${at}`);
    if (!(length <= this.#end - offset)) {
      throw this.#fail(
        `field of ${
          length >= 2 ** 53 ? "about 2^" + Math.round(Math.log2(length)) : length
        } bytes at byte ${at} runs past the end of its message (byte ${this.#end})`,
      );
    }
    this.#cursor.pos = offset + length;
    return { offset, length };
  }
  string(what: string): string {
    const { offset, length } = this.span();
    const bytes = this.#cursor.source.read(offset, length);
    try {
      return _utf8.decode(bytes);
    } catch {
      throw this.#fail(`${what} at byte ${offset} is not valid UTF-8`);
    }
  }
  skip(wire: number): void {
    switch (wire) {
      case VARINT:
        this.varint();
        return;
      case I64:
        return this.#advance(8);
      case LEN:
        this.span();
        return;
      case I32:
        return this.#advance(4);
      default:
        throw this.#fail(`unsupported wire type ${wire} at byte ${this.#cursor.pos}`);
    }
  }
  #advance(n: number): void {
    if (this.#cursor.pos + n > this.#end) {
      throw this.#fail(`truncated field at byte ${this.#cursor.pos}`);
    }
    this.#cursor.pos += n;
  }
  /** Counts the varints in a packed region (reads it). */
  countVarints(span: _Span): number {
    let count = 0;
    const chunk = 1 << 20;
    for (let at = 0; at < span.length; at += chunk) {
      const bytes = this.#cursor.source.read(span.offset + at, Math.min(chunk, span.length - at));
      for (const b of bytes) if ((b & 0x80) === 0) count++;
    }
    return count;
  }
  /** Reads a region's varints (for dims). */
  varintsIn(span: _Span): number[] {
    const saved = this.#cursor.pos;
    this.#cursor.pos = span.offset;
    const inner = new _Fields(this.#cursor, span.offset + span.length, this.#what);
    const values: number[] = [];
    while (this.#cursor.pos < span.offset + span.length) values.push(inner.varint());
    this.#cursor.pos = saved;
    return values;
  }
  /** A cursor over a sub-message. */
  message(span: _Span, what: string): _Fields {
    return new _Fields(this.#cursor, span.offset + span.length, what);
  }
  seek(pos: number): void {
    this.#cursor.pos = pos;
  }
}

const _utf8 = new TextDecoder("utf-8", { fatal: true });

function _parse(source: ByteSource): WeightFileIndex {
  const file = source.name;
  const fail = (detail: string) => fileError(file, detail);
  const ids = (_fields ??= _loadFields());
  if (source.size === 0) throw fail("empty file: not an ONNX model");
  const cursor = new SourceCursor(source, 0, { windowBytes: 64 << 10 });
  const model = new _Fields(cursor, source.size, "ModelProto");
  const metadata: Record<string, string> = {};
  let graph: _Span | undefined;
  let sawIrVersion = false;
  for (let f = model.next(); f !== undefined; f = model.next()) {
    if (f.field === ids.model.ir_version && f.wire === VARINT) {
      metadata["onnx.ir_version"] = String(model.varint());
      sawIrVersion = true;
    } else if (f.field === ids.model.graph && f.wire === LEN) {
      if (graph !== undefined) throw fail("ModelProto has two graphs");
      graph = model.span();
    } else if (f.field === ids.model.producer_name && f.wire === LEN) {
      metadata["onnx.producer_name"] = _short(model.string("producer_name"));
    } else if (f.field === ids.model.producer_version && f.wire === LEN) {
      metadata["onnx.producer_version"] = _short(model.string("producer_version"));
    } else {
      model.skip(f.wire);
    }
  }
  if (!sawIrVersion || graph === undefined) {
    throw fail(
      `not an ONNX model: ${!sawIrVersion ? "no ir_version" : "no graph"} in the ModelProto`,
    );
  }

  const tensors: TensorInfo[] = [];
  const external: ExternalTensor[] = [];
  const names = new Set<string>();
  let skipped = 0;
  const g = model.message(graph, "GraphProto");
  g.seek(graph.offset);
  for (let f = g.next(); f !== undefined; f = g.next()) {
    if (f.field === ids.graph.initializer && f.wire === LEN) {
      const span = g.span();
      const after = g.pos;
      const t = _tensor(model.message(span, `initializer at byte ${span.offset}`), span, ids, file);
      g.seek(after);
      if (t === undefined) {
        skipped++;
        continue;
      }
      if (names.has(t.name)) throw fail(`initializer ${_quote(t.name)} appears twice`);
      names.add(t.name);
      if ("location" in t) external.push(t);
      else tensors.push(t);
    } else if (f.field === ids.graph.name && f.wire === LEN) {
      metadata["onnx.graph"] = _short(g.string("graph name"));
    } else {
      if (f.field === ids.graph.sparse_initializer) skipped++;
      g.skip(f.wire);
    }
  }
  if (skipped > 0) metadata["onnx.skipped_initializers"] = String(skipped);
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  return {
    format: "onnx",
    path: file,
    size: source.size,
    dataOffset: tensors[0]?.offset ?? 0,
    tensors,
    metadata,
    ...(external.length > 0 ? { external } : {}),
  };
}

/** The error for an initializer: named once its name is known, else by where it starts. */
type _Fail = (name: string | undefined, detail: string) => Error;

/** An initializer's fields as the file gives them, none checked yet. */
interface _TensorFields {
  readonly dims: number[];
  dataType: number;
  name: string | undefined;
  /** `data_location`: 0 in this file, 1 external. */
  location: number;
  /** Each data field present (`raw_data`, `float_data`, …) and its bytes. */
  readonly data: { field: string; span: _Span }[];
  /** `external_data`'s key/value pairs, in file order. */
  readonly entries: [string, string][];
}

/** An initializer's name, element type and size, checked. */
interface _Initializer {
  readonly name: string;
  readonly type: { readonly name: string; readonly bits: number };
  readonly dims: number[];
  readonly numel: number;
  /** Bytes of its elements, packed. */
  readonly bytes: number;
}

/** One initializer: where its bytes are, or `undefined` for string tensors (not weights). */
function _tensor(
  t: _Fields,
  span: _Span,
  ids: ReturnType<typeof _loadFields>,
  file: string,
): TensorInfo | ExternalTensor | undefined {
  t.seek(span.offset);
  const fail: _Fail = (name, detail) =>
    fileError(
      file,
      `initializer ${name === undefined ? `at byte ${span.offset}` : _quote(name)}: ${detail}`,
    );
  const fields = _readTensorFields(t, ids, fail);
  if (fields.name === undefined) throw fail(fields.name, "has no name");
  if (fields.dataType === STRING_TYPE) return undefined;
  const initializer = _checkInitializer(fields.name, fields.dataType, fields.dims, fail);
  _refuseMixedData(fields.data, initializer.name, fail);
  if (fields.location === 1) return _externalTensor(file, initializer, fields, fail);
  if (fields.location !== 0) {
    throw fail(initializer.name, `unknown data_location ${fields.location}`);
  }
  return _inFileTensor(t, span, initializer, fields.data[0], fail);
}

/** Reads a `TensorProto`'s fields, keeping where its data fields are without reading them. */
function _readTensorFields(
  t: _Fields,
  ids: ReturnType<typeof _loadFields>,
  fail: _Fail,
): _TensorFields {
  const fields: _TensorFields = {
    dims: [],
    dataType: 0,
    name: undefined,
    location: 0,
    data: [],
    entries: [],
  };
  const f = ids.tensor;
  for (let field = t.next(); field !== undefined; field = t.next()) {
    const { field: n, wire } = field;
    if (n === f.dims && wire === VARINT) fields.dims.push(t.varint());
    else if (n === f.dims && wire === LEN) fields.dims.push(...t.varintsIn(t.span()));
    else if (n === f.data_type && wire === VARINT) fields.dataType = t.varint();
    else if (n === f.name && wire === LEN) fields.name = t.string("name");
    else if (n === f.data_location && wire === VARINT) fields.location = t.varint();
    else if (n === f.external_data && wire === LEN) fields.entries.push(_readEntry(t, ids));
    else if (wire === LEN && _isDataField(f, n)) {
      const fieldName = Object.entries(f).find(([, id]) => id === n)![0];
      fields.data.push({ field: fieldName, span: t.span() });
    } else if (
      (wire === I32 && n === f.float_data) || (wire === I64 && n === f.double_data) ||
      (wire === VARINT && (n === f.int32_data || n === f.int64_data || n === f.uint64_data))
    ) {
      throw fail(
        fields.name,
        `its data field ${n} is not packed: only packed repeated fields are loaded`,
      );
    } else {
      t.skip(wire);
    }
  }
  return fields;
}

/** True when field `n` of a `TensorProto` holds its elements. */
function _isDataField(f: ReturnType<typeof _loadFields>["tensor"], n: number): boolean {
  return n === f.raw_data || n === f.float_data || n === f.double_data || n === f.int32_data ||
    n === f.int64_data || n === f.uint64_data || n === f.string_data;
}

/** One `external_data` entry (a `StringStringEntryProto`): its key and value, `""` when absent. */
function _readEntry(t: _Fields, ids: ReturnType<typeof _loadFields>): [string, string] {
  const entrySpan = t.span();
  const after = t.pos;
  const e = t.message(entrySpan, "external_data entry");
  e.seek(entrySpan.offset);
  let key = "";
  let value = "";
  for (let ef = e.next(); ef !== undefined; ef = e.next()) {
    if (ef.field === ids.entry.key && ef.wire === LEN) key = e.string("external_data key");
    else if (ef.field === ids.entry.value && ef.wire === LEN) {
      value = e.string("external_data value");
    } else e.skip(ef.wire);
  }
  t.seek(after);
  return [key, value];
}

/** The element type, the dimensions checked, and the bytes the elements take. */
function _checkInitializer(
  name: string,
  dataType: number,
  dims: number[],
  fail: _Fail,
): _Initializer {
  const type = ONNX_DTYPES[dataType];
  if (type === undefined) throw fail(name, `unknown data_type ${dataType}`);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw fail(name, `dimension ${d} is not a non-negative integer`);
    }
  }
  let numel = 1;
  for (const d of dims) numel *= d;
  const bytes = Math.ceil((numel * type.bits) / 8);
  if (!Number.isSafeInteger(bytes)) {
    throw fail(name, `shape [${dims.join(", ")}] of ${type.name} is too large`);
  }
  return { name, type, dims, numel, bytes };
}

/** Throws when the data is in more than one field. */
function _refuseMixedData(
  data: readonly { field: string; span: _Span }[],
  name: string,
  fail: _Fail,
): void {
  const distinct = new Set(data.map((d) => d.field));
  if (distinct.size > 1) throw fail(name, `has data in both ${[...distinct].join(" and ")}`);
  if (data.length > 1) throw fail(name, `has ${data.length} ${data[0]!.field} fields`);
}

/** An initializer whose bytes are in another file: the location inside the model's folder, the length the shape's. */
function _externalTensor(
  file: string,
  { name, type, dims, bytes }: _Initializer,
  fields: _TensorFields,
  fail: _Fail,
): ExternalTensor {
  if (fields.data.length > 0) throw fail(name, "has both external data and data in the file");
  const get = (key: string) => fields.entries.find(([k]) => k === key)?.[1];
  const where = get("location");
  if (where === undefined || where === "") throw fail(name, "external data without a location");
  checkExternalLocation(file, name, where);
  const offset = _decimal(get("offset") ?? "0", name, "offset", fail);
  const length = _decimal(get("length") ?? String(bytes), name, "length", fail);
  if (length !== bytes) {
    throw fail(
      name,
      `external data length ${length} but shape [${
        dims.join(", ")
      }] of ${type.name} takes ${bytes} bytes`,
    );
  }
  return { name, dtype: type.name, shape: dims, location: where, offset, byteLength: length };
}

/** An initializer whose bytes are in this file: its one data field, checked to fit its type and shape. */
function _inFileTensor(
  t: _Fields,
  span: _Span,
  initializer: _Initializer,
  item: { field: string; span: _Span } | undefined,
  fail: _Fail,
): TensorInfo {
  const { name, type, dims, numel, bytes } = initializer;
  if (item === undefined) {
    if (numel === 0) {
      return { name, dtype: type.name, shape: dims, offset: span.offset, byteLength: 0 };
    }
    throw fail(name, `has no data for its ${numel} elements`);
  }
  _checkDataField(t, initializer, item, fail);
  // Varint-encoded values: the tensor's bytes are their encoding, and its dtype says so.
  const varint = _isVarintField(item.field);
  const expected = varint ? item.span.length : bytes;
  if (item.span.length !== expected) {
    throw fail(
      name,
      `${item.field} holds ${item.span.length} bytes but shape [${
        dims.join(", ")
      }] of ${type.name} takes ${expected}`,
    );
  }
  return {
    name,
    dtype: varint ? `${type.name} (varint)` : type.name,
    shape: dims,
    offset: item.span.offset,
    byteLength: item.span.length,
  };
}

/** True for the data fields that hold varints (`int32_data`, `int64_data`, `uint64_data`). */
function _isVarintField(field: string): boolean {
  return field !== "raw_data" && field !== "float_data" && field !== "double_data" &&
    field !== "string_data";
}

/**
 * Throws unless the data field suits the initializer: `string_data` never
 * does, `float_data` and `double_data` only for their types, and the varint
 * fields only with one varint per element (two per complex element, one per
 * two 4-bit elements).
 */
function _checkDataField(
  t: _Fields,
  { name, type, dims, numel }: _Initializer,
  item: { field: string; span: _Span },
  fail: _Fail,
): void {
  if (item.field === "string_data") throw fail(name, `is ${type.name} but holds string_data`);
  if (item.field === "float_data") {
    if (type.name !== "FLOAT" && type.name !== "COMPLEX64") {
      throw fail(name, `is ${type.name} but holds float_data`);
    }
  } else if (item.field === "double_data") {
    if (type.name !== "DOUBLE" && type.name !== "COMPLEX128") {
      throw fail(name, `is ${type.name} but holds double_data`);
    }
  } else if (_isVarintField(item.field)) {
    const count = t.countVarints(item.span);
    const perElement = type.name.startsWith("COMPLEX") ? 2 : 1;
    const packedPerVarint = type.bits === 4 ? 2 : 1;
    const want = Math.ceil((numel * perElement) / packedPerVarint);
    if (count !== want) {
      throw fail(
        name,
        `${item.field} holds ${count} values but shape [${dims.join(", ")}] needs ${want}`,
      );
    }
  }
}

/**
 * Throws unless `location` names a file inside the model's folder: relative,
 * no `..` that climbs out, no NUL. (Symbolic links are checked when the file
 * is opened.)
 */
export function checkExternalLocation(file: string, tensor: string, location: string): void {
  const fail = (why: string) =>
    fileError(
      file,
      `initializer ${_quote(tensor)}: external data location ${_quote(location)} ${why}`,
    );
  if (location.includes("\0")) throw fail("contains a NUL byte");
  if (location.startsWith("/") || location.startsWith("\\") || /^[A-Za-z]:/.test(location)) {
    throw fail("is an absolute path: it must be inside the model's folder");
  }
  let depth = 0;
  for (const part of location.split(/[\\/]/)) {
    if (part === "..") depth--;
    else if (part !== "." && part !== "") depth++;
    if (depth < 0) throw fail("escapes the model's folder");
  }
  if (depth === 0) throw fail("names no file");
}

function _decimal(
  text: string,
  name: string,
  what: string,
  fail: (name: string, detail: string) => Error,
): number {
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw fail(name, `external data ${what} ${_quote(text)} is not a byte count`);
  }
  return Number(text);
}

function _short(text: string): string {
  return text.length <= 256 ? text : `${text.slice(0, 256)}…`;
}

function _quote(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}…`;
}
