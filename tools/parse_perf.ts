/**
 * How fast the format readers open an index, for the figures in the issue
 * notes: the 723-tensor Llama-3-70B layout in safetensors and GGUF (first
 * call and warm, from memory as strategies parse and through positioned
 * reads as `openWeights` does; GGUF also with a Llama 3 sized tokenizer in
 * its metadata), and a PyTorch checkpoint's index against `torch.load` in
 * Debian's Python on the same file.
 *
 *     deno run --allow-read --allow-write --allow-run --allow-env tools/parse_perf.ts
 *
 * @module
 */

import { join } from "node:path";
import { generateFixture } from "../fixtures/generate.ts";
import {
  type ByteSource,
  bytesSource,
  fileSource,
  type WeightFormat,
} from "../bench/formats/format.ts";
import { encodeGguf, gguf, type GgufValue } from "../bench/formats/gguf.ts";
import { pytorch } from "../bench/formats/pytorch.ts";
import { safetensors } from "../bench/formats/safetensors.ts";
import { PYTHON, pythonSkipReason, runPython } from "../bench/formats/_testing.ts";

const WARM_RUNS = 200;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** First-call and warm-median parse time of `source` in ms. */
function time(
  format: WeightFormat,
  source: () => ByteSource,
): { first: number; warm: number; tensors: number } {
  let start = performance.now();
  const index = format.parse(source());
  const first = performance.now() - start;
  const runs: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    const s = source();
    start = performance.now();
    format.parse(s);
    runs.push(performance.now() - start);
  }
  return { first, warm: median(runs), tensors: index.tensors.length };
}

async function fileTime(format: WeightFormat, path: string) {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  return time(format, () => fileSource(path, file, size));
}

const fmt = (r: { first: number; warm: number; tensors: number }) =>
  `${r.tensors} tensors: first ${r.first.toFixed(2)} ms, warm median ${r.warm.toFixed(3)} ms`;

const root = await Deno.makeTempDir({ prefix: "weightbench-parse-perf-" });
try {
  for (const format of ["safetensors", "gguf"] as const) {
    const dir = join(root, format);
    await generateFixture({
      layout: "llama-3-70b",
      size: 64 << 20,
      dtype: "F16",
      shards: 1,
      format,
    }, dir);
    const path = join(dir, format === "gguf" ? "model.gguf" : "model.safetensors");
    const parser = format === "gguf" ? gguf : safetensors;
    const bytes = await Deno.readFile(path);
    console.log(
      `${format} (llama-3-70b layout), from memory: ${
        fmt(time(parser, () => bytesSource(path, bytes)))
      }`,
    );
    console.log(
      `${format} (llama-3-70b layout), positioned reads: ${fmt(await fileTime(parser, path))}`,
    );
  }

  // GGUF with a Llama 3 tokenizer's worth of metadata: 128256 tokens, 280147 merges, token types.
  const tokens: GgufValue[] = Array.from(
    { length: 128256 },
    (_, i) => ({ type: "STRING", value: `tok${i}` }),
  );
  const merges: GgufValue[] = Array.from(
    { length: 280147 },
    (_, i) => ({ type: "STRING", value: `a${i} b${i}` }),
  );
  const types: GgufValue[] = Array.from({ length: 128256 }, () => ({ type: "INT32", value: 1 }));
  const plain = await Deno.readFile(join(root, "gguf", "model.gguf"));
  const base = gguf.parse(bytesSource("x", plain));
  const header = encodeGguf({
    metadata: [
      ["general.architecture", { type: "STRING", value: "llama" }],
      ["tokenizer.ggml.tokens", { type: "ARRAY", itemType: "STRING", value: tokens }],
      ["tokenizer.ggml.token_type", { type: "ARRAY", itemType: "INT32", value: types }],
      ["tokenizer.ggml.merges", { type: "ARRAY", itemType: "STRING", value: merges }],
    ],
    tensors: base.tensors.map((t) => ({ name: t.name, type: t.dtype, ne: t.shape })),
  });
  const dataBytes = base.size - base.dataOffset;
  // The parser reads only the header: a source of the header whose size includes the data section.
  const withTokenizer = (): ByteSource => ({
    name: "tokenizer.gguf",
    size: header.dataOffset + dataBytes,
    read: (offset, length) => header.bytes.subarray(offset, offset + length),
  });
  console.log(
    `gguf with a Llama 3 tokenizer (${
      (header.dataOffset / 2 ** 20).toFixed(1)
    } MiB header), from memory: ${fmt(time(gguf, withTokenizer))}`,
  );

  // PyTorch: our index against torch.load on the same checkpoint.
  const dir = join(root, "pt");
  await generateFixture({
    layout: "llama-3-70b",
    size: 256 << 20,
    dtype: "F16",
    shards: 1,
    format: "pt",
  }, dir);
  const path = join(dir, "pytorch_model.bin");
  const ours = await fileTime(pytorch, path);
  console.log(`pytorch (llama-3-70b layout, 256 MiB), positioned reads: ${fmt(ours)}`);
  const skip = pythonSkipReason("torch");
  if (skip !== undefined) {
    console.log(`torch.load: skipped (${skip})`);
  } else {
    const out = await runPython(
      `import sys, time, statistics, torch
path = sys.argv[1]
try:
    torch.load(path, mmap=True)
    mode = "mmap=True"
    kwargs = {"mmap": True}
except TypeError:
    mode = "no mmap (torch " + torch.__version__ + " has no mmap=True; plain torch.load reads every storage)"
    kwargs = {}
first = None
runs = []
for i in range(7):
    t = time.perf_counter(); sd = torch.load(path, **kwargs); dt = (time.perf_counter() - t) * 1000
    if first is None: first = dt
    runs.append(dt)
print(f"{mode}: first {first:.2f} ms, median {statistics.median(runs):.2f} ms, {len(sd)} tensors")`,
      path,
    );
    console.log(`torch.load (${PYTHON}), same file: ${out.trim()}`);
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
