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

/**
 * What REDUCE may call, by `module.name`, and how each is rebuilt: with the
 * storage classes, the only globals a pickle may name.
 */
const REBUILDERS: ReadonlyMap<string, _Rebuild> = new Map<string, _Rebuild>([
  ["torch._utils._rebuild_tensor_v2", _rebuildTensorV2],
  ["torch._utils._rebuild_parameter", _rebuildParameter],
  ["collections.OrderedDict", _orderedDict],
]);

/** Deepest nesting of containers walked by {@link flattenTensors}. */
export const MAX_PICKLE_DEPTH = 100;
/** Largest integer a LONG opcode may spell, in bytes. */
const MAX_LONG_BYTES = 64;
/** The newest pickle protocol read. */
const MAX_PROTOCOL = 5;

/**
 * Unpickles `bytes` from `start` up to its STOP opcode. Returns the value and
 * the offset just past STOP. Throws {@link WeightFileError} naming `file`.
 */
export function unpickle(
  bytes: Uint8Array,
  options: UnpickleOptions,
): { value: PyValue; end: number } {
  const machine = new _Machine(bytes, options);
  for (;;) {
    const at = machine.pos;
    const op = machine.opcode();
    if (op === OP.STOP) return { value: machine.pop("STOP"), end: machine.pos };
    const handler = _HANDLERS[op];
    if (handler === undefined) {
      throw machine.fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at}`);
    }
    handler(machine, at);
  }
}

/** The pickle opcodes read, by the names `pickletools` gives them. */
const OP = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e,
  MARK: 0x28,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  INT: 0x49,
  LONG: 0x4c,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINFLOAT: 0x47,
  FLOAT: 0x46,
  BINUNICODE: 0x58,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  UNICODE: 0x56,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  STRING: 0x53,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  BINBYTES8: 0x8e,
  BYTEARRAY8: 0x96,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  EMPTY_SET: 0x8f,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  LIST: 0x6c,
  DICT: 0x64,
  APPEND: 0x61,
  APPENDS: 0x65,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  GLOBAL: 0x63,
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52,
  NEWOBJ: 0x81,
  NEWOBJ_EX: 0x92,
  BUILD: 0x62,
  BINPERSID: 0x51,
  PERSID: 0x50,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  PUT: 0x70,
  MEMOIZE: 0x94,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  GET: 0x67,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  INST: 0x69,
  OBJ: 0x6f,
} as const;

/**
 * The unpickler's state: the bytes and the position in them, the stack, its
 * marks and the memo, with the reads and stack moves every opcode uses.
 */
class _Machine {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The next byte to read. */
  pos: number;
  readonly stack: PyValue[] = [];
  /** Stack heights at each MARK not yet consumed. */
  readonly marks: number[] = [];
  readonly memo: Map<number, PyValue> = new Map();
  /** The error for `detail`, naming the file and the pickle. */
  readonly fail: (detail: string) => Error;
  readonly #partial: boolean;

  constructor(bytes: Uint8Array, options: UnpickleOptions) {
    const { file } = options;
    const label = options.label ?? "data.pkl";
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = options.start ?? 0;
    this.#partial = options.partial ?? false;
    this.fail = (detail) => fileError(file, `${label}: ${detail}`);
  }

  /** Running out of bytes: {@link PickleTruncated} when more may come, else the error for `detail`. */
  #truncated(detail: string): Error {
    return this.#partial ? new PickleTruncated() : this.fail(detail);
  }

  /** The next opcode. */
  opcode(): number {
    if (this.pos >= this.bytes.length) {
      throw this.#truncated(`truncated: no STOP opcode before byte ${this.bytes.length}`);
    }
    return this.bytes[this.pos++]!;
  }

  /** Throws unless `n` bytes are left; `what` names them. */
  need(n: number, what: string): void {
    if (!(n <= this.bytes.length - this.pos)) {
      throw this.#truncated(
        `truncated: ${what} at byte ${this.pos} needs ${n} bytes but ${
          this.bytes.length - this.pos
        } remain`,
      );
    }
  }

  u8(): number {
    this.need(1, "an argument");
    return this.bytes[this.pos++]!;
  }

  u16(): number {
    this.need(2, "an argument");
    this.pos += 2;
    return this.view.getUint16(this.pos - 2, true);
  }

  u32(): number {
    this.need(4, "an argument");
    this.pos += 4;
    return this.view.getUint32(this.pos - 4, true);
  }

  i32(): number {
    this.need(4, "an argument");
    this.pos += 4;
    return this.view.getInt32(this.pos - 4, true);
  }

  u64(): number {
    this.need(8, "an argument");
    this.pos += 8;
    return this.view.getUint32(this.pos - 4, true) * 2 ** 32 +
      this.view.getUint32(this.pos - 8, true);
  }

  /** A big-endian double (BINFLOAT's argument). */
  f64(what: string): number {
    this.need(8, what);
    this.pos += 8;
    return this.view.getFloat64(this.pos - 8, false);
  }

  /** The next `n` bytes, as a view. */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }

  /** The text up to the next newline, as Latin-1; the position moves past the newline. */
  line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.#truncated(`truncated: ${what} at byte ${this.pos} has no end of line`);
    const text = _latin1(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  /** `bytes`, just read, decoded as UTF-8. */
  utf8(bytes: Uint8Array, what: string): string {
    // Names and keys are short ASCII: built directly, they skip the decoder's per-call cost.
    if (bytes.length <= 64) {
      let ascii = true;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
    try {
      return _utf8.decode(bytes);
    } catch {
      throw this.fail(`${what} at byte ${this.pos - bytes.length} is not valid UTF-8`);
    }
  }

  push(value: PyValue): void {
    this.stack.push(value);
  }

  /** Where the values above the innermost MARK start. */
  #floor(): number {
    return this.marks.length === 0 ? 0 : this.marks[this.marks.length - 1]!;
  }

  pop(what: string): PyValue {
    if (this.stack.length <= this.#floor()) throw this.#emptyStack(what);
    return this.stack.pop()!;
  }

  top(what: string): PyValue {
    if (this.stack.length <= this.#floor()) throw this.#emptyStack(what);
    return this.stack[this.stack.length - 1]!;
  }

  #emptyStack(what: string): Error {
    return this.fail(`${what} at byte ${this.pos - 1} finds an empty stack`);
  }

  mark(): void {
    this.marks.push(this.stack.length);
  }

  /** The values above the innermost MARK, taken off the stack with it. */
  popMark(what: string): PyValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) {
      throw this.fail(`${what} at byte ${this.pos - 1} has no MARK before it`);
    }
    return this.stack.splice(mark);
  }

  /** POP: the top value, or at a MARK, the mark. */
  discard(): void {
    if (this.stack.length > this.#floor()) this.stack.pop();
    else this.popMark("POP");
  }

  /** Stores the top of the stack as memo entry `index`. */
  memoPut(index: number): void {
    this.memo.set(index, this.top("PUT"));
  }

  /** Pushes memo entry `index`. */
  memoGet(index: number): void {
    const value = this.memo.get(index);
    if (value === undefined) throw this.fail(`memo entry ${index} is read before it is written`);
    this.push(value);
  }
}

/** What one opcode does; `at` is the opcode's offset, `m.pos` just past it. */
type _Handler = (m: _Machine, at: number) => void;
/** The handlers of a family of opcodes, by opcode. */
type _Family = Readonly<Record<number, _Handler>>;

/** PROTO and FRAME: checked and skipped. */
const _FRAMING: _Family = {
  [OP.PROTO]: (m) => {
    const version = m.u8();
    if (version > MAX_PROTOCOL) {
      throw m.fail(`pickle protocol ${version} is not supported (at most ${MAX_PROTOCOL})`);
    }
  },
  [OP.FRAME]: (m) => {
    m.u64();
  },
};

/** Marks and plain stack moves. */
const _STACK_OPS: _Family = {
  [OP.MARK]: (m) => m.mark(),
  [OP.POP]: (m) => m.discard(),
  [OP.POP_MARK]: (m) => {
    m.popMark("POP_MARK");
  },
  [OP.DUP]: (m) => m.push(m.top("DUP")),
};

/** None, booleans, integers and floats. */
const _SCALARS: _Family = {
  [OP.NONE]: (m) => m.push(null),
  [OP.NEWTRUE]: (m) => m.push(true),
  [OP.NEWFALSE]: (m) => m.push(false),
  [OP.BININT1]: (m) => m.push(m.u8()),
  [OP.BININT2]: (m) => m.push(m.u16()),
  [OP.BININT]: (m) => m.push(m.i32()),
  [OP.INT]: (m) => {
    // Text; protocol 0 spells True and False as 01 and 00.
    const text = m.line("INT").trim();
    m.push(text === "01" ? true : text === "00" ? false : _parseInt(text, m.fail));
  },
  [OP.LONG]: (m) => m.push(_parseInt(m.line("LONG").trim().replace(/L$/, ""), m.fail)),
  [OP.LONG1]: (m) => m.push(_long(m.take(m.u8(), "LONG1"))),
  [OP.LONG4]: (m, at) => {
    const n = m.i32();
    if (n < 0 || n > MAX_LONG_BYTES) {
      throw m.fail(`integer of ${n} bytes at byte ${at} is out of range`);
    }
    m.push(_long(m.take(n, "LONG4")));
  },
  [OP.BINFLOAT]: (m) => m.push(m.f64("BINFLOAT")),
  [OP.FLOAT]: (m, at) => {
    const value = Number(m.line("FLOAT"));
    if (Number.isNaN(value)) throw m.fail(`FLOAT at byte ${at} is not a number`);
    m.push(value);
  },
};

/** Text and bytes, each length checked against the bytes left before it is read. */
const _STRINGS: _Family = {
  [OP.BINUNICODE]: (m) => m.push(m.utf8(m.take(m.u32(), "a string"), "a string")),
  [OP.SHORT_BINUNICODE]: (m) => m.push(m.utf8(m.take(m.u8(), "a string"), "a string")),
  [OP.BINUNICODE8]: (m) => m.push(m.utf8(m.take(m.u64(), "a string"), "a string")),
  // Raw-unicode-escape text, kept as it is spelled.
  [OP.UNICODE]: (m) => m.push(m.line("UNICODE")),
  [OP.BINSTRING]: (m, at) => {
    const n = m.i32();
    if (n < 0) throw m.fail(`string of ${n} bytes at byte ${at}`);
    m.push(_latin1(m.take(n, "a string")));
  },
  [OP.SHORT_BINSTRING]: (m) => m.push(_latin1(m.take(m.u8(), "a string"))),
  // Quoted text.
  [OP.STRING]: (m) => m.push(m.line("STRING").trim().replace(/^(['"])(.*)\1$/, "$2")),
  [OP.BINBYTES]: (m) => m.push(m.take(m.u32(), "bytes").slice()),
  [OP.SHORT_BINBYTES]: (m) => m.push(m.take(m.u8(), "bytes").slice()),
  [OP.BINBYTES8]: (m) => m.push(m.take(m.u64(), "bytes").slice()),
  [OP.BYTEARRAY8]: (m) => m.push(m.take(m.u64(), "bytes").slice()),
};

/** Lists, tuples, dicts, and sets (kept as lists), built from the stack. */
const _CONTAINERS: _Family = {
  [OP.EMPTY_DICT]: (m) => m.push({ kind: "dict", ordered: false, entries: [] }),
  [OP.EMPTY_LIST]: (m) => m.push({ kind: "list", items: [] }),
  [OP.EMPTY_TUPLE]: (m) => m.push({ kind: "tuple", items: [] }),
  [OP.EMPTY_SET]: (m) => m.push({ kind: "list", items: [] }),
  [OP.TUPLE]: (m) => m.push({ kind: "tuple", items: m.popMark("TUPLE") }),
  [OP.TUPLE1]: (m) => m.push({ kind: "tuple", items: [m.pop("TUPLE1")] }),
  [OP.TUPLE2]: (m) => {
    const b = m.pop("TUPLE2");
    const a = m.pop("TUPLE2");
    m.push({ kind: "tuple", items: [a, b] });
  },
  [OP.TUPLE3]: (m) => {
    const c = m.pop("TUPLE3");
    const b = m.pop("TUPLE3");
    const a = m.pop("TUPLE3");
    m.push({ kind: "tuple", items: [a, b, c] });
  },
  [OP.LIST]: (m) => m.push({ kind: "list", items: m.popMark("LIST") }),
  [OP.DICT]: (m) => m.push(_dict(m.popMark("DICT"), false, m.fail)),
  [OP.FROZENSET]: (m) => m.push({ kind: "list", items: m.popMark("FROZENSET") }),
  [OP.APPEND]: (m) => {
    const value = m.pop("APPEND");
    _list(m.top("APPEND"), m.fail).push(value);
  },
  [OP.APPENDS]: (m) => _extend(m, "APPENDS"),
  [OP.ADDITEMS]: (m) => _extend(m, "ADDITEMS"),
  [OP.SETITEM]: (m) => {
    const value = m.pop("SETITEM");
    const key = m.pop("SETITEM");
    _dictOf(m.top("SETITEM"), m.fail).entries.push([key, value]);
  },
  [OP.SETITEMS]: (m, at) => {
    const items = m.popMark("SETITEMS");
    if (items.length % 2 !== 0) throw m.fail(`SETITEMS at byte ${at} has an odd number of items`);
    const dict = _dictOf(m.top("SETITEMS"), m.fail);
    for (let i = 0; i < items.length; i += 2) dict.entries.push([items[i]!, items[i + 1]!]);
  },
};

/** APPENDS and ADDITEMS: the values above the mark, appended to the list below it. */
function _extend(m: _Machine, what: string): void {
  const items = m.popMark(what);
  const list = _list(m.top(what), m.fail);
  // One push per item: a spread of a hostile pickle's million items would overflow the stack.
  for (const item of items) list.push(item);
}

/** The memo: the top of the stack stored by index, and pushed again. */
const _MEMO_OPS: _Family = {
  [OP.BINPUT]: (m) => m.memoPut(m.u8()),
  [OP.LONG_BINPUT]: (m) => m.memoPut(m.u32()),
  [OP.PUT]: (m) => m.memoPut(Number(_parseInt(m.line("PUT"), m.fail))),
  [OP.MEMOIZE]: (m) => m.memoPut(m.memo.size),
  [OP.BINGET]: (m) => m.memoGet(m.u8()),
  [OP.LONG_BINGET]: (m) => m.memoGet(m.u32()),
  [OP.GET]: (m) => m.memoGet(Number(_parseInt(m.line("GET"), m.fail))),
};

/** Globals, only those on the allow-list, and the calls that rebuild tensors and dicts from them. */
const _GLOBAL_OPS: _Family = {
  [OP.GLOBAL]: (m) => {
    const module = m.line("GLOBAL");
    const name = m.line("GLOBAL");
    m.push(_allowedGlobal(module, name, m.fail));
  },
  [OP.STACK_GLOBAL]: (m, at) => {
    const name = m.pop("STACK_GLOBAL");
    const module = m.pop("STACK_GLOBAL");
    if (typeof name !== "string" || typeof module !== "string") {
      throw m.fail(`STACK_GLOBAL at byte ${at} needs two strings`);
    }
    m.push(_allowedGlobal(module, name, m.fail));
  },
  [OP.REDUCE]: (m, at) => {
    const args = m.pop("REDUCE");
    const callable = m.pop("REDUCE");
    m.push(_call(callable, args, at, m.fail));
  },
  [OP.NEWOBJ]: (m, at) => {
    const args = m.pop("NEWOBJ");
    const cls = m.pop("NEWOBJ");
    m.push(_newObject(cls, args, at, m.fail));
  },
  [OP.NEWOBJ_EX]: (m, at) => {
    m.pop("NEWOBJ_EX");
    const args = m.pop("NEWOBJ_EX");
    const cls = m.pop("NEWOBJ_EX");
    m.push(_newObject(cls, args, at, m.fail));
  },
  [OP.BUILD]: (m, at) => {
    const state = m.pop("BUILD");
    const target = m.top("BUILD");
    // An OrderedDict's state is its __dict__ (a state_dict's `_metadata`): data, ignored.
    if (_isDict(target) && (state === null || _isDict(state))) return;
    throw m.fail(`BUILD at byte ${at}: only dicts may receive state, not ${_describe(target)}`);
  },
};

/** Persistent ids: the storages a checkpoint's tensors view. */
const _PERSISTENT_OPS: _Family = {
  [OP.BINPERSID]: (m, at) => m.push(_persistent(m.pop("BINPERSID"), at, m.fail)),
  [OP.PERSID]: (m, at) => {
    throw m.fail(`text persistent id at byte ${at} is not a PyTorch storage`);
  },
};

/** Opcodes refused whatever follows them. */
const _REFUSED_OPS: _Family = {
  [OP.NEXT_BUFFER]: _outOfBandBuffer,
  [OP.READONLY_BUFFER]: _outOfBandBuffer,
  [OP.EXT1]: _extensionCode,
  [OP.EXT2]: _extensionCode,
  [OP.EXT4]: _extensionCode,
  [OP.INST]: _oldStyleInstance,
  [OP.OBJ]: _oldStyleInstance,
};

function _outOfBandBuffer(m: _Machine, at: number): never {
  throw m.fail(`out-of-band buffers (opcode at byte ${at}) are not supported`);
}

function _extensionCode(m: _Machine, at: number): never {
  throw m.fail(`extension registry codes (opcode at byte ${at}) are refused: they name globals`);
}

function _oldStyleInstance(m: _Machine, at: number): never {
  throw m.fail(`refusing an old-style instance (opcode at byte ${at}): it would call a class`);
}

/** Every opcode's handler, indexed by opcode; `undefined` for unknown ones. */
const _HANDLERS: readonly (_Handler | undefined)[] = _opcodeTable([
  _FRAMING,
  _STACK_OPS,
  _SCALARS,
  _STRINGS,
  _CONTAINERS,
  _MEMO_OPS,
  _GLOBAL_OPS,
  _PERSISTENT_OPS,
  _REFUSED_OPS,
]);

function _opcodeTable(families: readonly _Family[]): (_Handler | undefined)[] {
  const table = new Array<_Handler | undefined>(256).fill(undefined);
  for (const family of families) {
    for (const [op, handler] of Object.entries(family)) {
      if (table[Number(op)] !== undefined) throw new Error(`Opcode ${op} has two handlers`);
      table[Number(op)] = handler;
    }
  }
  return table;
}

/** The global `module.name`, when the allow-list has it; otherwise the refusal naming it. */
function _allowedGlobal(module: string, name: string, fail: (d: string) => Error): PyGlobal {
  const full = `${module}.${name}`;
  if (REBUILDERS.has(full) || (module === "torch" && Object.hasOwn(STORAGE_DTYPES, name))) {
    return { kind: "global", module, name };
  }
  throw fail(
    `refusing global ${
      JSON.stringify(full.slice(0, 200))
    }: only tensors, storages and plain containers are rebuilt, nothing is imported or run`,
  );
}

/**
 * Each tensor reachable from `root` with its dotted key path; scalars beside
 * them as text.
 *
 * Containers may share children (the pickle's memo lets one list appear in
 * many places), and walking every path of such a graph can take exponentially
 * long: a 200-byte pickle of lists that each hold the one below twice, 22
 * deep, has four million paths. So the walk visits at most
 * {@link VISITS_PER_REFERENCE} times as many values as the containers hold
 * references (plus {@link MIN_VISITS}); a tree, or tensors shared by two keys
 * (tied weights), stays far below it, and a graph that goes past it is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flattenTensors, type PyValue } from "./pickle.ts";
 *
 * // Lists that each hold the one below twice, 40 deep: 2^40 paths.
 * let value: PyValue = { kind: "list", items: [] };
 * for (let i = 0; i < 40; i++) value = { kind: "list", items: [value, value] };
 * assert.throws(() => flattenTensors(value, (d) => new Error(d)), /containers share children/);
 * ```
 */
export function flattenTensors(
  root: PyValue,
  fail: (detail: string) => Error,
): { tensors: [string, PyTensor][]; scalars: [string, string][] } {
  const tensors: [string, PyTensor][] = [];
  const scalars: [string, string][] = [];
  const active = new Set<object>();
  const references = _countReferences(root);
  const budget = VISITS_PER_REFERENCE * references + MIN_VISITS;
  let visits = 0;
  const walk = (value: PyValue, path: string, depth: number) => {
    if (++visits > budget) {
      throw fail(
        `containers share children: walking every key path would visit more than ${budget} values (the containers hold ${references} references)`,
      );
    }
    if (depth > MAX_PICKLE_DEPTH) {
      throw fail(`containers nested more than ${MAX_PICKLE_DEPTH} deep at ${_quotePath(path)}`);
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
    if (active.has(value)) throw fail(`a container holds itself at ${_quotePath(path)}`);
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

/** How many values {@link flattenTensors} may visit per reference its containers hold. */
export const VISITS_PER_REFERENCE = 4;
/** Values {@link flattenTensors} may always visit, whatever the references. */
const MIN_VISITS = 10_000;
/** Longest key text built from a tuple key. */
const MAX_KEY_CHARS = 256;

/** References held by the distinct containers reachable from `root` (each container counted once), without recursion. */
function _countReferences(root: PyValue): number {
  const seen = new Set<object>();
  const pending: PyValue[] = [root];
  let references = 0;
  while (pending.length > 0) {
    const value = pending.pop()!;
    if (value === null || typeof value !== "object" || value instanceof Uint8Array) continue;
    if (value.kind !== "dict" && value.kind !== "list" && value.kind !== "tuple") continue;
    if (seen.has(value)) continue;
    seen.add(value);
    if (value.kind === "dict") {
      references += value.entries.length;
      for (const [, item] of value.entries) pending.push(item);
    } else {
      references += value.items.length;
      for (const item of value.items) pending.push(item);
    }
  }
  return references;
}

/** A key path quoted for a message, cut short when long. */
function _quotePath(path: string): string {
  return JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
}

/** A dict key as text: strings as they are, tuples as `(a, b)`, cut at {@link MAX_KEY_CHARS} without walking past it. */
function _keyText(key: PyValue): string {
  let text = "";
  // Pieces still to write, last first: text, or a key to spell. A tuple key is
  // walked without recursion, and never past the length kept.
  const pending: (PyValue | { readonly text: string })[] = [key];
  while (pending.length > 0 && text.length <= MAX_KEY_CHARS) {
    const item = pending.pop()!;
    if (item !== null && typeof item === "object" && "text" in item) {
      text += item.text;
    } else if (_isTupleValue(item)) {
      pending.push({ text: ")" });
      for (let i = item.items.length - 1; i >= 0; i--) {
        pending.push(item.items[i]!);
        if (i > 0) pending.push({ text: ", " });
      }
      pending.push({ text: "(" });
    } else {
      text += _scalarKeyText(item);
    }
  }
  return text.length > MAX_KEY_CHARS || pending.length > 0
    ? `${text.slice(0, MAX_KEY_CHARS)}…`
    : text;
}

function _isTupleValue(value: PyValue): value is PyTuple {
  return value !== null && typeof value === "object" && "kind" in value && value.kind === "tuple";
}

/** A key that is not a tuple, as text. */
function _scalarKeyText(key: PyValue): string {
  if (typeof key === "string") return key;
  if (
    typeof key === "number" || typeof key === "bigint" || typeof key === "boolean" || key === null
  ) {
    return String(key);
  }
  if (key instanceof Uint8Array) return _latin1(key.subarray(0, MAX_KEY_CHARS + 1));
  return `<${key.kind}>`;
}

/** How an allowed callable builds its value from its arguments. */
type _Rebuild = (items: readonly PyValue[], at: number, fail: (d: string) => Error) => PyValue;

/** REDUCE: calls `callable`, which must be on the allow-list, with the tuple `args`. */
function _call(callable: PyValue, args: PyValue, at: number, fail: (d: string) => Error): PyValue {
  if (!_isGlobal(callable)) {
    throw fail(`REDUCE at byte ${at} calls ${_describe(callable)}, not a function`);
  }
  const items = _tupleItems(args, `arguments of ${callable.module}.${callable.name}`, fail);
  const full = `${callable.module}.${callable.name}`;
  const rebuild = REBUILDERS.get(full);
  if (rebuild === undefined) throw fail(`REDUCE at byte ${at}: calling ${full} is not allowed`);
  return rebuild(items, at, fail);
}

/** `collections.OrderedDict()`, or `OrderedDict(pairs)` with a list or tuple of pairs. */
function _orderedDict(items: readonly PyValue[], at: number, fail: (d: string) => Error): PyDict {
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

/** `torch._utils._rebuild_parameter(data, requires_grad, …)`: the tensor `data` itself. */
function _rebuildParameter(
  items: readonly PyValue[],
  at: number,
  fail: (d: string) => Error,
): PyTensor {
  const [data] = items;
  if (items.length < 2 || !_isTensor(data)) {
    throw fail(`_rebuild_parameter at byte ${at} needs a tensor`);
  }
  return data;
}

/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`: a view of the storage. */
function _rebuildTensorV2(
  items: readonly PyValue[],
  at: number,
  fail: (d: string) => Error,
): PyTensor {
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
  const strides = _tupleItems(stride, "stride", fail, true).map((d) => _int(d, "stride", at, fail));
  if (shape.length !== strides.length) {
    throw fail(
      `_rebuild_tensor_v2 at byte ${at}: ${shape.length} sizes but ${strides.length} strides`,
    );
  }
  return { kind: "tensor", storage, storageOffset, shape, strides };
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
    // `apply` takes the typed array as it is; a spread would walk it through an iterator.
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(bytes.length, i + 4096)) as unknown as number[],
    );
  }
  return text;
}
