import assert from "node:assert/strict";
import { WeightFileError } from "../util/errors.ts";
import { fillRandomWords, seededRandom } from "../util/random.ts";
import { type ByteSource, bytesSource, fileSource, type WeightFileIndex } from "./format.ts";
import {
  encodeSafetensorsHeader,
  MAX_HEADER_BYTES,
  safetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsTensorSpec,
} from "./safetensors.ts";

const FILE = "model.safetensors";
const PREFIX = `Cannot read "${FILE}": `;

/** A file made of a header length (the header's own unless `claimed`), the header and `dataLength` zero bytes. */
function rawFile(header: string | Uint8Array, dataLength = 0, claimed?: bigint): Uint8Array {
  const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const bytes = new Uint8Array(8 + json.length + dataLength);
  new DataView(bytes.buffer).setBigUint64(0, claimed ?? BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

/** A file whose header is `entries` as JSON. */
function jsonFile(entries: Record<string, unknown>, dataLength: number): Uint8Array {
  return rawFile(JSON.stringify(entries), dataLength);
}

/** One tensor entry as the header spells it. */
function entry(dtype: string, shape: unknown, offsets: unknown): Record<string, unknown> {
  return { dtype, shape, data_offsets: offsets };
}

function parse(input: Uint8Array | ByteSource): WeightFileIndex {
  return safetensors.parse(input instanceof Uint8Array ? bytesSource(FILE, input) : input);
}

/** Parses and asserts a one-line WeightFileError naming the file whose detail is `detail` (exactly, or matching it). */
function assertRejects(input: Uint8Array | ByteSource, detail: string | RegExp): WeightFileError {
  let caught: unknown;
  try {
    parse(input);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WeightFileError, `expected a WeightFileError, got ${caught}`);
  assert.equal(caught.file, FILE);
  assert.ok(caught.message.startsWith(PREFIX), caught.message);
  assert.ok(!caught.message.includes("\n"), `message spans lines: ${caught.message}`);
  const actual = caught.message.slice(PREFIX.length);
  if (typeof detail === "string") assert.equal(actual, detail);
  else assert.match(actual, detail);
  return caught;
}

/** Deterministic bytes for one tensor. */
function tensorBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  fillRandomWords(words, seed);
  return new Uint8Array(words.buffer, 0, length);
}

// ---------------------------------------------------------------------------
// Round trip

const ROUND_TRIP_TENSORS: SafetensorsTensorSpec[] = [
  ...Object.keys(SAFETENSORS_DTYPES).map((dtype, i) => ({
    name: `layers.${i}.${dtype.toLowerCase()}.weight`,
    dtype,
    shape: [i + 1, 3],
  })),
  { name: "empty.bias", dtype: "F32", shape: [4, 0] },
  { name: "step", dtype: "I64", shape: [] },
  { name: "12", dtype: "U8", shape: [5] }, // an integer-like name keeps its place
  { name: 'odd "name" ✓', dtype: "BF16", shape: [1, 1, 2] },
];
const ROUND_TRIP_METADATA = { format: "pt", note: "round trip ✓" };

/** The round-trip file and the bytes written for each tensor. */
function roundTripFile(): { file: Uint8Array; data: Map<string, Uint8Array> } {
  const header = encodeSafetensorsHeader(ROUND_TRIP_TENSORS, ROUND_TRIP_METADATA);
  const dataLength = header.ranges.at(-1)!.end;
  const file = new Uint8Array(header.dataOffset + dataLength);
  file.set(header.bytes);
  const data = new Map<string, Uint8Array>();
  header.ranges.forEach(({ name, begin, end }, i) => {
    const bytes = tensorBytes(end - begin, i + 1);
    file.set(bytes, header.dataOffset + begin);
    data.set(name, bytes);
  });
  return { file, data };
}

/** Checks an index of the round-trip file against what was written. */
function checkRoundTrip(
  index: WeightFileIndex,
  source: ByteSource,
  size: number,
  data: Map<string, Uint8Array>,
): void {
  assert.equal(index.format, "safetensors");
  assert.equal(index.path, source.name);
  assert.equal(index.size, size);
  assert.equal(index.dataOffset % 8, 0);
  assert.deepEqual(index.metadata, ROUND_TRIP_METADATA);
  // Written back to back in order, so offset order is the order given.
  assert.deepEqual(index.tensors.map((t) => t.name), ROUND_TRIP_TENSORS.map((t) => t.name));
  let offset = index.dataOffset;
  index.tensors.forEach((tensor, i) => {
    const spec = ROUND_TRIP_TENSORS[i]!;
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    assert.equal(tensor.dtype, spec.dtype);
    assert.deepEqual(tensor.shape, spec.shape);
    assert.equal(tensor.offset, offset, tensor.name);
    assert.equal(tensor.byteLength, elements * SAFETENSORS_DTYPES[spec.dtype]!, tensor.name);
    assert.deepEqual(source.read(tensor.offset, tensor.byteLength), data.get(tensor.name));
    offset += tensor.byteLength;
  });
  assert.equal(offset, size);
  const scalar = index.tensors.find((t) => t.name === "step")!;
  assert.deepEqual([scalar.shape, scalar.byteLength], [[], 8]);
  assert.equal(index.tensors.find((t) => t.name === "empty.bias")!.byteLength, 0);
}

Deno.test("safetensors: a written header parses back from memory", () => {
  const { file, data } = roundTripFile();
  const source = bytesSource(FILE, file);
  checkRoundTrip(safetensors.parse(source), source, file.length, data);
});

Deno.test("safetensors: a written file parses back through positioned reads", async () => {
  const { file, data } = roundTripFile();
  const dir = await Deno.makeTempDir({ prefix: "weightbench-safetensors-" });
  try {
    const path = `${dir}/${FILE}`;
    await Deno.writeFile(path, file);
    using handle = await Deno.open(path);
    const { size } = await handle.stat();
    assert.equal(size, file.length);
    const source = fileSource(path, handle, size);
    const index = safetensors.parse(source);
    checkRoundTrip(index, source, size, data);
    assert.deepEqual(
      { ...index, path: FILE },
      { ...safetensors.parse(bytesSource(FILE, file)), path: FILE },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: tensors come back in offset order whatever the header's order", () => {
  const index = parse(jsonFile({
    c: entry("F32", [2], [8, 16]),
    a: entry("U8", [4], [0, 4]),
    b: entry("F16", [2], [4, 8]),
  }, 16));
  assert.deepEqual(index.tensors.map((t) => [t.name, t.offset - index.dataOffset]), [
    ["a", 0],
    ["b", 4],
    ["c", 8],
  ]);
});

Deno.test("safetensors: empty tensors may share an offset with their neighbours", () => {
  const index = parse(jsonFile({
    a: entry("F32", [1], [0, 4]),
    e1: entry("F16", [0], [4, 4]),
    e2: entry("F16", [3, 0, 7], [4, 4]),
    b: entry("F32", [1], [4, 8]),
    first: entry("U8", [0], [0, 0]),
    last: entry("U8", [0], [8, 8]),
  }, 8));
  assert.deepEqual(index.tensors.map((t) => t.name), ["first", "a", "e1", "e2", "b", "last"]);
  assert.deepEqual(index.tensors.map((t) => t.byteLength), [0, 4, 0, 0, 4, 0]);
});

Deno.test("safetensors: a zero dimension makes a tensor empty however large the others", () => {
  const index = parse(jsonFile({ w: entry("F64", [2 ** 52, 0, 2 ** 52], [0, 0]) }, 0));
  assert.equal(index.tensors[0]!.byteLength, 0);
});

Deno.test("safetensors: a header that names no tensor is refused: a load would time nothing", () => {
  assertRejects(rawFile("{}"), "no tensors: searched the 2-byte JSON header");
  assertRejects(
    rawFile('{"__metadata__":{"format":"pt"}}'),
    "no tensors: searched the 32-byte JSON header",
  );
});

Deno.test("safetensors: unknown fields in a tensor entry are ignored", () => {
  const index = parse(jsonFile({ w: { ...entry("F16", [2], [0, 4]), quant: { bits: 4 } } }, 4));
  assert.deepEqual(index.tensors[0]!.shape, [2]);
});

Deno.test("safetensors: a __proto__ metadata key stays an ordinary entry", () => {
  const index = parse(
    jsonFile({ __metadata__: { ["__proto__"]: "x", a: "b" }, w: entry("U8", [1], [0, 1]) }, 1),
  );
  assert.equal(Object.getPrototypeOf(index.metadata), Object.prototype);
  assert.deepEqual(Object.entries(index.metadata), [["__proto__", "x"], ["a", "b"]]);
});

// ---------------------------------------------------------------------------
// Writer

Deno.test("safetensors: the writer pads the header with spaces to a multiple of 8", () => {
  for (let length = 1; length <= 16; length++) {
    const { bytes, dataOffset, ranges } = encodeSafetensorsHeader([
      { name: "x".repeat(length), dtype: "U8", shape: [3] },
    ]);
    assert.equal(bytes.length, dataOffset);
    assert.equal(dataOffset % 8, 0);
    const claimed = new DataView(bytes.buffer).getBigUint64(0, true);
    assert.equal(claimed, BigInt(dataOffset - 8));
    const json = new TextDecoder().decode(bytes.subarray(8));
    assert.ok(json.trimEnd().endsWith("}"));
    assert.ok(json.length - json.trimEnd().length < 8);
    assert.match(json.slice(json.trimEnd().length), /^ *$/);
    assert.deepEqual(JSON.parse(json), {
      ["x".repeat(length)]: { dtype: "U8", shape: [3], data_offsets: [0, 3] },
    });
    assert.deepEqual(ranges, [{ name: "x".repeat(length), begin: 0, end: 3 }]);
  }
});

Deno.test("safetensors: the writer lays tensors out back to back in the order given", () => {
  const { ranges } = encodeSafetensorsHeader([
    { name: "b", dtype: "F32", shape: [2, 2] },
    { name: "10", dtype: "BOOL", shape: [3] },
    { name: "a", dtype: "F16", shape: [0] },
    { name: "2", dtype: "F8_E5M2", shape: [] },
  ]);
  assert.deepEqual(ranges, [
    { name: "b", begin: 0, end: 16 },
    { name: "10", begin: 16, end: 19 },
    { name: "a", begin: 19, end: 19 },
    { name: "2", begin: 19, end: 20 },
  ]);
});

Deno.test("safetensors: the writer writes metadata first and without it an empty header", () => {
  const withMetadata = encodeSafetensorsHeader([{ name: "w", dtype: "U8", shape: [1] }], {
    z: "1",
  });
  assert.match(new TextDecoder().decode(withMetadata.bytes.subarray(8)), /^\{"__metadata__":/);
  const empty = encodeSafetensorsHeader([]);
  assert.equal(new TextDecoder().decode(empty.bytes.subarray(8)), "{}      ");
  assertRejects(empty.bytes, /^no tensors: searched the 8-byte JSON header$/);
});

Deno.test("safetensors: the writer throws a plain Error for what it cannot encode", () => {
  const cases: [SafetensorsTensorSpec[], RegExp][] = [
    [[{ name: "w", dtype: "F61", shape: [1] }], /^Cannot encode tensor "w": unknown dtype "F61"$/],
    [[{ name: "w", dtype: "F16", shape: [-1] }], /shape dimension -1/],
    [[{ name: "w", dtype: "F16", shape: [2 ** 40, 2 ** 40] }], /too large/],
    [[{ name: "__metadata__", dtype: "U8", shape: [1] }], /reserved/],
    [[{ name: "w", dtype: "U8", shape: [1] }, { name: "w", dtype: "U8", shape: [1] }], /twice/],
  ];
  for (const [tensors, message] of cases) {
    assert.throws(() => encodeSafetensorsHeader(tensors), (error: unknown) => {
      assert.ok(error instanceof Error && !(error instanceof WeightFileError));
      assert.match(error.message, message);
      return true;
    });
  }
});

// ---------------------------------------------------------------------------
// Sniffing

Deno.test("safetensors: sniff accepts the head of a written file", () => {
  const { file } = roundTripFile();
  assert.ok(safetensors.sniff(file.subarray(0, 64)));
  assert.ok(safetensors.sniff(file.subarray(0, 9)));
  assert.ok(safetensors.sniff(rawFile("{}")));
});

Deno.test("safetensors: sniff rejects random bytes, GGUF and short input", () => {
  const random = seededRandom("safetensors-sniff");
  for (let i = 0; i < 100; i++) {
    const head = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
    assert.ok(!safetensors.sniff(head), `random head ${head.join()}`);
  }
  const gguf = new Uint8Array(64);
  gguf.set(new TextEncoder().encode("GGUF"));
  gguf[4] = 3; // version 3
  assert.ok(!safetensors.sniff(gguf));
  assert.ok(!safetensors.sniff(new Uint8Array()));
  assert.ok(!safetensors.sniff(rawFile("{}").subarray(0, 8)));
  assert.ok(!safetensors.sniff(rawFile("{")), "header length 1");
  assert.ok(!safetensors.sniff(rawFile("[]")), "byte 8 is not {");
  assert.ok(!safetensors.sniff(rawFile(" {}")), "byte 8 is a space");
  assert.ok(!safetensors.sniff(rawFile("{}", 0, BigInt(MAX_HEADER_BYTES + 1))), "over the limit");
});

// ---------------------------------------------------------------------------
// Malformed files: the header length

Deno.test("safetensors: rejects a 7-byte file", () => {
  assertRejects(
    new Uint8Array(7),
    "truncated: 7 bytes, a safetensors file starts with an 8-byte header length",
  );
});

Deno.test("safetensors: rejects a header length of 9e15 naming it and the file size", () => {
  assertRejects(
    rawFile("{}", 1048576 - 10, 9_000_000_000_000_000n),
    /^header length 9000000000000000 exceeds file size 1048576 /,
  );
});

Deno.test("safetensors: rejects the largest u64 header length without overflowing", () => {
  assertRejects(
    rawFile("{}", 0, 2n ** 64n - 1n),
    /^header length 18446744073709551615 exceeds file size 10 /,
  );
});

Deno.test("safetensors: rejects a header length past the end by 1", () => {
  assertRejects(
    rawFile("{}", 0, 3n),
    "header length 3 exceeds file size 10 (the header would end at byte 11)",
  );
});

Deno.test("safetensors: rejects a header length over the 100 MB limit before reading it", () => {
  const claimed = MAX_HEADER_BYTES + 1;
  const head = rawFile("", 0, BigInt(claimed));
  const reads: [number, number][] = [];
  // A file large enough to hold the header, of which only the length exists.
  const source: ByteSource = {
    name: FILE,
    size: 2 ** 40,
    read(offset, length) {
      reads.push([offset, length]);
      if (offset + length > head.length) throw new Error("read past the length field");
      return head.subarray(offset, offset + length);
    },
  };
  assertRejects(source, `header length ${claimed} exceeds the limit of 100000000 bytes`);
  assert.deepEqual(reads, [[0, 8]]);
});

// ---------------------------------------------------------------------------
// Malformed files: the header's JSON

Deno.test("safetensors: rejects a header that is not UTF-8", () => {
  const error = assertRejects(
    rawFile(new Uint8Array([0x7b, 0xff, 0x7d])),
    "header is not valid UTF-8",
  );
  assert.ok(error.cause instanceof TypeError);
});

Deno.test("safetensors: rejects a header that is not JSON, quoting the parser", () => {
  const error = assertRejects(rawFile('{"w": nope}'), /^header is not valid JSON: \S.*[^.]$/);
  assert.ok(error.cause instanceof SyntaxError);
});

Deno.test("safetensors: rejects a header the parser quotes over lines, on one line", () => {
  assertRejects(rawFile(`{"w":\n\n${"x".repeat(500)}\n}`), /^header is not valid JSON: .{1,130}$/);
});

Deno.test("safetensors: rejects a JSON array at the top level", () => {
  assertRejects(rawFile("[]"), "header is an array, expected a JSON object");
  assertRejects(rawFile("null"), "header is null, expected a JSON object");
});

Deno.test("safetensors: rejects metadata with a number value", () => {
  assertRejects(
    rawFile('{"__metadata__":{"format":"pt","epoch":3}}'),
    '__metadata__ value for "epoch" is a number, expected a string',
  );
});

Deno.test("safetensors: rejects metadata that is not an object", () => {
  assertRejects(
    rawFile('{"__metadata__":["pt"]}'),
    "__metadata__ is an array, expected an object of strings",
  );
});

// ---------------------------------------------------------------------------
// Malformed files: tensor entries

Deno.test("safetensors: rejects an entry that is not an object", () => {
  assertRejects(jsonFile({ w: [0, 4] }, 4), 'tensor "w": entry is an array, expected an object');
  assertRejects(jsonFile({ w: "F16" }, 4), 'tensor "w": entry is a string, expected an object');
});

Deno.test("safetensors: rejects an entry missing a field", () => {
  assertRejects(
    jsonFile({ w: { shape: [1], data_offsets: [0, 1] } }, 1),
    'tensor "w": missing "dtype"',
  );
  assertRejects(
    jsonFile({ w: { dtype: "U8", data_offsets: [0, 1] } }, 1),
    'tensor "w": missing "shape"',
  );
  assertRejects(
    jsonFile({ w: { dtype: "U8", shape: [1] } }, 1),
    'tensor "w": missing "data_offsets"',
  );
  assertRejects(
    jsonFile({ w: entry("U8", { 0: 1 }, [0, 1]) }, 1),
    'tensor "w": shape is an object, expected an array',
  );
  assertRejects(
    jsonFile({ w: { dtype: 16, shape: [1], data_offsets: [0, 1] } }, 1),
    'tensor "w": dtype is a number, expected a string',
  );
});

Deno.test("safetensors: rejects an unknown dtype, suggesting a near one", () => {
  assertRejects(
    jsonFile({ w: entry("F61", [2], [0, 4]) }, 4),
    'tensor "w": unknown dtype "F61" (did you mean "F16"?)',
  );
  assertRejects(
    jsonFile({ w: entry("bf16", [2], [0, 4]) }, 4),
    'tensor "w": unknown dtype "bf16" (did you mean "BF16"?)',
  );
  assertRejects(
    jsonFile({ w: entry("COMPLEX128", [2], [0, 4]) }, 4),
    'tensor "w": unknown dtype "COMPLEX128"',
  );
  // Names on Object.prototype are not dtypes.
  assertRejects(
    jsonFile({ w: entry("constructor", [2], [0, 4]) }, 4),
    'tensor "w": unknown dtype "constructor"',
  );
});

Deno.test("safetensors: rejects a shape with -1", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [2, -1], [0, 4]) }, 4),
    'tensor "w": shape[1] is -1, expected a non-negative integer',
  );
});

Deno.test("safetensors: rejects a shape with 1.5", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [1.5], [0, 3]) }, 3),
    'tensor "w": shape[0] is 1.5, expected a non-negative integer',
  );
  assertRejects(
    rawFile('{"w":{"dtype":"F16","shape":[1e400],"data_offsets":[0,2]}}', 2),
    'tensor "w": shape[0] is Infinity, expected a non-negative integer',
  );
  assertRejects(
    jsonFile({ w: entry("F16", ["2"], [0, 4]) }, 4),
    'tensor "w": shape[0] is "2", expected a non-negative integer',
  );
});

Deno.test("safetensors: rejects a shape whose product overflows, with the exact size", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [2 ** 40, 2 ** 40], [0, 8]) }, 8),
    'tensor "w": shape [1099511627776, 1099511627776] of F16 needs 2417851639229258349412352 bytes but data_offsets span 8',
  );
  assertRejects(
    jsonFile({ w: entry("F64", [2 ** 50, 2 ** 50, 2 ** 50, 2 ** 50], [0, 8]) }, 8),
    /needs more than 2\^128 bytes but data_offsets span 8$/,
  );
  // Just past 2^53: a number product would round, BigInt does not.
  assertRejects(
    jsonFile({ w: entry("U8", [2 ** 53 - 1, 2], [0, 8]) }, 8),
    /needs 18014398509481982 bytes/,
  );
});

Deno.test("safetensors: rejects data_offsets with 3 items", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [2], [0, 2, 4]) }, 4),
    'tensor "w": data_offsets is an array of 3, expected two integers [begin, end]',
  );
  assertRejects(
    jsonFile({ w: entry("F16", [2], [0, -4]) }, 4),
    'tensor "w": data_offsets[1] is -4, expected a non-negative integer',
  );
  assertRejects(
    jsonFile({ w: entry("F16", [2], [0, 2 ** 53]) }, 4),
    'tensor "w": data_offsets[1] is 9007199254740992, expected a non-negative integer',
  );
});

Deno.test("safetensors: rejects data_offsets that begin after they end", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [2], [8, 4]) }, 8),
    'tensor "w": data_offsets [8, 4] end before they begin',
  );
});

Deno.test("safetensors: rejects data_offsets past the data section", () => {
  assertRejects(
    jsonFile({ w: entry("F32", [2], [0, 8]) }, 4),
    'tensor "w": data_offsets [0, 8] run past the data section (4 bytes)',
  );
});

Deno.test("safetensors: rejects a shape whose size is not the span of its data_offsets", () => {
  assertRejects(
    jsonFile({ w: entry("F16", [2, 3], [0, 10]) }, 10),
    'tensor "w": shape [2, 3] of F16 needs 12 bytes but data_offsets span 10',
  );
});

Deno.test("safetensors: rejects overlapping tensors, naming both", () => {
  assertRejects(
    jsonFile({ a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }, 12),
    'tensor "b" (data_offsets [4, 12]) overlaps tensor "a" (data_offsets [0, 8])',
  );
  // An empty tensor inside another's bytes overlaps it too, as in the reference.
  assertRejects(
    jsonFile({ a: entry("F32", [2], [0, 8]), e: entry("F32", [0], [4, 4]) }, 8),
    'tensor "e" (data_offsets [4, 4]) overlaps tensor "a" (data_offsets [0, 8])',
  );
});

Deno.test("safetensors: rejects a hole between tensors, naming both", () => {
  assertRejects(
    jsonFile({ a: entry("F32", [1], [0, 4]), b: entry("F32", [1], [8, 12]) }, 12),
    'hole in the data section: bytes 4..8 between tensor "a" and tensor "b" belong to no tensor',
  );
  assertRejects(
    jsonFile({ b: entry("F32", [1], [4, 8]) }, 8),
    'hole in the data section: bytes 0..4 before tensor "b" belong to no tensor',
  );
});

Deno.test("safetensors: rejects trailing bytes no tensor indexes", () => {
  assertRejects(
    jsonFile({ a: entry("F32", [1], [0, 4]) }, 6),
    'data section has 2 trailing bytes after tensor "a": bytes 4..6 belong to no tensor',
  );
  assertRejects(
    rawFile("{}", 3),
    "data section has 3 trailing bytes and no tensors: bytes 0..3 belong to no tensor",
  );
});

Deno.test("safetensors: quotes a hostile tensor name on one short line", () => {
  const name = `evil\nname"${"x".repeat(1000)}`;
  const error = assertRejects(
    jsonFile({ [name]: entry("F61", [1], [0, 2]) }, 2),
    /^tensor "evil\\nname\\"x+"…: unknown dtype "F61"/,
  );
  assert.ok(error.message.length < 300);
});
