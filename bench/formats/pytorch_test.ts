import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { generateFixture } from "../../fixtures/generate.ts";
import { pickleStateDict } from "../../fixtures/pt_writer.ts";
import { tensorRows } from "../cli/inspect_command.ts";
import { WeightFileError } from "../util/errors.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { assertParseFails, pythonSkipReason, runPython } from "./_testing.ts";
import { bytesSource } from "./format.ts";
import { flattenTensors, unpickle } from "./pickle.ts";
import { pytorch } from "./pytorch.ts";
import { gatherView } from "./views.ts";
import { encodeStoredZip } from "./zip.ts";
import { openWeights } from "./weights.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;
const read = (name: string) => Deno.readFileSync(join(TESTDATA, name));
const TORCH = pythonSkipReason("torch", "numpy");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Each view's logical bytes, gathered in memory from the file. */
function logical(bytes: Uint8Array, name: string): Map<string, Uint8Array> {
  const index = pytorch.parse(bytesSource(name, bytes));
  const storages = new Map(index.tensors.map((t) => [t.name, t]));
  const out = new Map<string, Uint8Array>();
  for (const view of index.views!) {
    const storage = storages.get(view.storage)!;
    const elementBytes = storage.byteLength / storage.shape[0]!;
    out.set(view.name, gatherView(bytes.subarray(storage.offset), 0, view, elementBytes));
  }
  return out;
}

Deno.test("pytorch: tiny.pt lists one storage per tensor and the tensors as views", () => {
  const index = pytorch.parse(bytesSource("tiny.pt", read("tiny.pt")));
  assert.deepEqual(index.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength]), [
    ["data/0", "F16", [32], 64],
    ["data/1", "BF16", [15], 30],
    ["data/2", "F32", [7], 28],
    ["data/3", "I64", [1], 8],
  ]);
  for (const t of index.tensors) {
    assert.equal(t.offset % 64, 0, "storages start at multiples of 64");
  }
  assert.deepEqual(index.views!.map((v) => [v.name, v.shape, v.strides, v.storage, v.contiguous]), [
    ["embed.weight", [4, 8], [8, 1], "data/0", true],
    ["proj.weight", [3, 5], [5, 1], "data/1", true],
    ["norm.weight", [7], [1], "data/2", true],
    ["step", [], [], "data/3", true],
  ]);
  assert.equal(index.metadata["pytorch.archive"], "tiny");
});

Deno.test("pytorch: views with offsets, strides and shared storages gather their elements in order", () => {
  const bytes = read("tiny-views.pt");
  const index = pytorch.parse(bytesSource("tiny-views.pt", bytes));
  assert.equal(index.tensors.length, 2, "two storages");
  const views = Object.fromEntries(index.views!.map((v) => [v.name, v]));
  assert.deepEqual([views.t!.contiguous, views.col!.contiguous, views.row!.contiguous], [
    false,
    false,
    true,
  ]);
  const data = logical(bytes, "tiny-views.pt");
  const base = new Float32Array(data.get("base")!.slice().buffer);
  const t = new Float32Array(data.get("t")!.slice().buffer);
  const row = new Float32Array(data.get("row")!.slice().buffer);
  const col = new Float32Array(data.get("col")!.slice().buffer);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 6; j++) assert.equal(t[j * 4 + i], base[i * 6 + j]);
    assert.equal(col[i], base[i * 6 + 2]);
  }
  assert.deepEqual([...row], [...base.subarray(6, 12)]);
  assert.deepEqual(data.get("tied.a"), data.get("tied.b"));
});

Deno.test("pytorch: inspect --hash hashes each view's logical bytes", async () => {
  const weights = await openWeights(join(TESTDATA, "tiny-views.pt"));
  const rows = await tensorRows(weights, true);
  const data = logical(read("tiny-views.pt"), "tiny-views.pt");
  assert.equal(rows.length, 6);
  for (const row of rows) {
    assert.equal(row.sha256, sha256(data.get(row.name)!), row.name);
    assert.ok(row.storage?.startsWith("data/"));
  }
});

Deno.test("pytorch: shards with pytorch_model.bin.index.json open as one model", async () => {
  const weights = await openWeights(join(TESTDATA, "tiny-pt-sharded"));
  assert.equal(weights.files.length, 2);
  assert.equal(weights.format, "pytorch");
  assert.deepEqual(
    weights.files.flatMap((f) => f.index.views!.map((v) => v.name)),
    [0, 1].flatMap((
      i,
    ) => [`model.layers.${i}.mlp.up_proj.weight`, `model.layers.${i}.input_layernorm.weight`]),
  );
});

Deno.test("pytorch: the unpickler refuses every global but the tensor rebuilders", () => {
  const pickle = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const refused: [string, string][] = [
    ["cos\nsystem\n(S'echo hi'\ntR.", "os.system"],
    ["cbuiltins\neval\n(S'1+1'\ntR.", "builtins.eval"],
    [
      "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x8c\x06system\x93.",
      "posix.system",
    ],
    ["csubprocess\nPopen\n.", "subprocess.Popen"],
    ["ctorch\nload\n.", "torch.load"],
    ["c__builtin__\ngetattr\n.", "__builtin__.getattr"],
  ];
  for (const [text, name] of refused) {
    assert.throws(() => unpickle(pickle(text), { file: "evil.pt" }), (error: unknown) => {
      assert.ok(error instanceof WeightFileError);
      assert.match(error.message, new RegExp(`refusing global "${name.replace(".", "\\.")}"`));
      return true;
    });
  }
  // Calling an allowed storage class, building objects, extension codes: refused too.
  assert.throws(
    () => unpickle(pickle("ctorch\nFloatStorage\n)R."), { file: "x" }),
    /calling torch\.FloatStorage is not allowed/,
  );
  assert.throws(
    () => unpickle(pickle("(ccollections\nOrderedDict\no."), { file: "x" }),
    /old-style instance/,
  );
  assert.throws(() => unpickle(pickle("\x80\x02\x82\x01."), { file: "x" }), /extension registry/);
  assert.throws(() => unpickle(pickle("\x80\x02}q\x00b."), { file: "x" }), /empty stack/);
});

Deno.test("pytorch: the unpickler builds containers, memo references and big integers", () => {
  const { value } = unpickle(
    pickleStateDict([{ name: "w", dtype: "F32", shape: [2, 3], key: "7", numel: 6 }]),
    {
      file: "x",
    },
  );
  assert.ok(
    value !== null && typeof value === "object" && "kind" in value && value.kind === "dict",
  );
  const tensor = value.entries[0]![1];
  assert.ok(
    tensor !== null && typeof tensor === "object" && "kind" in tensor && tensor.kind === "tensor",
  );
  assert.deepEqual([tensor.shape, tensor.strides, tensor.storage.key, tensor.storage.numel], [
    [2, 3],
    [3, 1],
    "7",
    6,
  ]);
  // protocol 2: [2**70, -1, x, x] where x is the same list, through the memo.
  const bytes = Uint8Array.from(
    atob("gAJdcQAoigkAAAAAAAAAAEBK/////11xAWgBZS4="),
    (c) => c.charCodeAt(0),
  );
  const list = unpickle(bytes, { file: "x" }).value;
  assert.ok(list !== null && typeof list === "object" && "kind" in list && list.kind === "list");
  assert.deepEqual(list.items.slice(0, 2), [2n ** 70n, -1]);
  assert.equal(list.items[2], list.items[3]);
});

Deno.test("pytorch: a checkpoint of a container that holds itself is refused", () => {
  // a = []; a.append(a); {"w": a}
  const bytes = Uint8Array.from(
    "\x80\x02}q\x00X\x01\x00\x00\x00w]q\x01h\x01as.",
    (c) => c.charCodeAt(0),
  );
  const { value } = unpickle(bytes, { file: "x" });
  assert.throws(
    () => flattenTensors(value, (d) => new Error(d)),
    /a container holds itself at "w\.0"/,
  );
});

const BAD: [string, RegExp][] = [
  ["evil-global.pt", /^evil\/data\.pkl: refusing global "os\.system"/],
  ["size-mismatch.pt", /^storage "a\/data\/0" holds 4 bytes but 2 F32 elements take 8$/],
  ["missing-storage.pt", /^storage "0" has no entry "a\/data\/0"$/],
  ["no-data-pkl.pt", /^not a PyTorch checkpoint: the zip has no data\.pkl/],
  [
    "view-outside.pt",
    /^tensor "w" \(shape \[3\], strides \[1\], offset 0\) reaches past its storage "0" of 2 elements$/,
  ],
  [
    "deflated-storage.pt",
    /^storage "a\/data\/0" is compressed \(deflate\): only stored entries are loaded/,
  ],
  ["truncated.pt", /^not a complete zip: no end of central directory record/],
];

for (const [name, detail] of BAD) {
  Deno.test(`pytorch: bad/pt/${name} fails with one line naming the problem`, () => {
    const start = performance.now();
    assertParseFails(pytorch, read(`bad/pt/${name}`), detail, name);
    assert.ok(performance.now() - start < 2000);
  });
}

Deno.test("pytorch: counts and lengths that lie are refused before allocation", () => {
  // A pickle string claiming 2^32-1 bytes, and a LONG4 of 2^31 bytes.
  for (
    const text of [
      "\x80\x02X\xff\xff\xff\xff.",
      "\x80\x02\x8b\x00\x00\x00\x80.",
      "\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x0f.",
    ]
  ) {
    assert.throws(
      () => unpickle(Uint8Array.from(text, (c) => c.charCodeAt(0)), { file: "x" }),
      (e: unknown) => e instanceof WeightFileError && /truncated|out of range/.test(e.message),
    );
  }
  // A zip whose end record claims 65535 entries in a tiny central directory.
  const bytes = read("tiny.pt").slice();
  const end = bytes.length - 22;
  new DataView(bytes.buffer).setUint16(end + 10, 0xfffe, true);
  assertParseFails(
    pytorch,
    bytes,
    /entry count 65534 exceeds what the \d+-byte central directory holds/,
  );
});

Deno.test("pytorch: a forced zip64 archive reads like any other", async () => {
  const { centralDirectory, crc32, localHeader, readZip } = await import("./zip.ts");
  const data = new Uint8Array([1, 2, 3]);
  const header = localHeader("a/x", 3, crc32(data), 0);
  const cd = centralDirectory(
    [{ name: "a/x", size: 3, crc: crc32(data), localOffset: 0 }],
    header.length + 3,
    {
      zip64: true,
    },
  );
  const file = new Uint8Array([...header, ...data, ...cd]);
  const zip = readZip(bytesSource("z.zip", file));
  assert.ok(zip.zip64);
  assert.deepEqual([...file.subarray(zip.entries[0]!.dataOffset, zip.entries[0]!.dataOffset + 3)], [
    1,
    2,
    3,
  ]);
});

testUnless(
  TORCH,
  "pytorch: torch.load reads our checkpoints, test data and generated fixtures",
  async () => {
    await withTempDir(async (dir) => {
      await generateFixture({
        layout: "llama-3.2-1b",
        size: 2 << 20,
        dtype: "BF16",
        shards: 2,
        format: "pt",
      }, join(dir, "fx"));
      const paths = [
        join(TESTDATA, "tiny.pt"),
        join(TESTDATA, "tiny-views.pt"),
        join(dir, "fx/pytorch_model-00001-of-00002.bin"),
      ];
      for (const path of paths) {
        const theirs = JSON.parse(await runPython(HASH_SCRIPT, path)) as Record<string, string>;
        const rows = await tensorRows(await openWeights(path), true);
        assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.sha256])), theirs, path);
      }
    });
  },
);

testUnless(
  TORCH,
  "pytorch: we read torch.save files: views, shared storages, bf16, nested dicts, parameters, legacy format",
  async () => {
    await withTempDir(async (dir) => {
      await runPython(
        `import torch, collections, sys
torch.manual_seed(0)
base = torch.randn(4, 6)
sd = collections.OrderedDict()
sd["base"] = base
sd["t"] = base.t()
sd["row"] = base[1]
sd["col"] = base[:, 2]
sd["narrow"] = base[1:3, 2:5]
sd["bf"] = torch.randn(3, 5).to(torch.bfloat16)
sd["half"] = torch.randn(2, 2).half()
sd["nested"] = {"x": torch.ones(2, dtype=torch.float16), "list": [torch.arange(3), 5], "n": 3}
sd["lin"] = torch.nn.Linear(4, 3).state_dict()
sd["param"] = torch.nn.Parameter(torch.ones(2))
sd["scalar"] = torch.tensor(1.5, dtype=torch.float64)
sd["bool"] = torch.tensor([True, False])
sd["empty"] = torch.zeros(0, 3)
torch.save(sd, sys.argv[1] + "/zip.pt")
torch.save(sd, sys.argv[1] + "/legacy.pt", _use_new_zipfile_serialization=False)`,
        dir,
      );
      for (const name of ["zip.pt", "legacy.pt"]) {
        const path = join(dir, name);
        const weights = await openWeights(path);
        const views = weights.files[0]!.index.views!;
        assert.equal(
          weights.files[0]!.index.metadata["pytorch.format"],
          name === "zip.pt" ? "zip" : "legacy",
        );
        assert.ok(views.some((v) => !v.contiguous), "strided views");
        assert.ok(weights.tensorCount < views.length, "storages are shared");
        const rows = await tensorRows(weights, true);
        const theirs = JSON.parse(await runPython(HASH_SCRIPT, path)) as Record<string, string>;
        assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.sha256])), theirs, name);
        assert.deepEqual(
          Object.fromEntries(rows.map((r) => [r.name, r.dtype])),
          {
            ...Object.fromEntries(
              Object.keys(theirs).map((k) => [
                k,
                rows.find((r) => r.name === k)!.dtype,
              ]),
            ),
          },
        );
        assert.equal(rows.find((r) => r.name === "bf")!.dtype, "BF16");
        assert.equal(weights.files[0]!.index.metadata["nested.n"], "3");
      }
    });
  },
);

/** Prints {name: sha256 of the tensor's contiguous bytes} for a checkpoint, as torch sees it. */
const HASH_SCRIPT = `import torch, hashlib, json, sys
d = torch.load(sys.argv[1])
out = {}
def walk(prefix, v):
    if isinstance(v, torch.Tensor):
        c = v.detach().contiguous()
        if c.dtype in (torch.bfloat16, torch.float16):
            c = c.view(torch.int16)
        out[prefix or "tensor"] = hashlib.sha256(c.numpy().tobytes()).hexdigest()
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(f"{prefix}.{k}" if prefix else str(k), x)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            walk(f"{prefix}.{i}" if prefix else str(i), x)
walk("", d)
print(json.dumps(out))`;

for (const name of ["torch-views.pt", "torch-legacy.pt"]) {
  Deno.test(`pytorch: ${name}, written by torch 1.13, reads with torch's own tensor hashes`, async () => {
    const path = join(TESTDATA, "torch", name);
    const expected = JSON.parse(await Deno.readTextFile(path.replace(/\.pt$/, ".json")));
    const rows = await tensorRows(await openWeights(path), true);
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.sha256])), expected);
  });
}

Deno.test("pickle: containers that share children are refused before their paths multiply", () => {
  // [] as memo 0, then 22 lists each holding the one before twice: 204 bytes, 2^22 key paths.
  // Walking every path took 830 ms at 22 levels and doubled with each level.
  const parts: number[] = [0x80, 2, 0x5d, 0x71, 0];
  for (let k = 0; k < 22; k++) parts.push(0x5d, 0x28, 0x68, k, 0x68, k, 0x65, 0x71, k + 1);
  parts.push(0x2e);
  const bytes = Uint8Array.from(parts);
  assert.equal(bytes.length, 204);
  const { value } = unpickle(bytes, { file: "dag.pt" });
  let visits = 0;
  assert.throws(
    () =>
      flattenTensors(value, (detail) => {
        visits++;
        return new WeightFileError("dag.pt", detail);
      }),
    /containers share children: walking every key path would visit more than 10176 values \(the containers hold 44 references\)/,
  );
  assert.equal(visits, 1);
  // Through a checkpoint, the same pickle is one line naming the file.
  const checkpoint = encodeStoredZip([{ name: "archive/data.pkl", data: bytes }]);
  assertParseFails(pytorch, checkpoint, /containers share children/, "dag.pt");
});

Deno.test("pickle: tensors shared by two keys (tied weights) are both listed", () => {
  // {"a": t, "b": t} where t is one tensor, memoized: a tree but for its leaves.
  const pkl = pickleStateDict([
    { name: "embed.weight", dtype: "F32", shape: [2], key: "0", numel: 2 },
  ]);
  const { value } = unpickle(pkl, { file: "tied.pt" });
  const dict = value as { entries: [unknown, unknown][] };
  dict.entries.push(["lm_head.weight", dict.entries[0]![1]]);
  const { tensors } = flattenTensors(value, (d) => new Error(d));
  assert.deepEqual(tensors.map(([name]) => name), ["embed.weight", "lm_head.weight"]);
});

Deno.test("pickle: a million items appended at one mark unpickle without a stack overflow", () => {
  // PROTO 2, EMPTY_LIST, MARK, 1,000,000 × NONE, APPENDS, STOP.
  const count = 1_000_000;
  const bytes = new Uint8Array(5 + count + 2);
  bytes.set([0x80, 2, 0x5d, 0x28]);
  bytes.fill(0x4e, 4, 4 + count);
  bytes.set([0x65, 0x2e], 4 + count);
  const { value } = unpickle(bytes, { file: "wide.pt" });
  assert.equal((value as { items: unknown[] }).items.length, count);
});

Deno.test("pickle: a dict key that is a deep or shared tuple is cut short, not spelled out", () => {
  // A tuple key nested 5,000 deep: (((…),),) built from EMPTY_TUPLE and TUPLE1.
  const depth = 5_000;
  const parts = [0x80, 2, 0x7d, 0x29, ...new Array(depth).fill(0x85), 0x4b, 1, 0x73, 0x2e];
  const { value } = unpickle(Uint8Array.from(parts), { file: "key.pt" });
  const deepPath = flattenTensors(value, (d) => new Error(d)).scalars[0]![0];
  assert.ok(deepPath.length <= 260 && deepPath.endsWith("…"), deepPath);
  const shared = [0x80, 2, 0x7d, 0x29];
  for (let k = 0; k < 40; k++) shared.push(0x32, 0x86); // DUP, TUPLE2: (t, t), 40 deep
  shared.push(0x4b, 1, 0x73, 0x2e);
  const keyed = unpickle(Uint8Array.from(shared), { file: "key.pt" }).value;
  const path = flattenTensors(keyed, (d) => new Error(d)).scalars[0]![0];
  assert.ok(path.length <= 260, `key spelled out to ${path.length} characters`);
  assert.ok(path.endsWith("…"));
});
