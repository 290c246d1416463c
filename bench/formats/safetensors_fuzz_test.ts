/**
 * Mutation fuzzing of the safetensors parser: every mutant of a valid file
 * either parses to an index whose tensors lie inside the file or fails with a
 * one-line {@link WeightFileError}; nothing else escapes.
 *
 * Each iteration draws its mutations from its own generator, seeded by
 * `${FUZZ_SEED}:${iteration}`, so a failure names the one seed that replays it.
 */

import assert from "node:assert/strict";
import { WeightFileError } from "../util/errors.ts";
import { fillRandomWords, seededRandom } from "../util/random.ts";
import { bytesSource } from "./format.ts";
import {
  encodeSafetensorsHeader,
  MAX_HEADER_BYTES,
  safetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsTensorSpec,
} from "./safetensors.ts";

/** The seed every iteration's generator derives from. */
const FUZZ_SEED = "safetensors-fuzz-v1";

/** How many mutants to parse. */
const ITERATIONS = 5000;

/** How many tensors the valid file holds. */
const TENSOR_COUNT = 20;

/** The most mutations stacked on one mutant. */
const MAX_MUTATIONS = 3;

/** Characters that move a JSON parser into new states. */
const JSON_CHARS = '{}[]",:0123456789-.eE +tfnul\\_';

/** Numbers worth writing over a number in the header: edges of every check. */
const EDGE_NUMBERS = [
  "-1",
  "0",
  "1",
  "1.5",
  "-0",
  "1e400",
  "4294967296",
  "9007199254740991",
  "9007199254740992",
  "18446744073709551616",
  "1099511627776",
  "[]",
  "null",
  '"7"',
];

/** The fields of a tensor entry. */
const ENTRY_FIELDS = ["dtype", "shape", "data_offsets"];

/** JSON values of every type, for fields that expect another. */
const EDGE_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  2.5,
  "F16",
  "",
  "__proto__",
  [],
  [0],
  [0, 4],
  ["0", "4"],
  [null, 4],
  {},
  { 0: 0, 1: 4 },
];

/** How many different checks the mutants must trip, so the mutations keep reaching deep. */
const MIN_CHECKS = 20;

type Random = () => number;

/** The valid file every mutant starts from: mixed dtypes, an empty tensor, a scalar. */
function validFile(): Uint8Array {
  const random = seededRandom(`${FUZZ_SEED}:file`);
  const dtypes = Object.keys(SAFETENSORS_DTYPES);
  const tensors: SafetensorsTensorSpec[] = Array.from({ length: TENSOR_COUNT }, (_, i) => ({
    name: `model.layers.${i}.${i % 2 ? "mlp" : "attn"}.weight`,
    dtype: dtypes[i % dtypes.length]!,
    shape: i === 3 ? [] : i === 7 ? [4, 0] : [1 + Math.floor(random() * 5), 1 + (i % 3)],
  }));
  const header = encodeSafetensorsHeader(tensors, { format: "pt", source: "fuzz" });
  const dataLength = header.ranges.at(-1)!.end;
  const words = new Uint32Array(Math.ceil(dataLength / 4));
  fillRandomWords(words, 1);
  const file = new Uint8Array(header.dataOffset + dataLength);
  file.set(header.bytes);
  file.set(new Uint8Array(words.buffer, 0, dataLength), header.dataOffset);
  return file;
}

function int(random: Random, below: number): number {
  return Math.floor(random() * below);
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[int(random, items.length)]!;
}

/** The header's end according to the file's own length field, clamped to the file. */
function headerEnd(file: Uint8Array): number {
  if (file.length < 8) return file.length;
  const claimed = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  return claimed + 8n > BigInt(file.length) ? file.length : 8 + Number(claimed);
}

/** A position inside the header (past the length field), or anywhere for tiny files. */
function headerPosition(random: Random, file: Uint8Array): number {
  const end = headerEnd(file);
  return end > 8 ? 8 + int(random, end - 8) : int(random, Math.max(file.length, 1));
}

function setLength(file: Uint8Array, length: bigint): void {
  if (file.length >= 8) {
    new DataView(file.buffer, file.byteOffset, 8).setBigUint64(0, BigInt.asUintN(64, length), true);
  }
}

/** Adds `delta` to the length field, as a writer that resized the header would. */
function shiftLength(file: Uint8Array, delta: number): void {
  if (file.length < 8) return;
  const view = new DataView(file.buffer, file.byteOffset, 8);
  setLength(file, view.getBigUint64(0, true) + BigInt(delta));
}

/** Named mutations; each returns the mutant (a new array when the length changes). */
const MUTATIONS: Record<string, (random: Random, file: Uint8Array) => Uint8Array> = {
  flipBit(random, file) {
    const at = random() < 0.8 ? headerPosition(random, file) : int(random, file.length);
    file[at] = file[at]! ^ (1 << int(random, 8));
    return file;
  },
  overwriteByte(random, file) {
    const at = headerPosition(random, file);
    file[at] = random() < 0.5
      ? int(random, 256)
      : JSON_CHARS.charCodeAt(int(random, JSON_CHARS.length));
    return file;
  },
  truncate(random, file) {
    return file.slice(0, int(random, file.length + 1));
  },
  headerLength(random, file) {
    const size = BigInt(file.length);
    const choices: bigint[] = [
      0n,
      1n,
      2n,
      size - 8n,
      size - 7n,
      size - 9n,
      BigInt(MAX_HEADER_BYTES),
      BigInt(MAX_HEADER_BYTES) + 1n,
      9_000_000_000_000_000n,
      2n ** 63n,
      2n ** 64n - 1n,
      2n ** 64n - size + 1n, // 8 + N wraps in 64 bits
      BigInt(int(random, 2 ** 32)) << BigInt(int(random, 33)),
      BigInt(int(random, file.length)),
    ];
    setLength(file, pick(random, choices));
    return file;
  },
  insertBytes(random, file) {
    const at = headerPosition(random, file);
    const count = 1 + int(random, 16);
    const inserted = Uint8Array.from(
      { length: count },
      () =>
        random() < 0.5 ? int(random, 256) : JSON_CHARS.charCodeAt(int(random, JSON_CHARS.length)),
    );
    const out = new Uint8Array(file.length + count);
    out.set(file.subarray(0, at));
    out.set(inserted, at);
    out.set(file.subarray(at), at + count);
    if (random() < 0.5 && at >= 8) shiftLength(out, count);
    return out;
  },
  deleteBytes(random, file) {
    const at = headerPosition(random, file);
    const count = Math.min(1 + int(random, 16), file.length - at);
    const out = new Uint8Array(file.length - count);
    out.set(file.subarray(0, at));
    out.set(file.subarray(at + count), at);
    if (random() < 0.5 && at >= 8) shiftLength(out, -count);
    return out;
  },
  swapChars(random, file) {
    const a = headerPosition(random, file);
    const b = random() < 0.5 ? Math.min(a + 1, file.length - 1) : headerPosition(random, file);
    if (a < file.length && b >= 0) [file[a], file[b]] = [file[b]!, file[a]!];
    return file;
  },
  /** Writes an edge-case number over a number in the header, keeping the rest intact. */
  replaceNumber(random, file) {
    const end = headerEnd(file);
    if (end <= 8) return file;
    const text = new TextDecoder().decode(file.subarray(8, end));
    const numbers = [...text.matchAll(/\d+/g)];
    if (numbers.length === 0) return file;
    const match = pick(random, numbers);
    const replaced = text.slice(0, match.index) + pick(random, EDGE_NUMBERS) +
      text.slice(match.index + match[0].length);
    return withHeader(file, end, replaced);
  },
  /**
   * Edits one entry of a header that still parses, keeping it valid JSON, to
   * reach the checks past the JSON parser: overlaps, holes, sizes, metadata.
   */
  editEntry(random, file) {
    const end = headerEnd(file);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder().decode(file.subarray(8, end)));
    } catch {
      return file;
    }
    if (!isObject(header)) return file;
    const names = Object.keys(header).filter((name) => name !== "__metadata__");
    const item = names.length > 0 ? header[pick(random, names)] : undefined;
    const other = names.length > 0 ? header[pick(random, names)] : undefined;
    const offsets = isObject(item) && Array.isArray(item.data_offsets) ? item.data_offsets : [];
    const shape = isObject(item) && Array.isArray(item.shape) ? item.shape : [];
    const delta = int(random, 17) - 8;
    switch (int(random, 8)) {
      case 0: // move the tensor's bytes, keeping their length
        offsets.forEach((value, i) =>
          offsets[i] = typeof value === "number" ? value + delta : value
        );
        break;
      case 1: // move one end only
        offsets[int(random, 2)] += delta;
        break;
      case 2: // take another tensor's bytes
        if (isObject(item) && isObject(other)) item.data_offsets = other.data_offsets;
        break;
      case 3: // another dtype
        if (isObject(item)) item.dtype = pick(random, Object.keys(SAFETENSORS_DTYPES));
        break;
      case 4: // one dimension more or less
        if (random() < 0.5) shape.push(int(random, 3));
        else shape.pop();
        break;
      case 5: // a field of the wrong type
        if (isObject(item)) item[pick(random, ENTRY_FIELDS)] = pick(random, EDGE_VALUES);
        break;
      case 6: // an entry of the wrong type
        if (names.length > 0) header[pick(random, names)] = pick(random, EDGE_VALUES);
        break;
      default:
        header["__metadata__"] = pick(random, [{ epoch: 3 }, ["pt"], "pt", null, { a: "b" }]);
    }
    return withHeader(file, end, JSON.stringify(header));
  },
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The file with its header (ending at `end`) replaced by `text` and the length field to match. */
function withHeader(file: Uint8Array, end: number, text: string): Uint8Array {
  const header = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + header.length + (file.length - end));
  out.set(header, 8);
  out.set(file.subarray(end), 8 + header.length);
  setLength(out, BigInt(header.length));
  return out;
}

const MUTATION_NAMES = Object.keys(MUTATIONS);

Deno.test("safetensors fuzz: mutants parse inside the file or fail with a WeightFileError", () => {
  const original = validFile();
  const valid = safetensors.parse(bytesSource("fuzz.safetensors", original));
  assert.equal(valid.tensors.length, TENSOR_COUNT);

  let parsed = 0;
  const checks = new Set<string>();
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const seed = `${FUZZ_SEED}:${iteration}`;
    const random = seededRandom(seed);
    let file: Uint8Array = original.slice();
    const applied: string[] = [];
    const count = 1 + int(random, MAX_MUTATIONS);
    for (let i = 0; i < count; i++) {
      const name = pick(random, MUTATION_NAMES);
      applied.push(name);
      file = MUTATIONS[name]!(random, file);
    }
    const where = `seed "${seed}" (iteration ${iteration}, mutations ${applied.join(", ")})`;

    let index;
    try {
      index = safetensors.parse(bytesSource("fuzz.safetensors", file));
    } catch (error) {
      if (!(error instanceof WeightFileError)) {
        throw new Error(`Fuzz failure at ${where}: parse threw ${error}`, { cause: error });
      }
      assert.ok(!error.message.includes("\n"), `multi-line message at ${where}: ${error.message}`);
      checks.add(_check(error.message));
      continue;
    }
    parsed++;
    assert.equal(index.size, file.length, where);
    for (const tensor of index.tensors) {
      assert.ok(
        Number.isSafeInteger(tensor.offset) && Number.isSafeInteger(tensor.byteLength) &&
          tensor.offset >= index.dataOffset && tensor.byteLength >= 0 &&
          tensor.offset + tensor.byteLength <= file.length,
        `tensor ${JSON.stringify(tensor.name)} outside the file at ${where}`,
      );
    }
  }
  // The mutants reach both outcomes and many different checks.
  assert.ok(parsed > 0, "no mutant parsed");
  assert.ok(parsed < ITERATIONS, "every mutant parsed");
  assert.ok(
    checks.size >= MIN_CHECKS,
    `only ${checks.size} checks failed: ${[...checks].join(" | ")}`,
  );
});

/** Which check an error message comes from: its text without names, numbers and parser detail. */
function _check(message: string): string {
  return message
    .replace(/valid JSON: .*/, "valid JSON")
    .replace(/"(?:[^"\\]|\\.)*"…?/g, "s")
    .replace(/\[[^\]]*\]/g, "[]")
    .replace(/\b[A-Z]+\d*(?:_\w+)?\b/g, "T")
    .replace(/-?\d+(?:\.\d+)?|Infinity|null/g, "N")
    .slice(0, 70);
}
