import assert from "node:assert/strict";
import { join } from "node:path";
import { gguf as hfGguf, serializeGgufMetadata } from "@huggingface/gguf";
import { TINY_GGUF_METADATA } from "../../fixtures/testdata/make_testdata.ts";
import { generateFixture } from "../../fixtures/generate.ts";
import { withTempDir } from "../util/testing.ts";
import { assertParseFails } from "./_testing.ts";
import { bytesSource, fileSource } from "./format.ts";
import { dequantize, GGML_TYPES, ggmlByteLength, quantize } from "./ggml.ts";
import { encodeGguf, gguf, type GgufValue, readGgufMetadata } from "./gguf.ts";
import { openWeights } from "./weights.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;
const read = (name: string) => Deno.readFileSync(join(TESTDATA, name));

/** A typed value as plain JSON-like data, for comparing with @huggingface/gguf. */
function plain(value: GgufValue): unknown {
  return value.type === "ARRAY" ? value.value.map(plain) : value.value;
}

Deno.test("gguf: tiny.gguf lists its tensors with exact byte lengths and aligned offsets", () => {
  const bytes = read("tiny.gguf");
  const index = gguf.parse(bytesSource("tiny.gguf", bytes));
  assert.equal(index.format, "gguf");
  assert.equal(index.dataOffset % 64, 0, "general.alignment is 64");
  const byName = Object.fromEntries(index.tensors.map((t) => [t.name, t]));
  assert.deepEqual(
    Object.fromEntries(index.tensors.map((t) => [t.name, [t.dtype, t.shape, t.byteLength]])),
    {
      "token_embd.weight": ["Q8_0", [64, 2], 4 * 34],
      "blk.0.attn_q.weight": ["Q4_0", [64, 2], 4 * 18],
      "blk.0.attn_norm.weight": ["F32", [5], 20],
      "output.weight": ["F16", [3, 2], 12],
      "blk.0.ffn_down.weight": ["Q4_K", [256, 1], 144],
      "empty": ["BF16", [0, 4], 0],
    },
  );
  for (const t of index.tensors) assert.equal((t.offset - index.dataOffset) % 64, 0, t.name);
  const q8 = byName["token_embd.weight"]!;
  const values = dequantize("Q8_0", bytes.subarray(q8.offset, q8.offset + q8.byteLength), 128);
  assert.ok(values.every((v) => Math.abs(v) <= 2.02));
  assert.deepEqual(
    [
      index.metadata["general.architecture"],
      index.metadata["tokenizer.ggml.tokens"],
      index.metadata["gguf.version"],
    ],
    ["llama", "[4 × STRING]", "3"],
  );
});

Deno.test("gguf: every metadata value type reads back typed, arrays of strings and nested arrays too", () => {
  const { metadata, version, littleEndian } = readGgufMetadata(
    bytesSource("tiny.gguf", read("tiny.gguf")),
  );
  assert.deepEqual([version, littleEndian], [3, true]);
  assert.deepEqual([...metadata.entries()], TINY_GGUF_METADATA);
});

Deno.test("gguf: version 2 files read like version 3", () => {
  const index = gguf.parse(bytesSource("tiny-v2.gguf", read("tiny-v2.gguf")));
  assert.equal(index.metadata["gguf.version"], "2");
  assert.equal(index.tensors.length, 6);
});

Deno.test("gguf: @huggingface/gguf reads tiny.gguf as we do", async () => {
  const path = join(TESTDATA, "tiny.gguf");
  const theirs = await hfGguf(path, { allowLocalFile: true, typedMetadata: true });
  const ours = readGgufMetadata(bytesSource(path, read("tiny.gguf")));
  assert.equal(Number(theirs.tensorDataOffset), ours.index.dataOffset);
  const sorted = [...theirs.tensorInfos].sort((a, b) => Number(a.offset - b.offset));
  assert.deepEqual(
    sorted.map((
      t,
    ) => [
      t.name,
      t.shape.map(Number),
      GGML_TYPES.find((g) => g.id === t.dtype)?.name,
      Number(t.offset),
    ]),
    ours.index.tensors.map((t) => [t.name, t.shape, t.dtype, t.offset - ours.index.dataOffset]),
  );
  for (const [key, value] of ours.metadata) {
    assert.deepEqual(theirs.metadata[key as keyof typeof theirs.metadata], plain(value), key);
  }
});

Deno.test("gguf: a header written by @huggingface/gguf reads back", () => {
  const header = serializeGgufMetadata(
    {
      version: { value: 3, type: 4 },
      tensor_count: { value: 0n, type: 10 },
      kv_count: { value: 3n, type: 10 },
      "general.architecture": { value: "llama", type: 8 },
      "general.name": { value: "from huggingface.js", type: 8 },
      "tokenizer.ggml.scores": { value: [0.5, -1], type: 9, subType: 6 },
    } as unknown as Parameters<typeof serializeGgufMetadata>[0],
  );
  const { metadata } = readGgufMetadata(bytesSource("hf.gguf", header));
  assert.deepEqual(plain(metadata.get("tokenizer.ggml.scores")!), [0.5, -1]);
  assert.equal(metadata.get("general.name")?.value, "from huggingface.js");
});

Deno.test("gguf: generated fixtures (F16 and quantized) agree with @huggingface/gguf", async () => {
  await withTempDir(async (root) => {
    for (const dtype of ["F16", "Q8_0", "Q4_0"] as const) {
      const dir = join(root, dtype);
      await generateFixture({
        layout: "llama-3.2-1b",
        size: 2 << 20,
        dtype,
        shards: 1,
        format: "gguf",
      }, dir);
      const path = join(dir, "model.gguf");
      const theirs = await hfGguf(path, { allowLocalFile: true });
      using file = await Deno.open(path);
      const ours = gguf.parse(fileSource(path, file, (await file.stat()).size));
      assert.equal(theirs.tensorInfos.length, 146);
      assert.equal(Number(theirs.tensorDataOffset), ours.dataOffset);
      const types = new Set(ours.tensors.map((t) => t.dtype));
      assert.ok(
        dtype === "F16" ? types.size === 1 : types.has(dtype) && types.has("F32"),
        [...types].join(),
      );
      for (const t of theirs.tensorInfos) {
        const mine = ours.tensors.find((m) => m.name === t.name)!;
        assert.equal(mine.offset, ours.dataOffset + Number(t.offset));
        assert.equal(mine.byteLength, ggmlByteLength(mine.dtype, t.shape.map(Number)));
      }
      // The last tensor ends at the end of the file: nothing missing, nothing extra.
      const last = ours.tensors.at(-1)!;
      assert.equal(last.offset + last.byteLength, ours.size);
    }
  });
});

Deno.test("gguf: byte lengths follow each type's block size", () => {
  const expected: Record<string, [number, number]> = {
    F32: [1, 4],
    F16: [1, 2],
    BF16: [1, 2],
    Q4_0: [32, 18],
    Q4_1: [32, 20],
    Q5_0: [32, 22],
    Q5_1: [32, 24],
    Q8_0: [32, 34],
    Q8_1: [32, 40],
    Q2_K: [256, 84],
    Q3_K: [256, 110],
    Q4_K: [256, 144],
    Q5_K: [256, 176],
    Q6_K: [256, 210],
    Q8_K: [256, 292],
  };
  for (const [name, [block, size]] of Object.entries(expected)) {
    assert.equal(ggmlByteLength(name, [block * 3, 5, 2]), 3 * size * 10, name);
  }
  assert.throws(() => ggmlByteLength("Q4_K", [255]), /blocks of 256/);
});

Deno.test("gguf: Q8_0 and Q4_0 quantize as ggml's reference quantizers do", () => {
  // One block: 0, 1, …, 31 over 31 (max 1). Q8_0: d = 1/127, q = round(x·127).
  const x = Float32Array.from({ length: 32 }, (_, i) => i / 31);
  const q8 = quantize("Q8_0", x);
  const d8 = new DataView(q8.buffer).getUint16(0, true);
  assert.equal(d8, 0x2008); // fp16(1/127) = 0.007877
  assert.deepEqual([...new Int8Array(q8.buffer, 2, 4)], [0, 4, 8, 12]);
  assert.equal(new Int8Array(q8.buffer, 2, 32)[31], 127);
  // Q4_0: d = max / -8 = -0.125; x/d + 8.5 truncated, capped at 15, low nibbles first.
  const q4 = quantize("Q4_0", x);
  assert.equal(new DataView(q4.buffer).getUint16(0, true), 0xb000); // fp16(-0.125)
  assert.equal(q4[2], (8 & 0xf) | (Math.trunc((-16 / 31) / 0.125 + 8.5) << 4));
  assert.equal(q4[2 + 15]! >> 4, 0); // x = 1 → -8 + 8.5 → 0
  // Round trips: within half a step for Q8_0; Q4_0 clamps the far end of its range at 7 steps.
  for (const type of ["Q8_0", "Q4_0"] as const) {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 1.5);
    const back = dequantize(type, quantize(type, values), 64);
    const bound = type === "Q8_0" ? (1.5 / 127) * 0.51 : (1.5 / 8) * 1.1;
    values.forEach((v, i) => assert.ok(Math.abs(v - back[i]!) <= bound + 1e-3, `${type} ${i}`));
  }
  // A zero block quantizes to zeros.
  assert.ok(quantize("Q8_0", new Float32Array(32)).every((b) => b === 0));
});

Deno.test("gguf: sniff takes the magic only", () => {
  assert.ok(gguf.sniff(read("tiny.gguf").subarray(0, 64)));
  assert.ok(!gguf.sniff(read("tiny.safetensors").subarray(0, 64)));
  assert.ok(!gguf.sniff(new TextEncoder().encode("GGU")));
});

Deno.test("gguf: a big-endian file is refused by a load, and its metadata still reads", () => {
  // Swap every integer field of a tiny v3 header by hand.
  const le = encodeGguf({
    metadata: [["a", { type: "UINT32", value: 7 }]],
    tensors: [{ name: "w", type: "F32", ne: [2] }],
  });
  const be = new Uint8Array(le.dataOffset + 8);
  const v = new DataView(be.buffer);
  be.set(new TextEncoder().encode("GGUF"));
  let at = 4;
  const u32 = (n: number) => (v.setUint32(at, n, false), at += 4);
  const u64 = (n: number) => (v.setBigUint64(at, BigInt(n), false), at += 8);
  const str = (
    s: string,
  ) => (u64(s.length), be.set(new TextEncoder().encode(s), at), at += s.length);
  u32(3), u64(1), u64(1), str("a"), u32(4), u32(7), str("w"), u32(1), u64(2), u32(0), u64(0);
  // Its F32 elements are big-endian: copied as stored they would be garbage on this host.
  assertParseFails(
    gguf,
    be,
    /^big-endian GGUF \(written for s390x\): its tensors' bytes are big-endian, and loads copy bytes as stored; convert it to little-endian/,
    "be.gguf",
  );
  const { index, metadata, littleEndian } = readGgufMetadata(bytesSource("be.gguf", be));
  assert.equal(littleEndian, false);
  assert.equal(index.metadata["gguf.endianness"], "big");
  assert.deepEqual(metadata.get("a"), { type: "UINT32", value: 7 });
  assert.deepEqual(index.tensors.map((t) => [t.name, t.shape, t.byteLength]), [["w", [2], 8]]);
});

const BAD: [string, RegExp][] = [
  ["wrong-magic.gguf", /^wrong magic: expected "GGUF", found 0x47475547$/],
  ["version-1.gguf", /^GGUF version 1 is not supported/],
  ["truncated.gguf", /^tensor "v" \(16 bytes at data offset 32\) runs past the end of the file/],
  ["truncated-header.gguf", /^truncated: tensor #0 name length at byte \d+ needs 8 bytes/],
  ["tensor-count-lies.gguf", /^tensor count about 2\^62 exceeds what the file can hold/],
  [
    "string-length-lies.gguf",
    /^metadata "general.architecture": string of about 2\^60 bytes runs past the end/,
  ],
  [
    "dims-overflow.gguf",
    /^tensor "w": shape \[1099511627776\] of F32 needs 4398046511104 bytes, more than the file's/,
  ],
  [
    "offset-past-end.gguf",
    /^tensor "w" \(16 bytes at data offset 4096\) runs past the end of the file/,
  ],
  ["overlap.gguf", /^tensor "v" \(bytes \d+\.\.\d+\) overlaps tensor "w"/],
  ["unknown-type.gguf", /^tensor "w" has unknown GGML type 99$/],
];

for (const [name, detail] of BAD) {
  Deno.test(`gguf: bad/gguf/${name} fails with one line naming the problem`, async () => {
    const start = performance.now();
    assertParseFails(gguf, read(`bad/gguf/${name}`), detail, name);
    // Through openWeights too: the same line, naming the path, well within 2 s.
    await assert.rejects(() => openWeights(join(TESTDATA, "bad/gguf", name)), (error: Error) => {
      assert.match(error.message, new RegExp(`^Cannot read ".*${name}": `));
      return true;
    });
    assert.ok(performance.now() - start < 2000);
  });
}

Deno.test("gguf: lies in nested arrays and dimensions are refused before anything is allocated", () => {
  const header = (ne: number[], type = "F32") =>
    encodeGguf({ metadata: [], tensors: [{ name: "w", type, ne }] });
  // Dimensions whose product overflows 2^64.
  const big = header([2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40]);
  assertParseFails(
    gguf,
    big.bytes,
    /^tensor "w": shape \[1099511627776, .*\] of F32 needs more than 2\^128 bytes, more than the file/,
  );
  // Five dimensions.
  const five = encodeGguf({
    metadata: [],
    tensors: [{ name: "w", type: "F32", ne: [1, 1, 1, 1, 1] }],
  });
  assertParseFails(gguf, five.bytes, /has 5 dimensions, at most 4/);
  // A Q4_0 row that is not whole blocks.
  const row = encodeGguf({ metadata: [], tensors: [{ name: "w", type: "F32", ne: [31] }] });
  const rowBytes = row.bytes.slice();
  new DataView(rowBytes.buffer).setUint32(24 + 8 + 1 + 4 + 8, 2, true); // F32 → Q4_0
  assertParseFails(
    gguf,
    rowBytes,
    /^tensor "w": Q4_0 stores blocks of 32 elements but dimension 0 is 31$/,
  );
  // An array claiming 2^61 strings.
  const arr = encodeGguf({
    metadata: [["a", { type: "ARRAY", itemType: "STRING", value: [] }]],
    tensors: [],
  }).bytes.slice();
  new DataView(arr.buffer).setBigUint64(24 + 8 + 1 + 4 + 4, 1n << 61n, true);
  assertParseFails(gguf, arr, /^metadata "a": array of about 2\^61 STRING items runs past the end/);
  // Arrays nested deeper than the limit.
  let nested: GgufValue = { type: "ARRAY", itemType: "UINT8", value: [] };
  for (let i = 0; i < 20; i++) nested = { type: "ARRAY", itemType: "ARRAY", value: [nested] };
  const deep = encodeGguf({ metadata: [["deep", nested]], tensors: [] });
  assertParseFails(gguf, deep.bytes, /nested more than 16 deep/);
});
