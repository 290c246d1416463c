import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openWeights } from "../formats/weights.ts";
import { tensorDigests } from "../core/digests.ts";
import { Recorder } from "../core/recorder.ts";
import { verifyLoad } from "../core/verify.ts";
import { LOOPBACK_SKIP, serveFolder } from "../stage/_testing.ts";
import { openRemoteWeights, remoteTensorDigests } from "../stage/remote_weights.ts";
import { writeManifest } from "../stage/sources.ts";
import { HostTarget } from "../targets/host.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { strategyConformance } from "./_conformance.ts";
import { prestaged } from "./prestaged.ts";
import type { Strategy } from "./strategy.ts";
import type { LoadResult } from "../core/load.ts";

const STAGING = Deno.makeTempDirSync({ prefix: "weightbench-prestaged-conformance-" });
globalThis.addEventListener("unload", () => Deno.removeSync(STAGING, { recursive: true }));
const TINY_SHARDED = fileURLToPath(
  new URL("../../fixtures/testdata/tiny-sharded", import.meta.url),
);

strategyConformance(prestaged, {
  "staged, then mmap": { stagingDir: join(STAGING, "a") },
  "cold start, then full-read with small chunks": {
    stagingDir: join(STAGING, "b"),
    mode: "cold-start",
    load: "full-read",
    loadOptions: { readers: 2, chunkSize: 4096 },
    chunkSize: 4096,
  },
  "staged, then parallel": { stagingDir: join(STAGING, "c"), load: "parallel", readers: 1 },
});

async function sample(
  strategy: Strategy,
  weights: Parameters<Strategy["load"]>[0]["weights"],
  target: HostTarget,
) {
  await strategy.prepareSample?.(weights, target);
  const recorder = new Recorder();
  const result = await strategy.load({ weights, target, recorder });
  return { result, recorder };
}

function free(target: HostTarget, result: LoadResult) {
  for (const buffer of result.buffers) target.free(buffer);
}

testUnless(
  LOOPBACK_SKIP,
  "prestaged from a loopback HTTP source: a cold start stages every byte, later loads only read the copy",
  async () => {
    await withTempDir(async (dir) => {
      const source = join(dir, "source");
      await Deno.mkdir(source);
      for await (const entry of Deno.readDir(TINY_SHARDED)) {
        await Deno.copyFile(join(TINY_SHARDED, entry.name), join(source, entry.name));
      }
      await writeManifest(source);
      await using server = serveFolder(source);
      const weights = await openRemoteWeights(server.url);
      const digests = await remoteTensorDigests(weights);
      using target = new HostTarget();
      target.reserve(1 << 20);
      const stagingDir = join(dir, "staging");

      const cold = prestaged.create(
        prestaged.options.parse({ mode: "cold-start", stagingDir, chunkSize: 4096 }),
      );
      for (let i = 0; i < 2; i++) {
        const { result, recorder } = await sample(cold, weights, target);
        verifyLoad(weights, digests, result, target);
        assert.deepEqual(result.bytesBySource, {
          source: weights.fileBytes,
          staging: result.bytesRead,
        });
        assert.equal(result.details!.stagedFiles, weights.files.length);
        assert.equal(result.details!.verifiedBy, "sha256 from weights.manifest.json");
        const stageSpans = recorder.spans.filter((s) => s.phase === "stage");
        assert.deepEqual(stageSpans.map((s) => s.detail), weights.files.map((f) => f.path));
        assert.ok(
          recorder.spans.some((s) => s.phase === "parse" && s.detail === weights.files[0]!.path),
        );
        free(target, result);
      }
      cold.close?.();

      const staged = prestaged.create(prestaged.options.parse({ stagingDir, load: "full-read" }));
      const first = await sample(staged, weights, target);
      free(target, first.result);
      const served = [...server.bytesServed.values()].reduce((a, b) => a + b, 0);
      const later = await sample(staged, weights, target);
      verifyLoad(weights, digests, later.result, target);
      assert.deepEqual(later.result.bytesBySource, { source: 0, staging: weights.fileBytes });
      assert.equal(later.result.details!.alreadyStagedFiles, weights.files.length);
      assert.equal(
        [...server.bytesServed.values()].reduce((a, b) => a + b, 0),
        served,
        "no byte from the source",
      );
      assert.deepEqual(
        [...staged.cachePaths!(weights)].map((p) => p.split("/").at(-3)),
        weights.files.map(() => "pins"),
        "a staged case's cache state is the staged copies' (this process's pins of them)",
      );
      free(target, later.result);
      staged.close?.();
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "prestaged: a source serving wrong bytes fails the load and leaves no staged copy",
  async () => {
    await withTempDir(async (dir) => {
      const source = join(dir, "source");
      await Deno.mkdir(source);
      await Deno.copyFile(
        join(TINY_SHARDED, "model-00001-of-00002.safetensors"),
        join(source, "model.safetensors"),
      );
      await writeManifest(source);
      await using server = serveFolder(source, {
        misbehave: (r) => (r.index > 0 ? { corrupt: true } : undefined),
      });
      const weights = await openRemoteWeights(`${server.url}model.safetensors`);
      using target = new HostTarget();
      target.reserve(1 << 20);
      const stagingDir = join(dir, "staging");
      const strategy = prestaged.create(prestaged.options.parse({ stagingDir, chunkSize: 4096 }));
      await assert.rejects(
        sample(strategy, weights, target),
        /sha256 .* but weights\.manifest\.json says/,
      );
      assert.deepEqual([...Deno.readDirSync(join(stagingDir, "blobs"))], []);
      assert.deepEqual([...Deno.readDirSync(join(stagingDir, "tmp"))], []);
    });
  },
);

Deno.test("prestaged options: the inner strategy's options are checked; sizes are read", () => {
  const parsed = prestaged.options.parse({
    load: "full-read",
    loadOptions: { readers: 2 },
    budget: "1MiB",
  });
  assert.equal(parsed.budget, 1 << 20);
  assert.deepEqual(parsed.loadOptions, { readers: 2 }, "kept as given, for the case's label");
  const bad = prestaged.options.safeParse({ load: "mmap", loadOptions: { advice: "fast" } });
  assert.ok(!bad.success && bad.error.issues[0]!.path.join(".") === "loadOptions.advice");
  for (
    const input of [{ load: "nvme" }, { mode: "lukewarm" }, { budget: "lots" }, { budget: -1 }, {
      stage: 1,
    }]
  ) {
    assert.equal(prestaged.options.safeParse(input).success, false, JSON.stringify(input));
  }
  // Labels: the defaults compare equal, so `prestaged` alone means the defaults.
  assert.deepEqual(prestaged.options.parse({}), prestaged.options.parse({ loadOptions: {} }));
});

Deno.test("prestaged from a local source folder: digests of the source verify loads of the copies", async () => {
  const weights = await openWeights(TINY_SHARDED);
  const digests = await tensorDigests(weights);
  await withTempDir(async (dir) => {
    using target = new HostTarget();
    target.reserve(1 << 20);
    const strategy = prestaged.create(
      prestaged.options.parse({ stagingDir: dir, mode: "cold-start" }),
    );
    // Without prepareSample (an older runner), the emptying is done in the load, and said so.
    const recorder = new Recorder();
    await strategy.load({ weights, target, recorder });
    target.freeAll();
    const again = await strategy.load({ weights, target, recorder: new Recorder() });
    assert.equal(again.details!.emptiedInLoad, true);
    assert.equal(
      again.details!.verifiedBy,
      "the source unchanged while copied (size, mtime, inode; it publishes no SHA-256)",
    );
    verifyLoad(weights, digests, again, target);
    strategy.close?.();
  });
});
