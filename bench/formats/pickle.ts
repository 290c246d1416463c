/**
 * A restricted unpickler: it reads Python pickles (protocols 0–5) but only
 * ever builds data — numbers, strings, bytes, lists, tuples, dicts — and the
 * few PyTorch objects a checkpoint is made of: `collections.OrderedDict`,
 * storages named by persistent id, and tensors rebuilt by
 * `torch._utils._rebuild_tensor_v2` (or `_rebuild_parameter`). Any other
 * global (`os.system`, `builtins.eval`, …) is refused the moment the pickle
 * names it, with an error naming it; nothing is ever imported, called or
 * executed.
 *
 * Lengths are checked against the bytes left in the pickle before anything
 * is allocated, so memory stays bounded by the pickle's own size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unpickle } from "./pickle.ts";
 *
 * // pickle.dumps({"a": [1, 2.5, "x"]}, protocol=2)
 * const bytes = Uint8Array.from(atob("gAJ9cQBYAQAAAGFxAV1xAihLAUdABAAAAAAAAFgBAAAAeHEDZXMu"), (c) => c.charCodeAt(0));
 * const { value } = unpickle(bytes, { file: "data.pkl" });
 * assert.deepEqual(value, { kind: "dict", ordered: false, entries: [["a", { kind: "list", items: [1, 2.5, "x"] }]] });
 * assert.throws(
 *   () => unpickle(new TextEncoder().encode("cos\nsystem\n."), { file: "evil.pkl" }),
 *   /refusing global "os.system"/,
 * );
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";

/** A Python value the unpickler can build. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyList
  | PyTuple
  | PyDict
  | PyGlobal
  | PyStorage
  | PyTensor;

export interface PyList {
  readonly kind: "list";
  readonly items: PyValue[];
}
export interface PyTuple {
  readonly kind: "tuple";
  readonly items: readonly PyValue[];
}
export interface PyDict {
  readonly kind: "dict";
  /** True for `collections.OrderedDict`. */
  readonly ordered: boolean;
  readonly entries: [PyValue, PyValue][];
}
/** A global the pickle named: only allowed ones get this far. */
export interface PyGlobal {
  readonly kind: "global";
  readonly module: string;
  readonly name: string;
}
/** A storage named by a persistent id: `('storage', torch.HalfStorage, '0', 'cpu', 4096)`. */
export interface PyStorage {
  readonly kind: "storage";
  /** The storage class's name (`HalfStorage`). */
  readonly storageType: string;
  readonly key: string;
  readonly location: string;
  /** Elements, as the persistent id says. */
  readonly numel: number;
}
/** A tensor: a view of a storage. */
export interface PyTensor {
  readonly kind: "tensor";
  readonly storage: PyStorage;
  readonly storageOffset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** The file named in errors. */
  readonly file: string;
  /** Where the pickle starts in `bytes`. @default 0 */
  readonly start?: number;
  /** What errors call the pickle. @default "data.pkl" */
  readonly label?: string;
  /**
   * `bytes` may be a prefix of the pickle: running out of bytes throws
   * {@link PickleTruncated} rather than a {@link WeightFileError}, so the
   * caller can read more and try again.
   */
  readonly partial?: boolean;
}

/** Thrown by {@link unpickle} with `partial` when the pickle goes on past the bytes given. */
export class PickleTruncated extends Error {
  constructor() {
    super("Pickle continues past the bytes given");
    this.name = "PickleTruncated";
  }
}

/** The storage classes a persistent id may name, and their element types. */
export const STORAGE_DTYPES: Readonly<Record<string, { dtype: string; bytes: number }>> = Object
  .freeze({
    DoubleStorage: { dtype: "F64", bytes: 8 },
    FloatStorage: { dtype: "F32", bytes: 4 },
    HalfStorage: { dtype: "F16", bytes: 2 },
    BFloat16Storage: { dtype: "BF16", bytes: 2 },
    LongStorage: { dtype: "I64", bytes: 8 },
    IntStorage: { dtype: "I32", bytes: 4 },
    ShortStorage: { dtype: "I16", bytes: 2 },
    CharStorage: { dtype: "I8", bytes: 1 },
    ByteStorage: { dtype: "U8", bytes: 1 },
    BoolStorage: { dtype: "BOOL", bytes: 1 },
    ComplexFloatStorage: { dtype: "C64", bytes: 8 },
    ComplexDoubleStorage: { dtype: "C128", bytes: 16 },
    UInt16Storage: { dtype: "U16", bytes: 2 },
    UInt32Storage: { dtype: "U32", bytes: 4 },
    UInt64Storage: { dtype: "U64", bytes: 8 },
    Float8_e4m3fnStorage: { dtype: "F8_E4M3", bytes: 1 },
    Float8_e5m2Storage: { dtype: "F8_E5M2", bytes: 1 },
    UntypedStorage: { dtype: "U8", bytes: 1 },
  });

/** Functions the unpickler may apply, by `module.name`. */
const REBUILDERS = new Set([
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "collections.OrderedDict",
]);

/** Deepest nesting of containers walked by {@link flattenTensors}. */
export const MAX_PICKLE_DEPTH = 100;
/** Largest integer a LONG opcode may spell, in bytes. */
const MAX_LONG_BYTES = 64;

/**
 * Unpickles `bytes` from `start` up to its STOP opcode. Returns the value and
 * the offset just past STOP. Throws {@link WeightFileError} naming `file`.
 */
export function unpickle(
  bytes: Uint8Array,
  options: UnpickleOptions,
): { value: PyValue; end: number } {
  const { file } = options;
  const label = options.label ?? "data.pkl";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = options.start ?? 0;
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const fail = (detail: string) => fileError(file, `${label}: ${detail}`);
  const need = (n: number, what: string) => {
    if (!(n <= bytes.length - pos)) {
      if (options.partial) throw new PickleTruncated();
      throw fail(
        `truncated: ${what} at byte ${pos} needs ${n} bytes but ${bytes.length - pos} remain`,
      );
    }
  };
  const u8 = () => {
    need(1, "an argument");
    return bytes[pos++]!;
  };
  const u16 = () => {
    need(2, "an argument");
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = () => {
    need(4, "an argument");
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const i32 = () => {
    need(4, "an argument");
    pos += 4;
    return view.getInt32(pos - 4, true);
  };
  const u64 = () => {
    need(8, "an argument");
    pos += 8;
    return view.getUint32(pos - 4, true) * 2 ** 32 + view.getUint32(pos - 8, true);
  };
  const take = (n: number, what: string) => {
    need(n, what);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const line = (what: string) => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) {
      if (options.partial) throw new PickleTruncated();
      throw fail(`truncated: ${what} at byte ${pos} has no end of line`);
    }
    const text = _latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const utf8 = (b: Uint8Array, what: string) => {
    try {
      return _utf8.decode(b);
    } catch {
      throw fail(`${what} at byte ${pos - b.length} is not valid UTF-8`);
    }
  };
  const floor = () => marks.at(-1) ?? 0;
  const pop = (what: string): PyValue => {
    if (stack.length <= floor()) throw fail(`${what} at byte ${pos - 1} finds an empty stack`);
    return stack.pop()!;
  };
  const top = (what: string): PyValue => {
    if (stack.length <= floor()) throw fail(`${what} at byte ${pos - 1} finds an empty stack`);
    return stack[stack.length - 1]!;
  };
  const popMark = (what: string): PyValue[] => {
    const mark = marks.pop();
    if (mark === undefined) throw fail(`${what} at byte ${pos - 1} has no MARK before it`);
    return stack.splice(mark);
  };
  const push = (value: PyValue) => stack.push(value);
  const global = (module: string, name: string): PyGlobal => {
    const full = `${module}.${name}`;
    if (REBUILDERS.has(full) || (module === "torch" && Object.hasOwn(STORAGE_DTYPES, name))) {
      return { kind: "global", module, name };
    }
    throw fail(
      `refusing global ${
        JSON.stringify(full.slice(0, 200))
      }: only tensors, storages and plain containers are rebuilt, nothing is imported or run`,
    );
  };
  const memoPut = (index: number) => memo.set(index, top("PUT"));
  const memoGet = (index: number) => {
    const value = memo.get(index);
    if (value === undefined) throw fail(`memo entry ${index} is read before it is written`);
    push(value);
  };

  for (;;) {
    if (pos >= bytes.length) {
      if (options.partial) throw new PickleTruncated();
      throw fail(`truncated: no STOP opcode before byte ${bytes.length}`);
    }
    const at = pos;
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version > 5) throw fail(`pickle protocol ${version} is not supported (at most 5)`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        const value = pop("STOP");
        return { value, end: pos };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length > floor()) stack.pop();
        else popMark("POP");
        break;
      case 0x31: // POP_MARK
        popMark("POP_MARK");
        break;
      case 0x32: // DUP
        push(top("DUP"));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x49: { // INT (text; also True/False as 01/00)
        const text = line("INT").trim();
        if (text === "01") push(true);
        else if (text === "00") push(false);
        else push(_parseInt(text, fail));
        break;
      }
      case 0x4c: { // LONG (text)
        push(_parseInt(line("LONG").trim().replace(/L$/, ""), fail));
        break;
      }
      case 0x8a: { // LONG1
        push(_long(take(u8(), "LONG1")));
        break;
      }
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > MAX_LONG_BYTES) {
          throw fail(`integer of ${n} bytes at byte ${at} is out of range`);
        }
        push(_long(take(n, "LONG4")));
        break;
      }
      case 0x47: { // BINFLOAT
        need(8, "BINFLOAT");
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x46: { // FLOAT (text)
        const value = Number(line("FLOAT"));
        if (Number.isNaN(value)) throw fail(`FLOAT at byte ${at} is not a number`);
        push(value);
        break;
      }
      case 0x58: // BINUNICODE
        push(utf8(take(u32(), "a string"), "a string"));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8(take(u8(), "a string"), "a string"));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8(take(u64(), "a string"), "a string"));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        push(line("UNICODE"));
        break;
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) throw fail(`string of ${n} bytes at byte ${at}`);
        push(_latin1(take(n, "a string")));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(_latin1(take(u8(), "a string")));
        break;
      case 0x53: { // STRING (quoted text)
        const text = line("STRING").trim();
        push(text.replace(/^(['"])(.*)\1$/, "$2"));
        break;
      }
      case 0x42: // BINBYTES
        push(take(u32(), "bytes").slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8(), "bytes").slice());
        break;
      case 0x8e: // BINBYTES8
        push(take(u64(), "bytes").slice());
        break;
      case 0x96: // BYTEARRAY8
        push(take(u64(), "bytes").slice());
        break;
      case 0x7d: // EMPTY_DICT
        push({ kind: "dict", ordered: false, entries: [] });
        break;
      case 0x5d: // EMPTY_LIST
        push({ kind: "list", items: [] });
        break;
      case 0x29: // EMPTY_TUPLE
        push({ kind: "tuple", items: [] });
        break;
      case 0x8f: // EMPTY_SET
        push({ kind: "list", items: [] });
        break;
      case 0x74: // TUPLE
        push({ kind: "tuple", items: popMark("TUPLE") });
        break;
      case 0x85: // TUPLE1
        push({ kind: "tuple", items: [pop("TUPLE1")] });
        break;
      case 0x86: { // TUPLE2
        const b = pop("TUPLE2");
        const a = pop("TUPLE2");
        push({ kind: "tuple", items: [a, b] });
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop("TUPLE3");
        const b = pop("TUPLE3");
        const a = pop("TUPLE3");
        push({ kind: "tuple", items: [a, b, c] });
        break;
      }
      case 0x6c: { // LIST
        const items = popMark("LIST");
        push({ kind: "list", items });
        break;
      }
      case 0x64: { // DICT
        const items = popMark("DICT");
        push(_dict(items, false, fail));
        break;
      }
      case 0x61: { // APPEND
        const value = pop("APPEND");
        _list(top("APPEND"), fail).push(value);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark("APPENDS");
        _list(top("APPENDS"), fail).push(...items);
        break;
      }
      case 0x90: { // ADDITEMS (sets, kept as lists)
        const items = popMark("ADDITEMS");
        _list(top("ADDITEMS"), fail).push(...items);
        break;
      }
      case 0x91: { // FROZENSET
        const items = popMark("FROZENSET");
        push({ kind: "list", items });
        break;
      }
      case 0x73: { // SETITEM
        const value = pop("SETITEM");
        const key = pop("SETITEM");
        _dictOf(top("SETITEM"), fail).entries.push([key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark("SETITEMS");
        if (items.length % 2 !== 0) throw fail(`SETITEMS at byte ${at} has an odd number of items`);
        const dict = _dictOf(top("SETITEMS"), fail);
        for (let i = 0; i < items.length; i += 2) dict.entries.push([items[i]!, items[i + 1]!]);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line("GLOBAL");
        const name = line("GLOBAL");
        push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop("STACK_GLOBAL");
        const module = pop("STACK_GLOBAL");
        if (typeof name !== "string" || typeof module !== "string") {
          throw fail(`STACK_GLOBAL at byte ${at} needs two strings`);
        }
        push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop("REDUCE");
        const callable = pop("REDUCE");
        push(_call(callable, args, at, fail));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop("NEWOBJ");
        const cls = pop("NEWOBJ");
        push(_newObject(cls, args, at, fail));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop("NEWOBJ_EX");
        const args = pop("NEWOBJ_EX");
        const cls = pop("NEWOBJ_EX");
        push(_newObject(cls, args, at, fail));
        break;
      }
      case 0x62: { // BUILD
        const state = pop("BUILD");
        const target = top("BUILD");
        // An OrderedDict's state is its __dict__ (a state_dict's `_metadata`): data, ignored.
        if (_isDict(target) && (state === null || _isDict(state))) break;
        throw fail(`BUILD at byte ${at}: only dicts may receive state, not ${_describe(target)}`);
      }
      case 0x51: { // BINPERSID
        push(_persistent(pop("BINPERSID"), at, fail));
        break;
      }
      case 0x50: { // PERSID (text)
        throw fail(`text persistent id at byte ${at} is not a PyTorch storage`);
      }
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x70: // PUT
        memoPut(Number(_parseInt(line("PUT"), fail)));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        memoGet(u8());
        break;
      case 0x6a: // LONG_BINGET
        memoGet(u32());
        break;
      case 0x67: // GET
        memoGet(Number(_parseInt(line("GET"), fail)));
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw fail(`out-of-band buffers (opcode at byte ${at}) are not supported`);
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw fail(
          `extension registry codes (opcode at byte ${at}) are refused: they name globals`,
        );
      case 0x69: // INST
      case 0x6f: // OBJ
        throw fail(`refusing an old-style instance (opcode at byte ${at}): it would call a class`);
      default:
        throw fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at}`);
    }
  }
}

/** Each tensor reachable from `root` with its dotted key path; scalars beside them as text. */
export function flattenTensors(
  root: PyValue,
  fail: (detail: string) => Error,
): { tensors: [string, PyTensor][]; scalars: [string, string][] } {
  const tensors: [string, PyTensor][] = [];
  const scalars: [string, string][] = [];
  const active = new Set<object>();
  const walk = (value: PyValue, path: string, depth: number) => {
    if (depth > MAX_PICKLE_DEPTH) {
      throw fail(`containers nested more than ${MAX_PICKLE_DEPTH} deep at ${JSON.stringify(path)}`);
    }
    if (value === null || typeof value !== "object" || value instanceof Uint8Array) {
      if (value !== null && scalars.length < 1000 && !(value instanceof Uint8Array)) {
        const text = String(value);
        scalars.push([path, text.length > 256 ? `${text.slice(0, 256)}…` : text]);
      }
      return;
    }
    if (value.kind === "tensor") {
      tensors.push([path === "" ? "tensor" : path, value]);
      return;
    }
    if (value.kind === "global" || value.kind === "storage") return;
    if (active.has(value)) throw fail(`a container holds itself at ${JSON.stringify(path)}`);
    active.add(value);
    const join = (key: string) => (path === "" ? key : `${path}.${key}`);
    if (value.kind === "dict") {
      for (const [key, item] of value.entries) walk(item, join(_keyText(key)), depth + 1);
    } else {
      value.items.forEach((item, i) => walk(item, join(String(i)), depth + 1));
    }
    active.delete(value);
  };
  walk(root, "", 0);
  return { tensors, scalars };
}

function _keyText(key: PyValue): string {
  if (typeof key === "string") return key;
  if (
    typeof key === "number" || typeof key === "bigint" || typeof key === "boolean" || key === null
  ) {
    return String(key);
  }
  if (key instanceof Uint8Array) return _latin1(key);
  if (key.kind === "tuple") return `(${key.items.map(_keyText).join(", ")})`;
  return `<${key.kind}>`;
}

function _call(callable: PyValue, args: PyValue, at: number, fail: (d: string) => Error): PyValue {
  if (!_isGlobal(callable)) {
    throw fail(`REDUCE at byte ${at} calls ${_describe(callable)}, not a function`);
  }
  const items = _tupleItems(args, `arguments of ${callable.module}.${callable.name}`, fail);
  const full = `${callable.module}.${callable.name}`;
  if (full === "collections.OrderedDict") {
    const dict: PyDict = { kind: "dict", ordered: true, entries: [] };
    if (
      items.length === 1 && items[0] !== null && typeof items[0] === "object" && "kind" in items[0]
    ) {
      const pairs = items[0];
      if (pairs.kind === "list" || pairs.kind === "tuple") {
        for (const pair of pairs.items) {
          const kv = _tupleItems(pair, "an OrderedDict item", fail, true);
          if (kv.length !== 2) throw fail(`OrderedDict item at byte ${at} is not a pair`);
          dict.entries.push([kv[0]!, kv[1]!]);
        }
        return dict;
      }
    }
    if (items.length !== 0) throw fail(`OrderedDict at byte ${at} takes no such arguments`);
    return dict;
  }
  if (full === "torch._utils._rebuild_parameter") {
    const [data] = items;
    if (items.length < 2 || !_isTensor(data)) {
      throw fail(`_rebuild_parameter at byte ${at} needs a tensor`);
    }
    return data;
  }
  if (full === "torch._utils._rebuild_tensor_v2") {
    if (items.length < 4) {
      throw fail(
        `_rebuild_tensor_v2 at byte ${at} takes at least 4 arguments, got ${items.length}`,
      );
    }
    const [storage, offset, size, stride] = items;
    if (!_isStorage(storage)) {
      throw fail(`_rebuild_tensor_v2 at byte ${at}: ${_describe(storage)} is not a storage`);
    }
    const storageOffset = _int(offset, "storage offset", at, fail);
    const shape = _tupleItems(size, "size", fail, true).map((d) => _int(d, "size", at, fail));
    const strides = _tupleItems(stride, "stride", fail, true).map((d) =>
      _int(d, "stride", at, fail)
    );
    if (shape.length !== strides.length) {
      throw fail(
        `_rebuild_tensor_v2 at byte ${at}: ${shape.length} sizes but ${strides.length} strides`,
      );
    }
    return { kind: "tensor", storage, storageOffset, shape, strides };
  }
  throw fail(`REDUCE at byte ${at}: calling ${full} is not allowed`);
}

function _newObject(cls: PyValue, args: PyValue, at: number, fail: (d: string) => Error): PyValue {
  if (_isGlobal(cls) && cls.module === "collections" && cls.name === "OrderedDict") {
    return { kind: "dict", ordered: true, entries: [] };
  }
  void args;
  throw fail(`NEWOBJ at byte ${at}: creating ${_describe(cls)} is not allowed`);
}

function _persistent(pid: PyValue, at: number, fail: (d: string) => Error): PyStorage {
  const items = _tupleItems(pid, "persistent id", fail, true);
  const [tag, type, key, location, numel] = items;
  if (tag !== "storage" || items.length < 5) {
    throw fail(`persistent id at byte ${at} is not ('storage', type, key, location, numel)`);
  }
  if (!_isGlobal(type) || type.module !== "torch" || !Object.hasOwn(STORAGE_DTYPES, type.name)) {
    throw fail(`persistent id at byte ${at} names ${_describe(type)}, not a storage class`);
  }
  if (typeof key !== "string" || typeof location !== "string") {
    throw fail(`persistent id at byte ${at}: key and location must be strings`);
  }
  if (items.length > 5 && items[5] !== null) {
    throw fail(
      `persistent id at byte ${at}: storage views (legacy view metadata) are not supported`,
    );
  }
  return {
    kind: "storage",
    storageType: type.name,
    key,
    location,
    numel: _int(numel, "element count", at, fail),
  };
}

function _int(
  value: PyValue | undefined,
  what: string,
  at: number,
  fail: (d: string) => Error,
): number {
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw fail(`${what} ${value} at byte ${at} is out of range`);
    }
    return Number(value);
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw fail(
      `${what} at byte ${at} is ${_describe(value ?? null)}, expected a non-negative integer`,
    );
  }
  return value;
}

function _tupleItems(
  value: PyValue | undefined,
  what: string,
  fail: (d: string) => Error,
  lists = false,
): readonly PyValue[] {
  if (value !== null && typeof value === "object" && "kind" in value) {
    if (value.kind === "tuple" || (lists && value.kind === "list")) return value.items;
  }
  throw fail(`${what} is ${_describe(value)}, expected a tuple`);
}

function _isGlobal(value: PyValue | undefined): value is PyGlobal {
  return value !== null && typeof value === "object" && "kind" in value && value.kind === "global";
}
function _isStorage(value: PyValue | undefined): value is PyStorage {
  return value !== null && typeof value === "object" && "kind" in value && value.kind === "storage";
}
function _isTensor(value: PyValue | undefined): value is PyTensor {
  return value !== null && typeof value === "object" && "kind" in value && value.kind === "tensor";
}
function _isDict(value: PyValue): value is PyDict {
  return value !== null && typeof value === "object" && "kind" in value && value.kind === "dict";
}

function _list(value: PyValue, fail: (d: string) => Error): PyValue[] {
  if (value !== null && typeof value === "object" && "kind" in value && value.kind === "list") {
    return value.items;
  }
  throw fail(`cannot append to ${_describe(value)}`);
}

function _dictOf(value: PyValue, fail: (d: string) => Error): PyDict {
  if (_isDict(value)) return value;
  throw fail(`cannot set an item of ${_describe(value)}`);
}

function _dict(items: PyValue[], ordered: boolean, fail: (d: string) => Error): PyDict {
  if (items.length % 2 !== 0) throw fail("DICT has an odd number of items");
  const entries: [PyValue, PyValue][] = [];
  for (let i = 0; i < items.length; i += 2) entries.push([items[i]!, items[i + 1]!]);
  return { kind: "dict", ordered, entries };
}

/** What a value is, for messages: `a string`, `torch.FloatStorage`, `a dict`. */
function _describe(value: PyValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value === null) return "None";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value !== "object") return `a ${typeof value === "bigint" ? "number" : typeof value}`;
  if (value.kind === "global") return `${value.module}.${value.name}`;
  return `a ${value.kind}`;
}

function _parseInt(text: string, fail: (d: string) => Error): number | bigint {
  if (!/^[+-]?\d{1,40}$/.test(text)) {
    throw fail(`integer ${JSON.stringify(text.slice(0, 40))} is malformed`);
  }
  const big = BigInt(text);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big)
    : big;
}

/** A little-endian two's complement integer, as a number when safe. */
function _long(bytes: Uint8Array): number | bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes.length > 0 && bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

const _utf8 = new TextDecoder("utf-8", { fatal: true });

function _latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return text;
}
