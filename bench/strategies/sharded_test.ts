import assert from "node:assert/strict";
import { join } from "node:path";
import { generateFixture } from "../../fixtures/generate.ts";
import { openWeights } from "../formats/weights.ts";
import { Recorder } from "../core/recorder.ts";
import { HostTarget } from "../targets/host.ts";
import { withTempDir } from "../util/testing.ts";
import { strategyConformance } from "./_conformance.ts";
import { sharded } from "./sharded.ts";
import { targetFootprint } from "../core/load.ts";

strategyConformance(sharded, {
  default: {},
  "one reader": { readers: 1 },
  "four readers, small chunks, one in flight each": { readers: 4, chunkSize: 4096, depth: 1 },
});

Deno.test("sharded: K readers read K shards at once, and each reader's bytes are reported", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "model");
    await generateFixture({ layout: "llama-3.2-1b", size: 4 << 20, dtype: "F16", shards: 4 }, path);
    const weights = await openWeights(path);
    using target = new HostTarget();
    target.reserve(targetFootprint(weights) + 4 * 4096);
    for (const readers of [1, 2, 8]) {
      const recorder = new Recorder();
      const strategy = sharded.create(
        sharded.options.parse({ readers, chunkSize: 64 << 10, depth: 1 }),
      );
      const result = await strategy.load({ weights, target, recorder });
      const effective = Math.min(readers, 4);
      assert.equal(result.details!.effectiveReaders, effective);
      const perReader = String(result.details!.readerBytes).split(",").map(Number);
      assert.equal(perReader.length, effective);
      assert.ok(perReader.every((n) => n > 0));
      assert.equal(perReader.reduce((a, b) => a + b, 0), result.bytesRead);
      assert.equal(result.bytesRead, weights.fileBytes);
      // Reads of different shards overlap in time when there are several readers.
      const reads = recorder.spans.filter((s) => s.phase === "read");
      const overlapping = reads.some((a) =>
        reads.some((b) => a.detail !== b.detail && a.start < b.end && b.start < a.end)
      );
      assert.equal(overlapping, effective > 1, `readers=${readers}`);
      target.freeAll();
    }
  });
});
