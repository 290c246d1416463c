/**
 * ONNX models: a `ModelProto` protobuf whose weights real exporters keep in
 * several places, all of which this reader walks:
 *
 * - a graph's `initializer` list, and its `sparse_initializer` list (a sparse
 *   tensor is listed as two tensors, its values and its `.indices`, the bytes
 *   a loader moves; it is not densified);
 * - the value of each `Constant` node (`value`, `sparse_value`, and the
 *   `value_float(s)` and `value_int(s)` forms), named by the node's output;
 * - every subgraph, at any depth: the `then_branch`/`else_branch` of `If`, the
 *   `body` of `Loop` and `Scan` (any node's graph and graphs attributes), the
 *   bodies of model-local functions and the training graphs.
 *
 * A tensor keeps its bytes in `raw_data`, in a typed field (`float_data`,
 * `int64_data`, …), or in another file (external data: `location`, `offset`,
 * `length`, relative to the model's folder), wherever it is found. The file is
 * walked lazily with the field numbers of the `onnx.proto` schema (loaded by
 * protobufjs): tensors' bytes are skipped, never read, so listing a 2 GB
 * model reads its graph's structure and a few names. Each tensor becomes a
 * {@link TensorInfo} whose range is the bytes of its data field, with its
 * {@link TensorOrigin}: for `raw_data`, `float_data` and `double_data` these
 * are the tensor's little-endian elements; varint fields (`int32_data`,
 * `int64_data`, `uint64_data`, `value_int(s)`) hold their protobuf encoding,
 * and their dtype says so (`INT64 (varint)`), as does that of a
 * `value_floats` list stored unpacked (`FLOAT (unpacked)`: a tag before each
 * element); {@link onnxElementBytes} decodes those. Tensors in external data
 * are listed in `external`, for `openWeights` to resolve and check; a
 * location that is absolute or climbs out of the folder is refused here.
 *
 * Names stay unique: a tensor whose name an earlier one (a shallower graph's
 * first) already has is listed as `<graph path>/<name>`. STRING tensors are
 * not weights: they are counted in the index's `skipped`, with anything else
 * seen but not listed.
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
 * assert.deepEqual(w.origin, { kind: "initializer", graph: "", name: "w" });
 * assert.deepEqual([...bytes.subarray(w.offset, w.offset + 8)], new Array(8).fill(1));
 * ```
 *
 * @module
 */

import protobuf from "protobufjs";
import { fileError } from "../util/errors.ts";
import { SourceCursor } from "./_cursor.ts";
import { ONNX_PROTO } from "./_onnx_proto.ts";
import {
  type ByteSource,
  type ExternalTensor,
  requireTensors,
  type SkippedTensors,
  type TensorInfo,
  type TensorOrigin,
  type WeightFileIndex,
  type WeightFormat,
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
      | "ir_version"
      | "producer_name"
      | "producer_version"
      | "graph"
      | "training_info"
      | "functions",
      number
    >,
    graph: ids("GraphProto") as Record<
      "node" | "name" | "initializer" | "sparse_initializer",
      number
    >,
    node: ids("NodeProto") as Record<
      "output" | "name" | "op_type" | "domain" | "attribute",
      number
    >,
    attribute: ids("AttributeProto") as Record<
      | "name"
      | "ref_attr_name"
      | "f"
      | "i"
      | "s"
      | "t"
      | "g"
      | "sparse_tensor"
      | "floats"
      | "ints"
      | "strings"
      | "graphs",
      number
    >,
    sparse: ids("SparseTensorProto") as Record<"values" | "indices" | "dims", number>,
    function: ids("FunctionProto") as Record<"name" | "node" | "domain", number>,
    training: ids("TrainingInfoProto") as Record<"initialization" | "algorithm", number>,
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
    /** The data fields of a `TensorProto`, by number. */
    dataFields: new Map(
      ([
        "raw_data",
        "float_data",
        "double_data",
        "int32_data",
        "int64_data",
        "uint64_data",
        "string_data",
      ] as const).map((name) => [root.lookupType("onnx.TensorProto").fields[name]!.id, name]),
    ) as ReadonlyMap<number, string>,
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
  next(): { field: number; wire: number; at: number } | undefined {
    if (this.#cursor.pos >= this.#end) return undefined;
    const at = this.#cursor.pos;
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw this.#fail(`field number 0 at byte ${at}`);
    return { field, wire, at };
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
    // Through the cursor's window: a name is read once, not again from the source.
    this.#cursor.pos = offset;
    const bytes = this.#cursor.bytes(length, what);
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
  /** True when a region's last byte ends a varint (its high bit is clear). */
  endsWithVarint(span: _Span): boolean {
    if (span.length === 0) return true;
    return (this.#cursor.source.read(span.offset + span.length - 1, 1)[0]! & 0x80) === 0;
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

/** Deepest nesting of subgraphs walked: a graph in an attribute of a node of a graph, … */
export const ONNX_MAX_GRAPH_DEPTH = 32;
/** Names of skipped tensors kept for each reason. */
const MAX_SKIPPED_NAMES = 5;
/** The attributes of a `Constant` node that hold its value. */
const CONSTANT_VALUES: ReadonlySet<string> = new Set([
  "value",
  "sparse_value",
  "value_float",
  "value_floats",
  "value_int",
  "value_ints",
  "value_string",
  "value_strings",
]);
/** Why a STRING tensor is not listed. */
const SKIP_STRING = "STRING tensors (text, not numbers)";
/** Why a `Constant` value that names a function attribute is not listed. */
const SKIP_REFERENCE = "Constant values that name a function's attribute (no data in the file)";
/** Why a `value_floats`/`value_ints` list in pieces is not listed. */
const SKIP_PIECES = "Constant lists not stored as one byte range";

type _Ids = ReturnType<typeof _loadFields>;

/** A node as far as it has been read: its fields may come in any order, so its label is asked for at the end. */
interface _Node {
  readonly index: number;
  name: string;
  opType: string;
  domain: string;
  /** Its first output: a `Constant`'s value is named by it. */
  output: string | undefined;
}

/** An attribute as far as it has been read. */
interface _Attribute {
  name: string;
}

/**
 * Where a graph is: the main graph (`""`), a function's body or a training
 * graph, or a subgraph in an attribute of a node of another graph. Its text
 * is built once, after the walk, when every node's name is known.
 */
class _GraphPath {
  /** Subgraph levels below the main graph. */
  readonly depth: number;
  readonly #parent: _GraphPath | undefined;
  readonly #step: (() => string) | undefined;
  readonly #root: (() => string) | undefined;
  #text: string | undefined;

  private constructor(
    depth: number,
    parent: _GraphPath | undefined,
    step: (() => string) | undefined,
    root: (() => string) | undefined,
  ) {
    this.depth = depth;
    this.#parent = parent;
    this.#step = step;
    this.#root = root;
  }

  /** A graph that no node holds: `label` gives its text (`""` for the main graph). */
  static root(label: () => string, depth: number): _GraphPath {
    return new _GraphPath(depth, undefined, undefined, label);
  }

  /** The graph in `attribute` of `node` of this graph (the `index`th of a graphs attribute). */
  child(node: _Node, attribute: _Attribute, index?: number): _GraphPath {
    const step = () => {
      const label = node.name !== "" ? node.name : `${node.opType || "node"}#${node.index}`;
      return `${label}.${attribute.name}${index === undefined ? "" : `[${index}]`}`;
    };
    return new _GraphPath(this.depth + 1, this, step, undefined);
  }

  /** `Loop_2.body/If#0.then_branch`; `""` for the main graph. */
  text(): string {
    if (this.#text === undefined) {
      if (this.#root !== undefined) this.#text = this.#root();
      else {
        const parent = this.#parent!.text();
        this.#text = parent === "" ? this.#step!() : `${parent}/${this.#step!()}`;
      }
    }
    return this.#text;
  }
}

/** Elements of a `value_floats` or `value_ints` list, packed and unpacked as they came. */
interface _List {
  readonly packed: _Span[];
  /** Unpacked elements: how many, where the first field starts and the last ends, and whether they touch. */
  count: number;
  first: number;
  end: number;
  contiguous: boolean;
}

/** Where a tensor's bytes are, as read: a `TensorProto`, or one of a `Constant`'s scalar or list forms. */
type _Data =
  | { readonly form: "tensor"; readonly span: _Span; readonly fields: _TensorFields }
  | { readonly form: "float"; readonly offset: number }
  | { readonly form: "int"; readonly span: _Span }
  | { readonly form: "list"; readonly type: "FLOAT" | "INT64"; readonly list: _List }
  | { readonly form: "skip"; readonly reason: string };

/** A tensor found in the walk, before it is checked and named. */
interface _Found {
  readonly kind: TensorOrigin["kind"];
  readonly part?: "values" | "indices";
  readonly graph: _GraphPath;
  /** Its place in the file, in walk order. */
  readonly order: number;
  /** Where its record starts (for a tensor without a name). */
  readonly at: number;
  /** Its name as the file gives it; for a `Constant`, taken from its node at the end. */
  readonly name: string | undefined;
  readonly node?: _Node;
  readonly data: _Data;
}

/** A `SparseTensorProto`'s two tensors, as read. */
interface _Sparse {
  values: { span: _Span; fields: _TensorFields } | undefined;
  indices: { span: _Span; fields: _TensorFields } | undefined;
}

/** A tensor checked, before it is named: in this file, or in another. */
type _Placed =
  | {
    readonly dtype: string;
    readonly shape: number[];
    readonly offset: number;
    readonly byteLength: number;
  }
  | ExternalTensor;

function _parse(source: ByteSource): WeightFileIndex {
  const file = source.name;
  const fail = (detail: string) => fileError(file, detail);
  const ids = (_fields ??= _loadFields());
  if (source.size === 0) throw fail("empty file: not an ONNX model");
  const cursor = new SourceCursor(source, 0, { windowBytes: 64 << 10 });
  const model = new _Fields(cursor, source.size, "ModelProto");
  const metadata: Record<string, string> = {};
  let graph: _Span | undefined;
  const training: _Span[] = [];
  const functions: _Span[] = [];
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
    } else if (f.field === ids.model.training_info && f.wire === LEN) {
      training.push(model.span());
    } else if (f.field === ids.model.functions && f.wire === LEN) {
      functions.push(model.span());
    } else {
      model.skip(f.wire);
    }
  }
  if (!sawIrVersion || graph === undefined) {
    throw fail(
      `not an ONNX model: ${!sawIrVersion ? "no ir_version" : "no graph"} in the ModelProto`,
    );
  }
  const walker = new _Walker(model, ids, file, metadata);
  walker.graph(graph, _GraphPath.root(() => "", 0), true);
  training.forEach((span, i) => walker.training(span, i));
  for (const span of functions) walker.function(span);
  return walker.finish(source.size);
}

/**
 * Walks a model's graphs, nodes and attributes forward, keeping where every
 * tensor is (nothing of its data is read), then checks and names them.
 * Recursion follows the nesting of subgraphs, which is capped at
 * {@link ONNX_MAX_GRAPH_DEPTH}; the work is linear in the model's records.
 */
class _Walker {
  readonly #model: _Fields;
  readonly #ids: _Ids;
  readonly #file: string;
  readonly #metadata: Record<string, string>;
  readonly #found: _Found[] = [];
  #graphs = 0;
  #nodes = 0;

  constructor(model: _Fields, ids: _Ids, file: string, metadata: Record<string, string>) {
    this.#model = model;
    this.#ids = ids;
    this.#file = file;
    this.#metadata = metadata;
  }

  #fail(detail: string): Error {
    return fileError(this.#file, detail);
  }

  /** A reader over a sub-message, positioned at its start. */
  #open(span: _Span, what: string): _Fields {
    const fields = this.#model.message(span, what);
    fields.seek(span.offset);
    return fields;
  }

  /** A `GraphProto`: its nodes (and their subgraphs), initializers and sparse initializers. */
  graph(span: _Span, path: _GraphPath, main = false): void {
    if (path.depth > ONNX_MAX_GRAPH_DEPTH) {
      throw this.#fail(
        `subgraphs nested more than ${ONNX_MAX_GRAPH_DEPTH} deep (at byte ${span.offset})`,
      );
    }
    this.#graphs++;
    const ids = this.#ids.graph;
    const g = this.#open(span, `GraphProto at byte ${span.offset}`);
    let nodes = 0;
    for (let f = g.next(); f !== undefined; f = g.next()) {
      if (f.field === ids.node && f.wire === LEN) {
        this.#node(g.span(), path, nodes++);
      } else if (f.field === ids.initializer && f.wire === LEN) {
        const tensor = this.#tensor(g.span());
        this.#found.push({
          kind: "initializer",
          graph: path,
          order: this.#found.length,
          at: tensor.span.offset,
          name: tensor.fields.name,
          data: { form: "tensor", ...tensor },
        });
      } else if (f.field === ids.sparse_initializer && f.wire === LEN) {
        const span = g.span();
        this.#sparse("sparse_initializer", path, span, this.#sparseFields(span));
      } else if (main && f.field === ids.name && f.wire === LEN) {
        this.#metadata["onnx.graph"] = _short(g.string("graph name"));
      } else {
        g.skip(f.wire);
      }
    }
    this.#nodes += nodes;
  }

  /** A `TrainingInfoProto`: its initialization and algorithm graphs. */
  training(span: _Span, index: number): void {
    const ids = this.#ids.training;
    const t = this.#open(span, `training_info[${index}]`);
    for (let f = t.next(); f !== undefined; f = t.next()) {
      const name = f.field === ids.initialization
        ? "initialization"
        : f.field === ids.algorithm
        ? "algorithm"
        : undefined;
      if (name !== undefined && f.wire === LEN) {
        this.graph(t.span(), _GraphPath.root(() => `training_info[${index}].${name}`, 1));
      } else {
        t.skip(f.wire);
      }
    }
  }

  /** A `FunctionProto`: its nodes, whose `Constant`s hold data too. */
  function(span: _Span): void {
    const ids = this.#ids.function;
    const fn = this.#open(span, `FunctionProto at byte ${span.offset}`);
    const info = { name: "", domain: "" };
    const path = _GraphPath.root(
      () => `function ${info.domain === "" ? "" : `${info.domain}.`}${info.name}`,
      1,
    );
    this.#graphs++;
    let nodes = 0;
    for (let f = fn.next(); f !== undefined; f = fn.next()) {
      if (f.field === ids.node && f.wire === LEN) this.#node(fn.span(), path, nodes++);
      else if (f.field === ids.name && f.wire === LEN) info.name = fn.string("function name");
      else if (f.field === ids.domain && f.wire === LEN) info.domain = fn.string("function domain");
      else fn.skip(f.wire);
    }
    this.#nodes += nodes;
  }

  /** A `NodeProto`: its name, type and first output, and its attributes (subgraphs walked as they come). */
  #node(span: _Span, path: _GraphPath, index: number): void {
    const ids = this.#ids.node;
    const n = this.#open(span, `NodeProto at byte ${span.offset}`);
    const node: _Node = { index, name: "", opType: "", domain: "", output: undefined };
    for (let f = n.next(); f !== undefined; f = n.next()) {
      if (f.field === ids.attribute && f.wire === LEN) this.#attribute(n.span(), node, path);
      else if (f.field === ids.output && f.wire === LEN && node.output === undefined) {
        node.output = n.string("node output");
      } else if (f.field === ids.name && f.wire === LEN) node.name = n.string("node name");
      else if (f.field === ids.op_type && f.wire === LEN) node.opType = n.string("op_type");
      else if (f.field === ids.domain && f.wire === LEN) node.domain = n.string("node domain");
      else n.skip(f.wire);
    }
  }

  /**
   * An `AttributeProto`: a subgraph is walked where it comes; a value a
   * `Constant` could hold is kept, to be listed if the node turns out to be one.
   */
  #attribute(span: _Span, node: _Node, path: _GraphPath): void {
    const ids = this.#ids.attribute;
    const a = this.#open(span, `AttributeProto at byte ${span.offset}`);
    const attribute: _Attribute = { name: "" };
    let tensor: { span: _Span; fields: _TensorFields } | undefined;
    let sparse: { span: _Span; sparse: _Sparse } | undefined;
    let float: number | undefined;
    let int: _Span | undefined;
    const floats = _newList();
    const ints = _newList();
    let text = false;
    let reference = false;
    let graphs = 0;
    for (let f = a.next(); f !== undefined; f = a.next()) {
      const { field: n, wire, at } = f;
      if (n === ids.name && wire === LEN) attribute.name = a.string("attribute name");
      else if (n === ids.g && wire === LEN) this.graph(a.span(), path.child(node, attribute));
      else if (n === ids.graphs && wire === LEN) {
        this.graph(a.span(), path.child(node, attribute, graphs++));
      } else if (n === ids.t && wire === LEN) {
        if (tensor !== undefined) {
          throw this.#fail(`attribute at byte ${span.offset} has two tensors`);
        }
        tensor = this.#tensor(a.span());
      } else if (n === ids.sparse_tensor && wire === LEN) {
        const inner = a.span();
        sparse = { span: inner, sparse: this.#sparseFields(inner) };
      } else if (n === ids.f && wire === I32) {
        float = a.pos;
        a.skip(wire);
      } else if (n === ids.i && wire === VARINT) {
        const start = a.pos;
        a.varint();
        int = { offset: start, length: a.pos - start };
      } else if (n === ids.floats && wire === I32) {
        a.skip(wire);
        _addUnpacked(floats, at, a.pos);
      } else if (n === ids.floats && wire === LEN) floats.packed.push(a.span());
      else if (n === ids.ints && wire === VARINT) {
        a.varint();
        _addUnpacked(ints, at, a.pos);
      } else if (n === ids.ints && wire === LEN) ints.packed.push(a.span());
      else if ((n === ids.s || n === ids.strings) && wire === LEN) {
        text = true;
        a.skip(wire);
      } else if (n === ids.ref_attr_name && wire === LEN) {
        reference = true;
        a.skip(wire);
      } else a.skip(wire);
    }
    if (!CONSTANT_VALUES.has(attribute.name)) return;
    let data: _Data | undefined;
    if (reference) data = { form: "skip", reason: SKIP_REFERENCE };
    else if (attribute.name === "value_string" || attribute.name === "value_strings") {
      data = { form: "skip", reason: SKIP_STRING };
    } else if (attribute.name === "value" && tensor !== undefined) {
      data = { form: "tensor", ...tensor };
    } else if (attribute.name === "sparse_value" && sparse !== undefined) {
      this.#sparse("Constant", path, sparse.span, sparse.sparse, node);
      return;
    } else if (attribute.name === "value_float" && float !== undefined) {
      data = { form: "float", offset: float };
    } else if (attribute.name === "value_int" && int !== undefined) {
      data = { form: "int", span: int };
    } else if (attribute.name === "value_floats") {
      data = { form: "list", type: "FLOAT", list: floats };
    } else if (attribute.name === "value_ints") data = { form: "list", type: "INT64", list: ints };
    else if (text) data = { form: "skip", reason: SKIP_STRING };
    if (data === undefined) return;
    if (data.form === "list" && data.list.count === 0 && data.list.packed.length === 0) {
      data.list.first = data.list.end = span.offset;
    }
    this.#found.push({
      kind: "Constant",
      graph: path,
      order: this.#found.length,
      at: span.offset,
      name: undefined,
      node,
      data,
    });
  }

  /** A `TensorProto`'s fields, read; the cursor left at its end. */
  #tensor(span: _Span): { span: _Span; fields: _TensorFields } {
    const t = this.#open(span, `TensorProto at byte ${span.offset}`);
    const fields = _readTensorFields(t, this.#ids);
    t.seek(span.offset + span.length);
    return { span, fields };
  }

  /** A `SparseTensorProto`'s values and indices, read; the cursor left at its end. */
  #sparseFields(span: _Span): _Sparse {
    const ids = this.#ids.sparse;
    const s = this.#open(span, `SparseTensorProto at byte ${span.offset}`);
    const sparse: _Sparse = { values: undefined, indices: undefined };
    for (let f = s.next(); f !== undefined; f = s.next()) {
      if (f.field === ids.values && f.wire === LEN) sparse.values = this.#tensor(s.span());
      else if (f.field === ids.indices && f.wire === LEN) sparse.indices = this.#tensor(s.span());
      else s.skip(f.wire);
    }
    return sparse;
  }

  /** A sparse tensor's values and indices, found: both named by the values' name. */
  #sparse(
    kind: "sparse_initializer" | "Constant",
    path: _GraphPath,
    span: _Span,
    sparse: _Sparse,
    node?: _Node,
  ): void {
    const label = `sparse tensor at byte ${span.offset}`;
    if (sparse.values === undefined) throw this.#fail(`${label} has no values`);
    if (sparse.indices === undefined) throw this.#fail(`${label} has no indices`);
    for (const part of ["values", "indices"] as const) {
      const tensor = sparse[part]!;
      this.#found.push({
        kind,
        part,
        graph: path,
        order: this.#found.length,
        at: tensor.span.offset,
        name: sparse.values.fields.name,
        ...(node === undefined ? {} : { node }),
        data: { form: "tensor", ...tensor },
      });
    }
  }

  /** Checks every tensor found, gives each a unique name, and builds the index. */
  finish(size: number): WeightFileIndex {
    const kept: { found: _Found; name: string; placed: _Placed }[] = [];
    const skipped = new Map<string, { count: number; names: string[] }>();
    const skip = (reason: string, name: string) => {
      const entry = skipped.get(reason) ?? { count: 0, names: [] };
      entry.count++;
      if (entry.names.length < MAX_SKIPPED_NAMES) entry.names.push(name);
      skipped.set(reason, entry);
    };
    const constantNodes = new Set<_Node>();
    const graphNames = new Map<_GraphPath, Set<string>>();
    for (const found of this.#found) {
      const node = found.node;
      if (found.kind === "Constant") {
        if (node!.opType !== "Constant" || (node!.domain !== "" && node!.domain !== "ai.onnx")) {
          continue;
        }
        if (found.part !== "indices") {
          if (constantNodes.has(node!)) {
            throw this.#fail(
              `Constant ${_quote(_constantName(node!))}${_in(found.graph)} has more than one value`,
            );
          }
          constantNodes.add(node!);
        }
      }
      const name = found.kind === "Constant" ? _constantName(node!) : found.name;
      const label = _label(found, name);
      if (name === undefined) throw this.#fail(`${label}: has no name`);
      if (found.kind !== "Constant" && found.part !== "indices") {
        const names = graphNames.get(found.graph) ?? new Set<string>();
        if (names.has(name)) {
          throw this.#fail(
            `${found.kind === "initializer" ? "initializer" : "sparse initializer"} ${
              _quote(name)
            }${_in(found.graph)} appears twice`,
          );
        }
        names.add(name);
        graphNames.set(found.graph, names);
      }
      const placed = this.#place(found, name, label);
      if (typeof placed === "string") skip(placed, name);
      else kept.push({ found, name, placed });
    }
    const named = _uniqueNames(kept.map(({ found, name }) => ({ found, name })));
    const tensors: TensorInfo[] = [];
    const external: ExternalTensor[] = [];
    kept.forEach(({ found, name, placed }, i) => {
      const origin: TensorOrigin = {
        kind: found.kind,
        ...(found.part === undefined ? {} : { part: found.part }),
        graph: found.graph.text(),
        name,
      };
      if ("location" in placed) external.push({ ...placed, name: named[i]!, origin });
      else tensors.push({ name: named[i]!, ...placed, origin });
    });
    tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
    this.#metadata["onnx.graphs"] = String(this.#graphs);
    this.#metadata["onnx.nodes"] = String(this.#nodes);
    const skippedList: SkippedTensors[] = [...skipped].map(([reason, { count, names }]) => ({
      reason,
      count,
      names,
    }));
    return requireTensors(
      {
        format: "onnx",
        path: this.#file,
        size,
        dataOffset: tensors[0]?.offset ?? 0,
        tensors,
        metadata: this.#metadata,
        ...(external.length > 0 ? { external } : {}),
        ...(skippedList.length > 0 ? { skipped: skippedList } : {}),
      },
      `${this.#graphs} graph${
        this.#graphs === 1 ? "" : "s"
      } (the main graph, subgraphs at every depth, functions, training graphs) and ${this.#nodes} node${
        this.#nodes === 1 ? "" : "s"
      } for initializers, sparse initializers and Constant values`,
    );
  }

  /** Where a found tensor's bytes are, checked; or why it is skipped. */
  #place(found: _Found, name: string, label: string): _Placed | string {
    const fail = (detail: string) => this.#fail(`${label}: ${detail}`);
    const data = found.data;
    switch (data.form) {
      case "skip":
        return data.reason;
      case "float":
        return { dtype: "FLOAT", shape: [], offset: data.offset, byteLength: 4 };
      case "int":
        return {
          dtype: "INT64 (varint)",
          shape: [],
          offset: data.span.offset,
          byteLength: data.span.length,
        };
      case "list":
        return this.#placeList(data.type, data.list, fail);
      case "tensor": {
        const { fields, span } = data;
        if (fields.dataType === STRING_TYPE) return SKIP_STRING;
        const tensor = _checkTensor(name, fields.dataType, fields.dims, fail);
        if (fields.unpacked !== undefined) {
          throw fail(
            `its data field ${fields.unpacked} is not packed: only packed repeated fields are loaded`,
          );
        }
        _refuseMixedData(fields.data, fail);
        if (fields.location === 1) return _externalTensor(this.#file, label, tensor, fields, fail);
        if (fields.location !== 0) throw fail(`unknown data_location ${fields.location}`);
        return _inFileTensor(this.#model, span, tensor, fields.data[0], fail);
      }
    }
  }

  /** A `value_floats` or `value_ints` list: one packed field, or unpacked elements side by side. */
  #placeList(type: "FLOAT" | "INT64", list: _List, fail: (d: string) => Error): _Placed | string {
    const what = type === "FLOAT" ? "value_floats" : "value_ints";
    const pieces = list.packed.length + (list.count > 0 ? 1 : 0);
    if (pieces > 1 || (list.count > 0 && !list.contiguous)) return SKIP_PIECES;
    const packed = list.packed[0];
    if (packed !== undefined) {
      if (type === "FLOAT") {
        if (packed.length % 4 !== 0) {
          throw fail(`${what} holds ${packed.length} bytes, not a whole number of floats`);
        }
        return {
          dtype: "FLOAT",
          shape: [packed.length / 4],
          offset: packed.offset,
          byteLength: packed.length,
        };
      }
      const count = this.#model.countVarints(packed);
      if (packed.length > 0 && !this.#model.endsWithVarint(packed)) {
        throw fail(`${what} ends inside a varint`);
      }
      return {
        dtype: "INT64 (varint)",
        shape: [count],
        offset: packed.offset,
        byteLength: packed.length,
      };
    }
    return {
      dtype: type === "FLOAT" ? "FLOAT (unpacked)" : "INT64 (unpacked varint)",
      shape: [list.count],
      offset: list.first,
      byteLength: list.end - list.first,
    };
  }
}

function _newList(): _List {
  return { packed: [], count: 0, first: 0, end: 0, contiguous: true };
}

/** Adds an unpacked element whose field runs from `at` to `end`. */
function _addUnpacked(list: _List, at: number, end: number): void {
  if (list.count === 0) list.first = at;
  else if (at !== list.end) list.contiguous = false;
  list.end = end;
  list.count++;
}

/** A `Constant`'s name: its output, else its node's label. */
function _constantName(node: _Node): string {
  if (node.output !== undefined && node.output !== "") return node.output;
  return node.name !== "" ? node.name : `Constant#${node.index}`;
}

/** ` in "path"` for a tensor of a graph other than the main one. */
function _in(graph: _GraphPath): string {
  const text = graph.text();
  return text === "" ? "" : ` in ${_quote(text)}`;
}

/** How errors name a found tensor: `initializer "w"`, `Constant "c" in "If#0.then_branch"`. */
function _label(found: _Found, name: string | undefined): string {
  const what = found.kind === "initializer"
    ? "initializer"
    : found.kind === "sparse_initializer"
    ? "sparse initializer"
    : found.part === undefined
    ? "Constant"
    : "sparse Constant";
  const who = name === undefined ? `at byte ${found.at}` : _quote(name);
  return `${what} ${who}${found.part === undefined ? "" : ` (${found.part})`}${_in(found.graph)}`;
}

/**
 * A unique name for each tensor, in the order given: its own when no
 * shallower (or, at the same depth, earlier initializer-first) tensor has it,
 * else `<graph path>/<name>`, and `#2`, `#3`, … after that if need be.
 * Sparse indices are `<name>.indices`.
 */
function _uniqueNames(items: readonly { found: _Found; name: string }[]): string[] {
  const rank = (found: _Found) =>
    found.kind === "initializer" ? 0 : found.kind === "sparse_initializer" ? 1 : 2;
  const order = items.map((_, i) => i).sort((a, b) => {
    const x = items[a]!.found;
    const y = items[b]!.found;
    return x.graph.depth - y.graph.depth || rank(x) - rank(y) || x.order - y.order;
  });
  const names = new Array<string>(items.length);
  const taken = new Set<string>();
  const nextSuffix = new Map<string, number>();
  for (const i of order) {
    const { found, name } = items[i]!;
    const base = found.part === "indices" ? `${name}.indices` : name;
    let unique = base;
    const graph = found.graph.text();
    if (taken.has(unique) && graph !== "") unique = `${graph}/${base}`;
    if (taken.has(unique)) {
      let suffix = nextSuffix.get(unique) ?? 2;
      while (taken.has(`${unique}#${suffix}`)) suffix++;
      nextSuffix.set(unique, suffix + 1);
      unique = `${unique}#${suffix}`;
    }
    taken.add(unique);
    names[i] = unique;
  }
  return names;
}

/** A `TensorProto`'s fields as the file gives them, none checked yet. */
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
  /** The number of a typed data field found unpacked, refused if the tensor is listed. */
  unpacked: number | undefined;
}

/** A tensor's name, element type and size, checked. */
interface _Checked {
  readonly name: string;
  readonly type: { readonly name: string; readonly bits: number };
  readonly dims: number[];
  readonly numel: number;
  /** Bytes of its elements, packed. */
  readonly bytes: number;
}

/** Reads a `TensorProto`'s fields, keeping where its data fields are without reading them. */
function _readTensorFields(t: _Fields, ids: _Ids): _TensorFields {
  const fields: _TensorFields = {
    dims: [],
    dataType: 0,
    name: undefined,
    location: 0,
    data: [],
    entries: [],
    unpacked: undefined,
  };
  const f = ids.tensor;
  for (let field = t.next(); field !== undefined; field = t.next()) {
    const { field: n, wire } = field;
    if (n === f.dims && wire === VARINT) fields.dims.push(t.varint());
    else if (n === f.dims && wire === LEN) {
      // One push per value: a spread of a hostile field's million dimensions would overflow the stack.
      for (const d of t.varintsIn(t.span())) fields.dims.push(d);
    } else if (n === f.data_type && wire === VARINT) fields.dataType = t.varint();
    else if (n === f.name && wire === LEN) fields.name = t.string("name");
    else if (n === f.data_location && wire === VARINT) fields.location = t.varint();
    else if (n === f.external_data && wire === LEN) fields.entries.push(_readEntry(t, ids));
    else if (wire === LEN && _isDataField(f, n)) {
      fields.data.push({ field: ids.dataFields.get(n)!, span: t.span() });
    } else if (
      (wire === I32 && n === f.float_data) || (wire === I64 && n === f.double_data) ||
      (wire === VARINT && (n === f.int32_data || n === f.int64_data || n === f.uint64_data))
    ) {
      fields.unpacked ??= n;
      t.skip(wire);
    } else {
      t.skip(wire);
    }
  }
  return fields;
}

/** True when field `n` of a `TensorProto` holds its elements. */
function _isDataField(f: _Ids["tensor"], n: number): boolean {
  return n === f.raw_data || n === f.float_data || n === f.double_data || n === f.int32_data ||
    n === f.int64_data || n === f.uint64_data || n === f.string_data;
}

/** One `external_data` entry (a `StringStringEntryProto`): its key and value, `""` when absent. */
function _readEntry(t: _Fields, ids: _Ids): [string, string] {
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
function _checkTensor(
  name: string,
  dataType: number,
  dims: number[],
  fail: (d: string) => Error,
): _Checked {
  const type = ONNX_DTYPES[dataType];
  if (type === undefined) throw fail(`unknown data_type ${dataType}`);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw fail(`dimension ${d} is not a non-negative integer`);
    }
  }
  let numel = 1;
  for (const d of dims) numel *= d;
  const bytes = Math.ceil((numel * type.bits) / 8);
  if (!Number.isSafeInteger(bytes)) {
    throw fail(`shape [${_dims(dims)}] of ${type.name} is too large`);
  }
  return { name, type, dims, numel, bytes };
}

/** Throws when the data is in more than one field. */
function _refuseMixedData(
  data: readonly { field: string; span: _Span }[],
  fail: (d: string) => Error,
): void {
  const distinct = new Set(data.map((d) => d.field));
  if (distinct.size > 1) throw fail(`has data in both ${[...distinct].join(" and ")}`);
  if (data.length > 1) throw fail(`has ${data.length} ${data[0]!.field} fields`);
}

/** A tensor whose bytes are in another file: the location inside the model's folder, the length the shape's. */
function _externalTensor(
  file: string,
  label: string,
  { name, type, dims, bytes }: _Checked,
  fields: _TensorFields,
  fail: (d: string) => Error,
): ExternalTensor {
  if (fields.data.length > 0) throw fail("has both external data and data in the file");
  const get = (key: string) => fields.entries.find(([k]) => k === key)?.[1];
  const where = get("location");
  if (where === undefined || where === "") throw fail("external data without a location");
  _checkLocation(file, label, where);
  const offset = _decimal(get("offset") ?? "0", "offset", fail);
  const length = _decimal(get("length") ?? String(bytes), "length", fail);
  if (length !== bytes) {
    throw fail(
      `external data length ${length} but shape [${
        _dims(dims)
      }] of ${type.name} takes ${bytes} bytes`,
    );
  }
  return { name, dtype: type.name, shape: dims, location: where, offset, byteLength: length };
}

/** A tensor whose bytes are in this file: its one data field, checked to fit its type and shape. */
function _inFileTensor(
  t: _Fields,
  span: _Span,
  tensor: _Checked,
  item: { field: string; span: _Span } | undefined,
  fail: (d: string) => Error,
): _Placed {
  const { type, dims, numel, bytes } = tensor;
  if (item === undefined) {
    if (numel === 0) return { dtype: type.name, shape: dims, offset: span.offset, byteLength: 0 };
    throw fail(`has no data for its ${numel} elements`);
  }
  _checkDataField(t, tensor, item, fail);
  // Varint-encoded values: the tensor's bytes are their encoding, and its dtype says so.
  const varint = _isVarintField(item.field);
  const expected = varint ? item.span.length : bytes;
  if (item.span.length !== expected) {
    throw fail(
      `${item.field} holds ${item.span.length} bytes but shape [${
        _dims(dims)
      }] of ${type.name} takes ${expected}`,
    );
  }
  return {
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
 * Throws unless the data field suits the tensor: `string_data` never does,
 * `float_data` and `double_data` only for their types, and the varint fields
 * only with one varint per element (two per complex element, one per two
 * 4-bit elements).
 */
function _checkDataField(
  t: _Fields,
  { type, dims, numel }: _Checked,
  item: { field: string; span: _Span },
  fail: (d: string) => Error,
): void {
  if (item.field === "string_data") throw fail(`is ${type.name} but holds string_data`);
  if (item.field === "float_data") {
    if (type.name !== "FLOAT" && type.name !== "COMPLEX64") {
      throw fail(`is ${type.name} but holds float_data`);
    }
  } else if (item.field === "double_data") {
    if (type.name !== "DOUBLE" && type.name !== "COMPLEX128") {
      throw fail(`is ${type.name} but holds double_data`);
    }
  } else if (_isVarintField(item.field)) {
    const count = t.countVarints(item.span);
    const perElement = type.name.startsWith("COMPLEX") ? 2 : 1;
    const packedPerVarint = type.bits === 4 ? 2 : 1;
    const want = Math.ceil((numel * perElement) / packedPerVarint);
    if (count !== want) {
      throw fail(`${item.field} holds ${count} values but shape [${_dims(dims)}] needs ${want}`);
    }
  }
}

/**
 * Throws unless `location` names a file inside the model's folder: relative,
 * no `..` that climbs out, no NUL. (Symbolic links are checked when the file
 * is opened.)
 */
export function checkExternalLocation(file: string, tensor: string, location: string): void {
  _checkLocation(file, `initializer ${_quote(tensor)}`, location);
}

function _checkLocation(file: string, label: string, location: string): void {
  const fail = (why: string) =>
    fileError(file, `${label}: external data location ${_quote(location)} ${why}`);
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

/**
 * The little-endian elements of a tensor's bytes as {@link onnx} lists them:
 * the bytes themselves for a plain dtype; for the encoded forms (`(varint)`,
 * `(unpacked)`, `(unpacked varint)`) the values decoded and written at the
 * element type's width, as `numpy_helper.to_array(t).tobytes()` gives them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onnxElementBytes } from "./onnx.ts";
 *
 * // int64_data [1, -2] as varints: 0x01, then -2 as ten bytes.
 * const varints = new Uint8Array([1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
 * const bytes = onnxElementBytes("INT64 (varint)", varints);
 * assert.deepEqual([...new BigInt64Array(bytes.buffer)], [1n, -2n]);
 * // value_floats unpacked: a tag (0x3d) before each float.
 * const unpacked = new Uint8Array([0x3d, 0, 0, 0x80, 0x3f, 0x3d, 0, 0, 0, 0x40]);
 * assert.deepEqual([...new Float32Array(onnxElementBytes("FLOAT (unpacked)", unpacked).buffer)], [1, 2]);
 * ```
 */
export function onnxElementBytes(dtype: string, bytes: Uint8Array): Uint8Array {
  const match = /^(\w+) \((varint|unpacked|unpacked varint)\)$/.exec(dtype);
  if (match === null) return bytes;
  const [, typeName, form] = match;
  const type = Object.values(ONNX_DTYPES).find((t) => t.name === typeName);
  if (type === undefined) throw new Error(`Unknown ONNX dtype "${dtype}"`);
  if (form === "unpacked") {
    // A one-byte tag, then four bytes, per element.
    const out = new Uint8Array((bytes.length / 5) * 4);
    for (let i = 0, o = 0; i < bytes.length; i += 5, o += 4) {
      out.set(bytes.subarray(i + 1, i + 5), o);
    }
    return out;
  }
  const width = type.bits === 4 ? 1 : type.bits / 8;
  const values: bigint[] = [];
  let value = 0n;
  let shift = 0n;
  let inTag = form === "unpacked varint";
  for (const byte of bytes) {
    if (inTag) {
      // The field's tag (one byte for field 8) comes before each unpacked varint.
      inTag = false;
      continue;
    }
    value |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if ((byte & 0x80) === 0) {
      values.push(value);
      value = 0n;
      shift = 0n;
      inTag = form === "unpacked varint";
    }
  }
  const out = new Uint8Array(values.length * width);
  values.forEach((v, i) => {
    for (let b = 0; b < width; b++) out[i * width + b] = Number((v >> BigInt(8 * b)) & 0xffn);
  });
  return out;
}

function _decimal(text: string, what: string, fail: (detail: string) => Error): number {
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw fail(`external data ${what} ${_quote(text)} is not a byte count`);
  }
  return Number(text);
}

/** Dimensions for a message, long lists cut short. */
function _dims(dims: readonly number[]): string {
  return dims.length <= 8 ? dims.join(", ") : `${dims.slice(0, 8).join(", ")}, …`;
}

function _short(text: string): string {
  return text.length <= 256 ? text : `${text.slice(0, 256)}…`;
}

function _quote(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}…`;
}
