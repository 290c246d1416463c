import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { withTempDir } from "../util/testing.ts";
import { hubBlobsOf, hubCacheDir, parseRepoId, resolveHubSnapshot } from "./hf_cache.ts";
import { openWeights } from "./weights.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/**
 * A hub cache entry as huggingface_hub lays it out: files in blobs/ named by
 * hash, snapshots/<commit>/ of relative symbolic links to them, refs/main.
 */
async function cacheEntry(
  cache: string,
  repo: string,
  files: Record<string, string>,
): Promise<string> {
  const root = join(cache, `models--${repo.replace("/", "--")}`);
  const snapshot = join(root, "snapshots", COMMIT);
  await Deno.mkdir(join(root, "blobs"), { recursive: true });
  await Deno.mkdir(join(root, "refs"), { recursive: true });
  await Deno.writeTextFile(join(root, "refs", "main"), COMMIT);
  let n = 0;
  for (const [name, source] of Object.entries(files)) {
    const blob = `blob${n++}`;
    await Deno.copyFile(source, join(root, "blobs", blob));
    const link = join(snapshot, name);
    await Deno.mkdir(join(link, ".."), { recursive: true });
    const depth = name.split("/").length - 1;
    await Deno.symlink(`${"../".repeat(depth + 2)}blobs/${blob}`, link);
  }
  return snapshot;
}

Deno.test("hf cache: repo ids parse, paths do not", () => {
  assert.deepEqual(parseRepoId("org/name"), { org: "org", name: "name" });
  assert.deepEqual(parseRepoId("org/name@refs/pr/1"), {
    org: "org",
    name: "name",
    revision: "refs/pr/1",
  });
  for (
    const text of ["name", "./org/name", "/abs/path", "a/b/c", "org/..", "org/name@../x", "../x"]
  ) {
    assert.equal(parseRepoId(text), undefined, text);
  }
});

Deno.test("hf cache: the cache folder follows HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME", () => {
  const env = (vars: Record<string, string>) => (key: string) => vars[key];
  assert.equal(hubCacheDir(env({ HF_HUB_CACHE: "/a", HF_HOME: "/b" })), "/a");
  assert.equal(hubCacheDir(env({ HF_HOME: "/b", HOME: "/h" })), "/b/hub");
  assert.equal(hubCacheDir(env({ XDG_CACHE_HOME: "/x", HOME: "/h" })), "/x/huggingface/hub");
  assert.equal(hubCacheDir(env({ HOME: "/h" })), "/h/.cache/huggingface/hub");
  assert.equal(hubCacheDir(env({})), undefined);
  assert.equal(hubBlobsOf("/c/models--a--b/snapshots/abc/sub"), "/c/models--a--b/blobs");
  assert.equal(hubBlobsOf("/c/other/snapshots/abc"), undefined);
});

Deno.test("hf cache: org/name[@revision] opens the snapshot, offline, in every format", async () => {
  await withTempDir(async (cache) => {
    const env = (key: string) => (key === "HF_HUB_CACHE" ? cache : undefined);
    await cacheEntry(cache, "org/sharded", {
      "model.safetensors.index.json": join(TESTDATA, "tiny-sharded/model.safetensors.index.json"),
      "model-00001-of-00002.safetensors": join(
        TESTDATA,
        "tiny-sharded/model-00001-of-00002.safetensors",
      ),
      "model-00002-of-00002.safetensors": join(
        TESTDATA,
        "tiny-sharded/model-00002-of-00002.safetensors",
      ),
    });
    await cacheEntry(cache, "org/bins", {
      "pytorch_model.bin.index.json": join(
        TESTDATA,
        "tiny-pt-sharded/pytorch_model.bin.index.json",
      ),
      "pytorch_model-00001-of-00002.bin": join(
        TESTDATA,
        "tiny-pt-sharded/pytorch_model-00001-of-00002.bin",
      ),
      "pytorch_model-00002-of-00002.bin": join(
        TESTDATA,
        "tiny-pt-sharded/pytorch_model-00002-of-00002.bin",
      ),
    });
    // ONNX with external data: both files are links into blobs/, which is allowed in a snapshot.
    await cacheEntry(cache, "org/onnx", {
      "onnx/model.onnx": join(TESTDATA, "tiny-onnx-external/model.onnx"),
      "onnx/weights.bin": join(TESTDATA, "tiny-onnx-external/weights.bin"),
    });
    const sharded = await resolveHubSnapshot(parseRepoId("org/sharded")!, env);
    assert.equal(sharded, join(cache, "models--org--sharded/snapshots", COMMIT));
    assert.equal((await openWeights(sharded)).tensorCount, 9);
    assert.equal(await resolveHubSnapshot(parseRepoId(`org/sharded@${COMMIT}`)!, env), sharded);
    const bins = await openWeights(await resolveHubSnapshot(parseRepoId("org/bins@main")!, env));
    assert.equal(bins.format, "pytorch");
    assert.equal(bins.files.length, 2);
    const onnx = await openWeights(
      join(await resolveHubSnapshot(parseRepoId("org/onnx")!, env), "onnx"),
    );
    assert.deepEqual(onnx.files.map((f) => f.path.split("/").pop()), ["model.onnx", "weights.bin"]);

    const missing = async (id: string, pattern: RegExp) =>
      await assert.rejects(() => resolveHubSnapshot(parseRepoId(id)!, env), (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.match(error.message, pattern);
        return true;
      });
    await missing(
      "org/none",
      /^Cannot find "org\/none": no such file or folder, and no Hugging Face cache entry/,
    );
    await missing("org/sharded@v2", /has no revision "v2"/);
    await missing(`org/sharded@${"f".repeat(40)}`, /the snapshot .* is missing/);
  });
});

Deno.test("hf cache: openWeights falls back to the cache only for a path that does not exist", async () => {
  await assert.rejects(
    () => openWeights("surely-missing-org/surely-missing-model"),
    /Cannot find "surely-missing-org\/surely-missing-model": no such file or folder/,
  );
  await assert.rejects(
    () => openWeights("./no/such/path"),
    /"\.\/no\/such\/path": no such file or folder/,
  );
});
