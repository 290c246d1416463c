/**
 * The safetensors format: an 8-byte little-endian header length `N`, `N`
 * bytes of UTF-8 JSON naming each tensor's dtype, shape and byte range, then
 * the data section, which the tensors index entirely, without holes.
 *
 * {@link safetensors} reads a file's index and checks it as strictly as the
 * reference implementation does; {@link encodeSafetensorsHeader} writes the
 * header for a list of tensors laid out back to back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { encodeSafetensorsHeader, safetensors } from "./safetensors.ts";
 *
 * const header = encodeSafetensorsHeader([
 *   { name: "embed.weight", dtype: "F16", shape: [2, 3] },
 *   { name: "step", dtype: "I64", shape: [] },
 * ], { format: "pt" });
 * const file = new Uint8Array(header.dataOffset + 20);
 * file.set(header.bytes);
 * file[header.dataOffset + 12] = 42; // first byte of "step"
 *
 * assert.ok(safetensors.sniff(file.subarray(0, 64)));
 * const index = safetensors.parse(bytesSource("demo.safetensors", file));
 * assert.equal(index.dataOffset % 8, 0);
 * assert.deepEqual(index.metadata, { format: "pt" });
 * const step = index.tensors[1]!;
 * assert.deepEqual([step.name, step.dtype, step.shape, step.byteLength], ["step", "I64", [], 8]);
 * assert.equal(file[step.offset], 42);
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";
import { suggest } from "../util/suggest.ts";
import {
  type ByteSource,
  requireTensors,
  type TensorInfo,
  type WeightFileIndex,
  type WeightFormat,
} from "./format.ts";

/** Bytes per element of every dtype safetensors defines. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
});

/** The largest header the reference implementation accepts, in bytes. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes of the little-endian u64 header length that opens every file. */
const LENGTH_BYTES = 8;

/** The smallest header there is: `{}`. */
const MIN_HEADER_BYTES = 2;

/** `{`, the first byte of every header the reference writer produces. */
const OPEN_BRACE = 0x7b;

/** The ASCII space the reference writer pads its header with. */
const SPACE = 0x20;

/** The header key holding free-form string metadata rather than a tensor. */
const METADATA_KEY = "__metadata__";

/** The most characters of a name, a value or a parser message quoted in an error. */
const MAX_QUOTED_CHARS = 120;

/** The most dimensions of a shape spelled out in an error. */
const MAX_SHOWN_DIMS = 8;

/** Byte counts up to 2^this are spelled out exactly in errors; larger ones only as a bound. */
const MAX_EXACT_BITS = 128;

const MAX_EXACT_BYTES = 1n << BigInt(MAX_EXACT_BITS);
const MAX_HEADER_BIGINT = BigInt(MAX_HEADER_BYTES);
const LENGTH_BYTES_BIGINT = BigInt(LENGTH_BYTES);
const DTYPE_NAMES = Object.keys(SAFETENSORS_DTYPES);

/** One tensor as {@link encodeSafetensorsHeader} lays it out. */
export interface SafetensorsTensorSpec {
  /** The tensor's name; unique, and not `__metadata__`. */
  readonly name: string;
  /** One of {@link SAFETENSORS_DTYPES}. */
  readonly dtype: string;
  /** The shape; `[]` for a scalar. */
  readonly shape: readonly number[];
}

/** Where {@link encodeSafetensorsHeader} put one tensor, relative to the data section. */
export interface SafetensorsRange {
  /** The tensor's name. */
  name: string;
  /** Offset of its first byte from the start of the data section. */
  begin: number;
  /** Offset just past its last byte from the start of the data section. */
  end: number;
}

/** A file's opening bytes as {@link encodeSafetensorsHeader} builds them. */
export interface EncodedSafetensorsHeader {
  /** The 8-byte header length followed by the padded JSON header. */
  bytes: Uint8Array;
  /** Where the data section starts: `bytes.length`, a multiple of 8. */
  dataOffset: number;
  /** Each tensor's byte range in the data section, in the order given. */
  ranges: SafetensorsRange[];
}

/** A validated header entry, before it becomes a {@link TensorInfo}. */
interface Entry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** The safetensors format. */
export const safetensors: WeightFormat = {
  name: "safetensors",
  extensions: [".safetensors"],

  sniff(head: Uint8Array): boolean {
    if (head.length < LENGTH_BYTES + 1) return false;
    const length = new DataView(head.buffer, head.byteOffset, LENGTH_BYTES).getBigUint64(0, true);
    return length >= MIN_HEADER_BYTES && length <= MAX_HEADER_BIGINT &&
      head[LENGTH_BYTES] === OPEN_BRACE;
  },

  parse(source: ByteSource): WeightFileIndex {
    const { name: file, size } = source;
    if (size < LENGTH_BYTES) {
      throw fileError(
        file,
        `truncated: ${size} bytes, a safetensors file starts with an ${LENGTH_BYTES}-byte header length`,
      );
    }
    const lengthBytes = source.read(0, LENGTH_BYTES);
    const claimed = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, LENGTH_BYTES)
      .getBigUint64(0, true);
    // Both checks stay in BigInt: nothing is converted or allocated before the
    // claim is known to fit in the file and under the limit.
    if (LENGTH_BYTES_BIGINT + claimed > BigInt(size)) {
      throw fileError(
        file,
        `header length ${claimed} exceeds file size ${size} (the header would end at byte ${
          LENGTH_BYTES_BIGINT + claimed
        })`,
      );
    }
    if (claimed > MAX_HEADER_BIGINT) {
      throw fileError(
        file,
        `header length ${claimed} exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
      );
    }
    const headerLength = Number(claimed);
    const dataOffset = LENGTH_BYTES + headerLength;
    const dataLength = size - dataOffset;

    const header = _decodeHeader(file, source.read(LENGTH_BYTES, headerLength));
    const metadata = _readMetadata(file, header[METADATA_KEY]);

    const entries: Entry[] = [];
    for (const name of Object.keys(header)) {
      if (name === METADATA_KEY) continue;
      entries.push(_readEntry(file, name, header[name], dataLength));
    }
    entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
    _checkCoverage(file, entries, dataLength);

    const tensors: TensorInfo[] = entries.map((entry) => ({
      name: entry.name,
      dtype: entry.dtype,
      shape: entry.shape,
      offset: dataOffset + entry.begin,
      byteLength: entry.end - entry.begin,
    }));
    return requireTensors(
      { format: "safetensors", path: file, size, dataOffset, tensors, metadata },
      `the ${headerLength}-byte JSON header`,
    );
  },
};

/**
 * Builds the opening bytes of a safetensors file holding `tensors` back to
 * back in the given order: the 8-byte header length and the JSON header,
 * padded with spaces so the data section starts at a multiple of 8, as the
 * reference writer does. Throws a plain `Error` for a tensor it cannot describe
 * (an unknown dtype, a bad shape, a repeated name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensorsHeader } from "./safetensors.ts";
 *
 * const { bytes, dataOffset, ranges } = encodeSafetensorsHeader([
 *   { name: "a", dtype: "F32", shape: [4] },
 *   { name: "b", dtype: "U8", shape: [3] },
 * ]);
 * assert.equal(bytes.length, dataOffset);
 * assert.equal(dataOffset % 8, 0);
 * assert.deepEqual(ranges, [{ name: "a", begin: 0, end: 16 }, { name: "b", begin: 16, end: 19 }]);
 * ```
 */
export function encodeSafetensorsHeader(
  tensors: readonly SafetensorsTensorSpec[],
  metadata?: Record<string, string>,
): EncodedSafetensorsHeader {
  // The JSON is written by hand: a JS object would move integer-like names
  // ("0", "12") ahead of the others and lose the order given.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const pairs = Object.entries(metadata).map(([key, value]) => {
      if (typeof value !== "string") {
        throw new Error(`Cannot encode metadata ${_quote(key)}: value is ${_kind(value)}`);
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${pairs.join(",")}}`);
  }
  const ranges: SafetensorsRange[] = [];
  const seen = new Set<string>();
  let end = 0;
  for (const { name, dtype, shape } of tensors) {
    if (name === METADATA_KEY || seen.has(name)) {
      throw new Error(
        `Cannot encode tensor ${_quote(name)}: ${
          name === METADATA_KEY ? "the name is reserved" : "the name is used twice"
        }`,
      );
    }
    seen.add(name);
    const elementSize = _elementSize(dtype);
    if (elementSize === undefined) {
      throw new Error(`Cannot encode tensor ${_quote(name)}: unknown dtype ${_quote(dtype)}`);
    }
    let count = 1;
    for (const dim of shape) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw new Error(
          `Cannot encode tensor ${
            _quote(name)
          }: shape dimension ${dim} is not a non-negative integer`,
        );
      }
      count *= dim;
    }
    const begin = end;
    end = begin + count * elementSize;
    if (!Number.isSafeInteger(end)) {
      throw new Error(
        `Cannot encode tensor ${_quote(name)}: shape ${
          _formatShape(shape)
        } of ${dtype} is too large`,
      );
    }
    ranges.push({ name, begin, end });
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":[${
        shape.join(",")
      }],"data_offsets":[${begin},${end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / LENGTH_BYTES) * LENGTH_BYTES;
  const bytes = new Uint8Array(LENGTH_BYTES + headerLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true);
  bytes.set(json, LENGTH_BYTES);
  bytes.fill(SPACE, LENGTH_BYTES + json.length);
  return { bytes, dataOffset: bytes.length, ranges };
}

/** Decodes the header bytes as UTF-8 JSON and returns its top-level object. */
function _decodeHeader(file: string, bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw fileError(file, "header is not valid UTF-8", { cause });
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw fileError(file, `header is not valid JSON: ${_shorten(reason)}`, { cause });
  }
  if (!_isObject(header)) {
    throw fileError(file, `header is ${_kind(header)}, expected a JSON object`);
  }
  return header;
}

/** Checks the optional `__metadata__` entry: an object of strings. */
function _readMetadata(file: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!_isObject(value)) {
    throw fileError(file, `${METADATA_KEY} is ${_kind(value)}, expected an object of strings`);
  }
  const entries = Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof item !== "string") {
      throw fileError(
        file,
        `${METADATA_KEY} value for ${_quote(key)} is ${_kind(item)}, expected a string`,
      );
    }
  }
  // fromEntries defines each key, so even "__proto__" stays a plain entry.
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Checks one tensor entry against the dtype table and the data section's length. */
function _readEntry(file: string, name: string, value: unknown, dataLength: number): Entry {
  const fail = (detail: string) => fileError(file, `tensor ${_quote(name)}: ${detail}`);
  if (!_isObject(value)) throw fail(`entry is ${_kind(value)}, expected an object`);
  const { dtype, shape, data_offsets: offsets } = value;

  if (dtype === undefined) throw fail(`missing "dtype"`);
  if (typeof dtype !== "string") throw fail(`dtype is ${_kind(dtype)}, expected a string`);
  const elementSize = _elementSize(dtype);
  if (elementSize === undefined) {
    const suggestion = suggest(dtype, DTYPE_NAMES);
    throw fail(
      `unknown dtype ${_quote(dtype)}${
        suggestion === undefined ? "" : ` (did you mean ${_quote(suggestion)}?)`
      }`,
    );
  }

  if (shape === undefined) throw fail(`missing "shape"`);
  if (!Array.isArray(shape)) throw fail(`shape is ${_kind(shape)}, expected an array`);
  let count = 1;
  let empty = false;
  for (let i = 0; i < shape.length; i++) {
    const dim: unknown = shape[i];
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw fail(`shape[${i}] is ${_formatValue(dim)}, expected a non-negative integer`);
    }
    if (dim === 0) empty = true;
    count *= dim;
  }
  const dims = shape as number[];

  if (offsets === undefined) throw fail(`missing "data_offsets"`);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(
      `data_offsets is ${
        Array.isArray(offsets) ? `an array of ${offsets.length}` : _kind(offsets)
      }, expected two integers [begin, end]`,
    );
  }
  for (let i = 0; i < 2; i++) {
    const offset: unknown = offsets[i];
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      throw fail(`data_offsets[${i}] is ${_formatValue(offset)}, expected a non-negative integer`);
    }
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] end before they begin`);

  // With every dimension at least 1 the running product only grows, so a safe
  // final product means every step was exact; past 2^53 the exact figure is
  // worked out in BigInt, for the message.
  const bytes = empty ? 0 : count * elementSize;
  if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
    const needed = Number.isSafeInteger(bytes) ? `${bytes}` : _exactBytes(dims, elementSize);
    throw fail(
      `shape ${_formatShape(dims)} of ${dtype} needs ${needed} bytes but data_offsets span ${
        end - begin
      }`,
    );
  }
  if (end > dataLength) {
    throw fail(`data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes)`);
  }
  return { name, dtype, shape: dims, begin, end };
}

/** Checks that the sorted entries tile the data section: no overlap, no hole, nothing after. */
function _checkCoverage(file: string, entries: readonly Entry[], dataLength: number): void {
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (entry.begin < covered && previous !== undefined) {
      throw fileError(
        file,
        `tensor ${_describe(entry)} overlaps tensor ${_describe(previous)}`,
      );
    }
    if (entry.begin > covered) {
      const where = previous === undefined
        ? `before tensor ${_quote(entry.name)}`
        : `between tensor ${_quote(previous.name)} and tensor ${_quote(entry.name)}`;
      throw fileError(
        file,
        `hole in the data section: bytes ${covered}..${entry.begin} ${where} belong to no tensor`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered < dataLength) {
    const after = previous === undefined
      ? "and no tensors"
      : `after tensor ${_quote(previous.name)}`;
    throw fileError(
      file,
      `data section has ${
        dataLength - covered
      } trailing bytes ${after}: bytes ${covered}..${dataLength} belong to no tensor`,
    );
  }
}

/** Bytes per element of `dtype`, or `undefined` when safetensors does not define it. */
function _elementSize(dtype: string): number | undefined {
  return Object.hasOwn(SAFETENSORS_DTYPES, dtype) ? SAFETENSORS_DTYPES[dtype] : undefined;
}

/**
 * The exact byte count of a shape too large for a number, as text; past
 * 2^128 only that bound, so a header of millions of huge dimensions cannot
 * make it multiply enormous integers.
 */
function _exactBytes(shape: readonly number[], elementSize: number): string {
  let bytes = BigInt(elementSize);
  for (const dim of shape) {
    bytes *= BigInt(dim);
    if (bytes > MAX_EXACT_BYTES) return `more than 2^${MAX_EXACT_BITS}`;
  }
  return `${bytes}`;
}

/** `"name" (data_offsets [b, e])`, for overlap messages. */
function _describe(entry: Entry): string {
  return `${_quote(entry.name)} (data_offsets [${entry.begin}, ${entry.end}])`;
}

/** A shape as `[2, 3]`, long shapes cut short. */
function _formatShape(shape: readonly number[]): string {
  const shown = shape.slice(0, MAX_SHOWN_DIMS).join(", ");
  return `[${shown}${shape.length > MAX_SHOWN_DIMS ? ", …" : ""}]`;
}

/** Any JSON value on one short line: numbers as JS prints them (`Infinity` for `1e400`), the rest as JSON. */
function _formatValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "number") return String(value);
  return _shorten(JSON.stringify(value) ?? String(value));
}

/** A string quoted as JSON (so on one line), cut short when long. */
function _quote(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}…`;
}

/** Text squeezed onto one short line, without a final period. */
function _shorten(text: string): string {
  // deno-lint-ignore no-control-regex
  const line = text.replace(/[\s\u0000-\u001f\u007f]+/g, " ").trim().replace(/\.$/, "");
  return line.length <= MAX_QUOTED_CHARS ? line : `${line.slice(0, MAX_QUOTED_CHARS)}…`;
}

/** True for a JSON object: not null, not an array. */
function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a JSON value is, with its article: "an array", "null", "a number". */
function _kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "object":
      return "an object";
    case "undefined":
      return "missing";
    default:
      return `a ${typeof value}`;
  }
}
