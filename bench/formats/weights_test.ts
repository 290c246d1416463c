import assert from "node:assert/strict";
import { join } from "node:path";
import { WeightFileError } from "../util/errors.ts";
import { encodeSafetensorsHeader } from "./safetensors.ts";
import { openWeights } from "./weights.ts";
import { withTempDir } from "../util/testing.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;

async function writeModel(path: string, names: string[]): Promise<void> {
  const { bytes } = encodeSafetensorsHeader(
    names.map((name) => ({ name, dtype: "U8", shape: [4] })),
  );
  await Deno.writeFile(
    path,
    new Uint8Array([...bytes, ...new Uint8Array(4 * names.length).fill(7)]),
  );
}

async function rejects(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(() => openWeights(path), (error: unknown) => {
    assert.ok(error instanceof WeightFileError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("a single file, an indexed folder, and a folder of files", async () => {
  const single = await openWeights(join(TESTDATA, "tiny.safetensors"));
  assert.equal(single.tensorCount, 6);
  assert.equal(single.files.length, 1);
  assert.equal(single.format, "safetensors");
  const sharded = await openWeights(join(TESTDATA, "tiny-sharded"));
  assert.equal(sharded.tensorCount, 9);
  assert.deepEqual(sharded.files.map((f) => f.path.split("/").pop()), [
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
  ]);
  assert.equal(
    sharded.tensorBytes,
    sharded.files.flatMap((f) => f.index.tensors).reduce((n, t) => n + t.byteLength, 0),
  );
  assert.equal(sharded.fileBytes, sharded.files.reduce((n, f) => n + f.size, 0));
  await withTempDir(async (dir) => {
    await writeModel(join(dir, "b.safetensors"), ["y"]);
    await writeModel(join(dir, "a.safetensors"), ["x"]);
    const loose = await openWeights(dir);
    assert.deepEqual(loose.files.map((f) => f.path.split("/").pop()), [
      "a.safetensors",
      "b.safetensors",
    ]);
  });
});

Deno.test("an index that disagrees with its shards is refused", async () => {
  await withTempDir(async (dir) => {
    await writeModel(join(dir, "s1.safetensors"), ["a", "b"]);
    await writeModel(join(dir, "s2.safetensors"), ["c"]);
    const index = join(dir, "model.safetensors.index.json");
    const write = (map: unknown) => Deno.writeTextFile(index, JSON.stringify({ weight_map: map }));

    await write({ a: "s1.safetensors", b: "s1.safetensors", c: "s2.safetensors" });
    assert.equal((await openWeights(dir)).tensorCount, 3);

    await write({ a: "s1.safetensors", b: "s2.safetensors", c: "s2.safetensors" });
    await rejects(dir, /tensor "b" is mapped to "s2.safetensors" but is in "s1.safetensors"/);
    await write({
      a: "s1.safetensors",
      b: "s1.safetensors",
      c: "s2.safetensors",
      d: "s2.safetensors",
    });
    await rejects(dir, /tensor "d" is mapped to "s2.safetensors" but no file holds it/);
    await write({ a: "s1.safetensors", c: "s2.safetensors" });
    await rejects(dir, /holds tensor "b", which weight_map does not list/);
    await write({ a: "s3.safetensors" });
    await rejects(dir, /weight_map names "s3.safetensors", which is not in the folder/);
    await write({ a: "/etc/passwd" });
    await rejects(dir, /is not a plain file name in the folder/);
    await write({ a: ".." });
    await rejects(dir, /is not a plain file name/);
    await write({});
    await rejects(dir, /weight_map lists no tensors/);
    await write([1, 2]);
    await rejects(dir, /"weight_map" must be an object/);
    await write({ a: 3 });
    await rejects(dir, /weight_map\["a"\] must be a file name/);
    await Deno.writeTextFile(index, "{");
    await rejects(dir, /model\.safetensors\.index\.json": not valid JSON/);
  });
});

Deno.test("the same tensor in two files is refused", async () => {
  await withTempDir(async (dir) => {
    await writeModel(join(dir, "a.safetensors"), ["w"]);
    await writeModel(join(dir, "b.safetensors"), ["w"]);
    await rejects(dir, /tensor "w" is in both/);
  });
});

Deno.test("missing paths, empty folders and foreign files are named", async () => {
  await rejects(join(TESTDATA, "nope"), /"[^"]*nope": no such file or folder/);
  await rejects(join(TESTDATA, "bad/not-weights"), /no weight files in folder/);
  await rejects(
    join(TESTDATA, "bad/not-weights/README.txt"),
    /not a weight file this tool reads \(safetensors, gguf, pytorch, onnx\)/,
  );
  await rejects(
    join(TESTDATA, "bad/header-length-lies.safetensors"),
    /header length 9000000000000000 exceeds file size 15/,
  );
});
