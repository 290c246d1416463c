import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openWeights } from "../formats/weights.ts";
import { tensorDigests } from "../core/digests.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { LOOPBACK_SKIP, serveFolder } from "./_testing.ts";
import { openRemoteWeights, remoteTensorDigests } from "./remote_weights.ts";
import { writeManifest } from "./sources.ts";

const TESTDATA = fileURLToPath(new URL("../../fixtures/testdata/", import.meta.url));

/** The tensors of a weight set, as comparable rows, with file paths reduced to names. */
function rows(files: { path: string; index: { tensors: readonly object[] } }[]) {
  return files.flatMap((f) =>
    f.index.tensors.map((t) => ({ file: f.path.split("/").pop(), ...t }))
  );
}

testUnless(
  LOOPBACK_SKIP,
  "openRemoteWeights: a sharded safetensors folder over HTTP parses as it does on disk",
  async () => {
    const local = await openWeights(join(TESTDATA, "tiny-sharded"));
    await using server = serveFolder(join(TESTDATA, "tiny-sharded"));
    const remote = await openRemoteWeights(server.url);
    assert.deepEqual(rows([...remote.files]), rows([...local.files]));
    assert.equal(remote.tensorBytes, local.tensorBytes);
    assert.ok(remote.files.every((f) => f.path.startsWith(server.url)));
    // Only header bytes were fetched, not the data.
    for (const file of remote.files) {
      const name = file.path.split("/").pop()!;
      assert.ok((server.bytesServed.get(name) ?? 0) <= Math.max(file.index.dataOffset, 1 << 20));
    }
    // The digests streamed over HTTP equal those read from disk.
    const byName = (d: ReadonlyMap<string, string>) =>
      [...d].map(([k, v]) => [k.split("/").pop(), v]).sort((a, b) =>
        String(a[0]).localeCompare(String(b[0]))
      );
    assert.deepEqual(byName(await remoteTensorDigests(remote)), byName(await tensorDigests(local)));
  },
);

testUnless(
  LOOPBACK_SKIP,
  "openRemoteWeights: one GGUF file, and a folder listed by its manifest",
  async () => {
    await withTempDir(async (dir) => {
      await Deno.copyFile(join(TESTDATA, "tiny.gguf"), join(dir, "tiny.gguf"));
      await Deno.writeTextFile(join(dir, "README.md"), "not weights");
      await writeManifest(dir);
      await using server = serveFolder(dir);
      const single = await openRemoteWeights(`${server.url}tiny.gguf`);
      const local = await openWeights(join(dir, "tiny.gguf"));
      assert.deepEqual(rows([...single.files]), rows([...local.files]));
      const folder = await openRemoteWeights(server.url);
      assert.deepEqual(folder.files.map((f) => f.path), [`${server.url}tiny.gguf`]);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "openRemoteWeights: clear errors for a folder it cannot list, a bad file, a hostile index",
  async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "x.safetensors"), "garbage that is no header");
      await using server = serveFolder(dir);
      await assert.rejects(
        openRemoteWeights(server.url),
        /cannot list an HTTP folder: it serves neither/,
      );
      await assert.rejects(openRemoteWeights(`${server.url}missing.gguf`), /HEAD answered 404/);
      await assert.rejects(
        openRemoteWeights(`${server.url}x.safetensors`),
        /Cannot read "http:.*x\.safetensors"/,
      );
      await Deno.writeTextFile(
        join(dir, "model.safetensors.index.json"),
        JSON.stringify({ weight_map: { w: "../../etc/passwd" } }),
      );
      await assert.rejects(openRemoteWeights(server.url), /not a plain file name/);
    });
  },
);
