import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { generateFixture } from "../../fixtures/generate.ts";
import { encodeOnnxGraphModel, encodeOnnxModel } from "../../fixtures/onnx_writer.ts";
import { WeightFileError } from "../util/errors.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { assertParseFails, pythonSkipReason, runPython, runPythonFile } from "./_testing.ts";
import { bytesSource } from "./format.ts";
import { onnx, onnxElementBytes, onnxSchema } from "./onnx.ts";
import { openWeights, type WeightSet } from "./weights.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;
const read = (name: string) => Deno.readFileSync(join(TESTDATA, name));
const ONNX = pythonSkipReason("onnx", "numpy");
const TORCH_ONNX = pythonSkipReason("onnx", "numpy", "torch");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** {initializer name: sha256 of the bytes our index points at}, across every file of the set. */
async function ourHashes(weights: WeightSet): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of weights.files) {
    const bytes = await Deno.readFile(file.path);
    for (const t of file.index.tensors) {
      if (!t.dtype.endsWith("(varint)")) {
        out[t.name] = sha256(bytes.subarray(t.offset, t.offset + t.byteLength));
      }
    }
  }
  return out;
}

/** Prints {name: sha256} of each initializer's little-endian bytes as onnx loads them (external data included). */
const ONNX_HASHES = `import onnx, hashlib, json, sys, numpy as np
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
out = {}
for t in m.graph.initializer:
    if t.HasField("raw_data"):
        b = t.raw_data
    elif len(t.float_data):
        b = np.array(t.float_data, dtype="<f4").tobytes()
    elif len(t.double_data):
        b = np.array(t.double_data, dtype="<f8").tobytes()
    else:
        continue
    out[t.name] = hashlib.sha256(b).hexdigest()
print(json.dumps(out))`;

Deno.test("onnx: tiny.onnx lists raw_data, float_data and int64_data initializers", () => {
  const bytes = read("tiny.onnx");
  const index = onnx.parse(bytesSource("tiny.onnx", bytes));
  assert.deepEqual(
    index.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength]),
    [
      ["embed.weight", "FLOAT16", [4, 8], 64],
      ["norm.weight", "FLOAT", [3], 12],
      ["positions", "INT64 (varint)", [4], 1 + 1 + 2 + 3],
      ["proj.weight", "BFLOAT16", [2, 3], 12],
    ],
  );
  const norm = index.tensors[1]!;
  assert.deepEqual([...new Float32Array(bytes.slice(norm.offset, norm.offset + 12).buffer)], [
    0.5,
    -1,
    2,
  ]);
  assert.equal(index.metadata["onnx.ir_version"], "8");
  assert.equal(index.external, undefined);
});

Deno.test("onnx: our ranges agree with protobufjs decoding the whole ModelProto", () => {
  for (const name of ["tiny.onnx", "tiny-onnx-external/model.onnx"]) {
    const bytes = read(name);
    const Model = onnxSchema().lookupType("onnx.ModelProto");
    const model = Model.toObject(Model.decode(bytes), { bytes: Array, longs: Number }) as {
      graph: {
        initializer: { name: string; raw_data?: number[]; float_data?: number[]; dims: number[] }[];
      };
    };
    const index = onnx.parse(bytesSource(name, bytes));
    for (const init of model.graph.initializer) {
      const ours = index.tensors.find((t) => t.name === init.name) ??
        index.external?.find((t) => t.name === init.name);
      assert.ok(ours, init.name);
      assert.deepEqual(ours.shape, init.dims);
      if (init.raw_data) {
        assert.deepEqual([
          ...bytes.subarray((ours as { offset: number }).offset).subarray(0, ours.byteLength),
        ], init.raw_data);
      }
      if (init.float_data?.length) {
        const t = index.tensors.find((x) => x.name === init.name)!;
        assert.deepEqual([
          ...new Float32Array(bytes.slice(t.offset, t.offset + t.byteLength).buffer),
        ], init.float_data);
      }
    }
  }
});

Deno.test("onnx: external data joins the weight set as a file of its own", async () => {
  const weights = await openWeights(join(TESTDATA, "tiny-onnx-external"));
  assert.deepEqual(weights.files.map((f) => f.path.split("/").pop()), [
    "model.onnx",
    "weights.bin",
  ]);
  assert.equal(weights.format, "onnx");
  const data = weights.files[1]!;
  assert.deepEqual(data.index.tensors.map((t) => [t.name, t.dtype, t.offset, t.byteLength]), [
    ["a", "FLOAT", 0, 64],
    ["b", "FLOAT16", 64, 24],
  ]);
  // The data file's format re-checks its ranges whenever it is parsed, as strategies do.
  assert.deepEqual(
    data.format.parse(bytesSource(data.path, await Deno.readFile(data.path))),
    data.index,
  );
  assert.throws(
    () => data.format.parse(bytesSource(data.path, new Uint8Array(70))),
    /truncated: initializer "b" of "model.onnx" needs bytes 64\.\.88 but the file has 70/,
  );
  assert.equal(weights.tensorCount, 3);
});

Deno.test("onnx: external data locations that leave the folder are refused, symbolic links included", async () => {
  await withTempDir(async (root) => {
    const model = join(root, "model");
    await Deno.mkdir(model);
    await Deno.writeFile(join(root, "secret.bin"), new Uint8Array(64));
    await Deno.writeFile(join(model, "inside.bin"), new Uint8Array(64));
    const write = (location: string) =>
      Deno.writeFile(
        join(model, "model.onnx"),
        encodeOnnxModel([{
          name: "a",
          dtype: "FLOAT",
          shape: [16],
          external: { location, offset: 0, length: 64 },
        }]),
      );
    const refused = async (pattern: RegExp) =>
      await assert.rejects(() => openWeights(model), (error: unknown) => {
        assert.ok(error instanceof WeightFileError, String(error));
        assert.match(error.message, pattern);
        return true;
      });
    await Deno.symlink(join(root, "secret.bin"), join(model, "link-out.bin"));
    await write("link-out.bin");
    await refused(/external data location "link-out\.bin" leads outside the model's folder/);
    await write("../secret.bin");
    await refused(/external data location "\.\.\/secret\.bin" escapes the model's folder/);
    await write("sub/../../secret.bin");
    await refused(/escapes the model's folder/);
    await write(join(root, "secret.bin"));
    await refused(/is an absolute path/);
    await write("model.onnx");
    await refused(/is the model itself/);
    await Deno.symlink("inside.bin", join(model, "link-in.bin"));
    await write("link-in.bin");
    assert.equal((await openWeights(model)).files.length, 2);
    await write("./inside.bin");
    assert.equal((await openWeights(model)).files.length, 2);
  });
});

const BAD: [string, RegExp][] = [
  [
    "escape.onnx",
    /^initializer "a": external data location "\.\.\/tiny-onnx-external\/weights\.bin" escapes the model's folder$/,
  ],
  ["absolute.onnx", /^initializer "a": external data location "\/etc\/passwd" is an absolute path/],
  [
    "truncated.onnx",
    /^ModelProto: field of \d+ bytes at byte \d+ runs past the end of its message/,
  ],
  [
    "wrong-length.onnx",
    /^initializer "w": raw_data holds 12 bytes but shape \[4\] of FLOAT takes 16$/,
  ],
  ["unknown-type.onnx", /^initializer "w": unknown data_type 99$/],
];

for (const [name, detail] of BAD) {
  Deno.test(`onnx: bad/onnx/${name} fails with one line naming the problem`, () => {
    assertParseFails(onnx, read(`bad/onnx/${name}`), detail, name);
  });
}

Deno.test("onnx: external data that is missing or too short is named", async () => {
  await assert.rejects(
    () => openWeights(join(TESTDATA, "bad/onnx/missing-external.onnx")),
    /external data location "nowhere\.bin" does not exist/,
  );
  await assert.rejects(
    () => openWeights(join(TESTDATA, "bad/onnx/external-past-end")),
    /weights\.bin": truncated: initializer "a" of "model\.onnx" needs bytes 0\.\.128 but the file has 64/,
  );
});

Deno.test("onnx: lengths and dimensions that lie are refused", () => {
  const model = encodeOnnxModel([{
    name: "w",
    dtype: "FLOAT",
    shape: [2],
    data: new Uint8Array(8),
  }]);
  // The graph field's length claims 2^60 bytes.
  const graphAt = model.indexOf(0x3a);
  const lying = new Uint8Array([
    ...model.subarray(0, graphAt + 1),
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x10,
    ...model.subarray(graphAt + 2),
  ]);
  assertParseFails(
    onnx,
    lying,
    /field of about 2\^60 bytes at byte \d+ runs past the end of its message/,
  );
  // Dimensions whose product overflows.
  const huge = encodeOnnxModel([{
    name: "w",
    dtype: "FLOAT",
    shape: [2 ** 40, 2 ** 40],
    data: new Uint8Array(8),
  }]);
  assertParseFails(
    onnx,
    huge,
    /^initializer "w": shape \[1099511627776, 1099511627776\] of FLOAT is too large$/,
  );
  // A negative dimension.
  const negative = encodeOnnxModel([{
    name: "w",
    dtype: "FLOAT",
    shape: [-1],
    data: new Uint8Array(0),
  }]);
  assertParseFails(onnx, negative, /dimension -1 is not a non-negative integer/);
  // Two initializers of one name.
  const twice = encodeOnnxModel([
    { name: "w", dtype: "FLOAT", shape: [1], data: new Uint8Array(4) },
    { name: "w", dtype: "FLOAT", shape: [1], data: new Uint8Array(4) },
  ]);
  assertParseFails(onnx, twice, /^initializer "w" appears twice$/);
});

Deno.test("onnx: sniffing looks for ir_version then another ModelProto field", () => {
  assert.ok(onnx.sniff(read("tiny.onnx").subarray(0, 64)));
  assert.ok(!onnx.sniff(read("tiny.safetensors").subarray(0, 64)));
  assert.ok(!onnx.sniff(read("tiny.gguf").subarray(0, 64)));
  assert.ok(!onnx.sniff(new Uint8Array([0x08, 0x07, 0x00, 0x00])));
  assert.ok(
    onnx.sniff(new Uint8Array([0x08, 0x07, 0x12, 0x07])),
    "torch.onnx.export: ir_version, producer_name",
  );
});

testUnless(
  ONNX,
  "onnx: onnx (python3-onnx) loads our models with their bytes, external data included",
  async () => {
    await withTempDir(async (dir) => {
      await generateFixture({
        layout: "llama-3.2-1b",
        size: 2 << 20,
        dtype: "F16",
        shards: 1,
        format: "onnx",
      }, join(dir, "inline"));
      await generateFixture({
        layout: "llama-3.2-1b",
        size: 2 << 20,
        dtype: "BF16",
        shards: 2,
        format: "onnx",
      }, join(dir, "external"));
      for (
        const path of [
          join(TESTDATA, "tiny.onnx"),
          join(TESTDATA, "tiny-onnx-external/model.onnx"),
          join(dir, "inline/model.onnx"),
          join(dir, "external/model.onnx"),
        ]
      ) {
        const theirs = JSON.parse(await runPython(ONNX_HASHES, path));
        assert.deepEqual(await ourHashes(await openWeights(path)), theirs, path);
      }
    });
  },
);

testUnless(
  ONNX,
  "onnx: we read models onnx writes: raw_data, typed fields, external data",
  async () => {
    await withTempDir(async (dir) => {
      await runPython(
        `import onnx, numpy as np, sys
from onnx import helper, numpy_helper, TensorProto
d = sys.argv[1]
inits = [
    numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "raw32"),
    numpy_helper.from_array(np.linspace(-1, 1, 10).astype(np.float16), "raw16"),
    helper.make_tensor("typed", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]),
    helper.make_tensor("doubles", TensorProto.DOUBLE, [2], [0.25, -8.0]),
    helper.make_tensor("ints", TensorProto.INT64, [3], [1, -2, 1 << 40]),
    numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "big"),
]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])
node = helper.make_node("Add", ["x", "raw32"], ["y"])
model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits), producer_name="onnx-test")
onnx.save_model(model, d + "/inline.onnx")
onnx.save_model(model, d + "/ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data", size_threshold=1024)`,
        dir,
      );
      const inline = await openWeights(join(dir, "inline.onnx"));
      const dtypes = Object.fromEntries(
        inline.files[0]!.index.tensors.map((t) => [t.name, t.dtype]),
      );
      assert.deepEqual(dtypes, {
        raw32: "FLOAT",
        raw16: "FLOAT16",
        typed: "FLOAT",
        doubles: "DOUBLE",
        ints: "INT64 (varint)",
        big: "FLOAT",
      });
      assert.deepEqual(
        await ourHashes(inline),
        JSON.parse(await runPython(ONNX_HASHES, join(dir, "inline.onnx"))),
      );
      const ext = await openWeights(join(dir, "ext.onnx"));
      assert.deepEqual(ext.files.map((f) => f.path.split("/").pop()), ["ext.onnx", "ext.data"]);
      assert.deepEqual(ext.files[1]!.index.tensors.map((t) => t.name), ["big"]);
      assert.deepEqual(
        await ourHashes(ext),
        JSON.parse(await runPython(ONNX_HASHES, join(dir, "ext.onnx"))),
      );
    });
  },
);

testUnless(TORCH_ONNX, "onnx: we read a model exported by torch.onnx.export", async () => {
  await withTempDir(async (dir) => {
    await runPython(
      `import torch, sys
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
torch.onnx.export(model, torch.randn(1, 8), sys.argv[1] + "/exported.onnx")`,
      dir,
    );
    const path = join(dir, "exported.onnx");
    const weights = await openWeights(path);
    assert.equal(weights.files[0]!.index.metadata["onnx.producer_name"], "pytorch");
    assert.equal(weights.tensorCount, 4);
    assert.deepEqual(await ourHashes(weights), JSON.parse(await runPython(ONNX_HASHES, path)));
  });
});

// ---------------------------------------------------------------------------
// Weights wherever real exporters put them

const EXPORTED_MODELS = new URL("../../fixtures/exported_models.py", import.meta.url).pathname;

/** One weight as `fixtures/exported_models.py` reads it with onnx. */
interface ExpectedWeight {
  kind: string;
  part: string | null;
  graph: string;
  name: string;
  sha256: string;
}

/** `kind|part|graph|name` → sha256 of the element bytes, for every tensor of the set, read by us. */
async function ourWeights(weights: WeightSet): Promise<string[]> {
  const out: string[] = [];
  for (const file of weights.files) {
    const bytes = await Deno.readFile(file.path);
    for (const t of file.index.tensors) {
      const o = t.origin;
      assert.ok(o, `${t.name} has no origin`);
      const elements = onnxElementBytes(t.dtype, bytes.subarray(t.offset, t.offset + t.byteLength));
      out.push(`${o.kind}|${o.part ?? ""}|${o.graph}|${o.name} ${sha256(elements)}`);
    }
  }
  return out.sort();
}

testUnless(
  TORCH_ONNX,
  "onnx: every weight of models torch exports and onnx builds, at every depth and in external data, hashes as numpy_helper.to_array",
  async () => {
    await withTempDir(async (dir) => {
      await runPythonFile(EXPORTED_MODELS, dir);
      const expected = JSON.parse(await Deno.readTextFile(join(dir, "expected.json"))) as Record<
        string,
        { weights: ExpectedWeight[]; skipped: number }
      >;
      assert.equal(Object.keys(expected).length, 8);
      for (const [model, { weights, skipped }] of Object.entries(expected)) {
        const set = await openWeights(join(dir, model));
        const theirs = weights.map((w) =>
          `${w.kind}|${w.part ?? ""}|${w.graph}|${w.name} ${w.sha256}`
        ).sort();
        assert.deepEqual(await ourWeights(set), theirs, model);
        assert.equal(set.tensorCount, weights.length, model);
        assert.equal(
          (set.skipped ?? []).reduce((n, s) => n + s.count, 0),
          skipped,
          `${model}: skipped`,
        );
        // Every name is unique across the set.
        const names = set.files.flatMap((f) => f.index.tensors.map((t) => t.name));
        assert.equal(new Set(names).size, names.length, `${model}: names repeat`);
      }
      // A model whose only weights are Constants: an initializer reader found 0 tensors.
      const constants = await openWeights(join(dir, "torch-constants-only.onnx"));
      assert.equal(constants.tensorCount, 2);
      // Where the weights were: the torch exports keep tensors made in the branches and the
      // loop as Constant nodes in the If and Loop subgraphs.
      const cf = await openWeights(join(dir, "torch-control-flow.onnx"));
      const origins = cf.files[0]!.index.tensors.map((t) => t.origin!);
      assert.equal(origins.filter((o) => o.kind === "initializer").length, 5);
      assert.ok(origins.some((o) => o.kind === "Constant" && /\.then_branch$/.test(o.graph)));
      assert.ok(origins.some((o) => o.kind === "Constant" && /\.body$/.test(o.graph)));
      // A subgraph's "w" shadows the main graph's: it gets the qualified name.
      const nested = await openWeights(join(dir, "onnx-nested.onnx"));
      const names = nested.files[0]!.index.tensors.map((t) => t.name);
      assert.ok(names.includes("w") && names.includes("outer_loop.body/w"), names.join(", "));
      // The If's two branches both have a "branch_w": the first in the file (onnx.helper
      // writes attributes sorted, so else_branch) keeps the name.
      assert.ok(names.includes("branch_w"));
      assert.ok(names.includes("Scan#5.body/branch.then_branch/branch_w"), names.join(", "));
      assert.ok(names.includes("main_sparse") && names.includes("main_sparse.indices"));
      // The external variant: Constant values in subgraphs live in files of their own.
      const external = await openWeights(join(dir, "onnx-nested-external/model.onnx"));
      assert.ok(external.files.length > 5);
      assert.ok(
        external.files.slice(1).some((f) =>
          f.index.tensors.some((t) => t.origin?.kind === "Constant" && t.origin.graph !== "")
        ),
      );
    });
  },
);

/** A model with a weight in every place an exporter puts one. */
function everywhereModel(): Uint8Array {
  const f32 = (...values: number[]) => new Uint8Array(new Float32Array(values).buffer);
  const branch = (value: number) => ({
    initializers: [{ name: "w", dtype: "FLOAT", shape: [1], data: f32(value) }],
    nodes: [{
      opType: "Constant",
      outputs: ["c"],
      attributes: [{
        name: "value",
        tensor: { name: "", dtype: "FLOAT", shape: [1], data: f32(value + 1) },
      }],
    }],
  });
  return encodeOnnxGraphModel({
    initializers: [
      { name: "w", dtype: "FLOAT", shape: [2], data: f32(1, 2) },
      { name: "labels", dtype: "STRING", shape: [1], strings: ["a"] },
    ],
    sparse: [{
      values: { name: "s", dtype: "FLOAT", shape: [2], data: f32(3, 4) },
      indices: { name: "", dtype: "INT64", shape: [2], int64s: [0, 5] },
      dims: [8],
    }],
    nodes: [
      { opType: "Constant", outputs: ["f"], attributes: [{ name: "value_float", float: 0.5 }] },
      {
        opType: "Constant",
        outputs: ["fs"],
        attributes: [{ name: "value_floats", floats: [1, 2, 3] }],
      },
      { opType: "Constant", outputs: ["i"], attributes: [{ name: "value_int", int: 300 }] },
      { opType: "Constant", outputs: ["is"], attributes: [{ name: "value_ints", ints: [1, -2] }] },
      { opType: "Constant", outputs: ["t"], attributes: [{ name: "value_string", string: "x" }] },
      // Not Constants: their tensors are attributes, not weights.
      {
        opType: "ConstantOfShape",
        outputs: ["z"],
        attributes: [{
          name: "value",
          tensor: { name: "", dtype: "FLOAT", shape: [1], data: f32(9) },
        }],
      },
      {
        opType: "Constant",
        domain: "com.example",
        outputs: ["custom"],
        attributes: [{ name: "value_float", float: 9 }],
      },
      {
        opType: "If",
        name: "branch",
        attributes: [
          { name: "then_branch", graph: branch(10) },
          { name: "else_branch", graph: branch(20) },
        ],
      },
      {
        opType: "Loop",
        attributes: [{
          name: "body",
          graph: {
            nodes: [{
              opType: "Scan",
              attributes: [{ name: "body", graph: branch(30) }],
            }],
          },
        }],
      },
    ],
  });
}

Deno.test("onnx: initializers, sparse initializers, every Constant form and subgraphs at any depth", () => {
  const bytes = everywhereModel();
  const index = onnx.parse(bytesSource("everywhere.onnx", bytes));
  const listed = index.tensors.map((
    t,
  ) => [t.name, t.dtype, t.shape, t.origin!.kind, t.origin!.graph]);
  assert.deepEqual(
    listed.sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      ["branch.else_branch/c", "FLOAT", [1], "Constant", "branch.else_branch"],
      ["branch.else_branch/w", "FLOAT", [1], "initializer", "branch.else_branch"],
      ["branch.then_branch/w", "FLOAT", [1], "initializer", "branch.then_branch"],
      ["c", "FLOAT", [1], "Constant", "branch.then_branch"],
      ["f", "FLOAT", [], "Constant", ""],
      ["fs", "FLOAT (unpacked)", [3], "Constant", ""],
      ["i", "INT64 (varint)", [], "Constant", ""],
      ["is", "INT64 (unpacked varint)", [2], "Constant", ""],
      ["Loop#8.body/Scan#0.body/c", "FLOAT", [1], "Constant", "Loop#8.body/Scan#0.body"],
      ["Loop#8.body/Scan#0.body/w", "FLOAT", [1], "initializer", "Loop#8.body/Scan#0.body"],
      ["s", "FLOAT", [2], "sparse_initializer", ""],
      ["s.indices", "INT64 (varint)", [2], "sparse_initializer", ""],
      ["w", "FLOAT", [2], "initializer", ""],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  const value = (name: string) => {
    const t = index.tensors.find((x) => x.name === name)!;
    return onnxElementBytes(t.dtype, bytes.subarray(t.offset, t.offset + t.byteLength));
  };
  assert.deepEqual([...new Float32Array(value("f").slice().buffer)], [0.5]);
  assert.deepEqual([...new Float32Array(value("fs").slice().buffer)], [1, 2, 3]);
  assert.deepEqual([...new BigInt64Array(value("i").slice().buffer)], [300n]);
  assert.deepEqual([...new BigInt64Array(value("is").slice().buffer)], [1n, -2n]);
  assert.deepEqual([...new BigInt64Array(value("s.indices").slice().buffer)], [0n, 5n]);
  assert.deepEqual([...new Float32Array(value("Loop#8.body/Scan#0.body/c").slice().buffer)], [31]);
  assert.deepEqual(index.skipped, [
    { reason: "STRING tensors (text, not numbers)", count: 2, names: ["t", "labels"] },
  ]);
  assert.equal(index.metadata["onnx.graphs"], "5");
});

Deno.test("onnx: a model with no weights anywhere is refused, naming what was searched", () => {
  const empty = encodeOnnxGraphModel({
    nodes: [{
      opType: "Loop",
      attributes: [{ name: "body", graph: { nodes: [{ opType: "Relu" }] } }],
    }],
  });
  assertParseFails(
    onnx,
    empty,
    /^no tensors: searched 2 graphs \(the main graph, subgraphs at every depth, functions, training graphs\) and 2 nodes for initializers, sparse initializers and Constant values$/,
  );
  const strings = encodeOnnxModel([{ name: "s", dtype: "STRING", shape: [1], strings: ["x"] }]);
  assertParseFails(
    onnx,
    strings,
    /^no tensors: .* \(skipped 1 STRING tensors \(text, not numbers\)\)$/,
  );
});

Deno.test("onnx: Constants in functions are weights, function attribute references are not", () => {
  const bytes = encodeOnnxGraphModel(
    { initializers: [{ name: "w", dtype: "FLOAT", shape: [1], floats: [1] }] },
    {
      functions: [{
        name: "Scale",
        domain: "local",
        nodes: [
          { opType: "Constant", outputs: ["k"], attributes: [{ name: "value_float", float: 2 }] },
          {
            opType: "Constant",
            outputs: ["r"],
            attributes: [{ name: "value_float", ref: "alpha" }],
          },
        ],
      }],
    },
  );
  const index = onnx.parse(bytesSource("fn.onnx", bytes));
  const k = index.tensors.find((t) => t.name === "k")!;
  assert.deepEqual(k.origin, { kind: "Constant", graph: "function local.Scale", name: "k" });
  assert.equal(
    index.skipped?.[0]?.reason,
    "Constant values that name a function's attribute (no data in the file)",
  );
});

Deno.test("onnx: malformed subgraphs and Constants fail with one line", () => {
  const twoValues = encodeOnnxGraphModel({
    nodes: [{
      opType: "Constant",
      outputs: ["c"],
      attributes: [{ name: "value_float", float: 1 }, { name: "value_int", int: 2 }],
    }],
  });
  assertParseFails(onnx, twoValues, /^Constant "c" has more than one value$/);
  // 40 Loops, each the body of the one above (protobufjs will not encode so deep: by hand).
  const len = (field: number, body: Uint8Array) => {
    const head: number[] = [(field << 3) | 2];
    for (let n = body.length;; n >>>= 7) {
      if (n < 0x80) {
        head.push(n);
        break;
      }
      head.push((n & 0x7f) | 0x80);
    }
    return new Uint8Array([...head, ...body]);
  };
  const text = (field: number, value: string) => len(field, new TextEncoder().encode(value));
  let graph: Uint8Array = encodeOnnxModel([{ name: "w", dtype: "FLOAT", shape: [1], floats: [1] }]);
  graph = graph.subarray(graph.lastIndexOf(0x3a) + 2); // the innermost graph: the model's own
  for (let i = 0; i < 40; i++) {
    const attribute = new Uint8Array([...text(1, "body"), ...len(6, graph)]);
    graph = len(1, new Uint8Array([...text(4, "Loop"), ...len(5, attribute)]));
  }
  const head = encodeOnnxModel([{ name: "w", dtype: "FLOAT", shape: [1], floats: [1] }]);
  const deep = new Uint8Array([...head.subarray(0, head.lastIndexOf(0x3a)), ...len(7, graph)]);
  assertParseFails(onnx, deep, /^subgraphs nested more than 32 deep/);
  const twice = encodeOnnxGraphModel({
    nodes: [{
      opType: "If",
      attributes: [{
        name: "then_branch",
        graph: {
          initializers: [
            { name: "w", dtype: "FLOAT", shape: [1], floats: [1] },
            { name: "w", dtype: "FLOAT", shape: [1], floats: [2] },
          ],
        },
      }],
    }],
  });
  assertParseFails(onnx, twice, /^initializer "w" in "If#0\.then_branch" appears twice$/);
  const bad = encodeOnnxGraphModel({
    nodes: [{
      opType: "Constant",
      outputs: ["c"],
      attributes: [{
        name: "value",
        tensor: { name: "", dtype: "FLOAT", shape: [4], data: new Uint8Array(12) },
      }],
    }],
  });
  assertParseFails(
    onnx,
    bad,
    /^Constant "c": raw_data holds 12 bytes but shape \[4\] of FLOAT takes 16$/,
  );
});

Deno.test("onnx: every strict prefix of a model is refused", () => {
  const bytes = everywhereModel();
  for (let length = 0; length < bytes.length; length++) {
    assert.throws(
      () => onnx.parse(bytesSource("cut.onnx", bytes.subarray(0, length))),
      (error: unknown) => error instanceof WeightFileError && !error.message.includes("\n"),
      `a prefix of ${length} bytes`,
    );
  }
});
