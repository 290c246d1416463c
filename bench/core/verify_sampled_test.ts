import assert from "node:assert/strict";
import { join } from "node:path";
import { generateFixture } from "../../fixtures/generate.ts";
import { openWeights } from "../formats/weights.ts";
import { fullRead } from "../strategies/full_read.ts";
import { targetFootprint } from "./load.ts";
import { HostTarget } from "../targets/host.ts";
import { withTempDir } from "../util/testing.ts";
import { Recorder } from "./recorder.ts";
import { VerificationError } from "./verify.ts";
import { sampleWindows, verifySampled } from "./verify_sampled.ts";

Deno.test("sampled windows: first, last, seeded ones between, never overlapping", () => {
  for (const seed of [1, 2, 3, 99]) {
    const windows = sampleWindows(10 << 20, 65536, 6, seed);
    assert.equal(windows.length, 6);
    assert.equal(windows[0]!.start, 0);
    assert.equal(windows.at(-1)!.start, (10 << 20) - 65536);
    for (let i = 1; i < windows.length; i++) {
      assert.ok(windows[i]!.start >= windows[i - 1]!.start + 65536, "overlap");
    }
  }
  assert.deepEqual(sampleWindows(0, 64, 4, 1), []);
  assert.deepEqual(sampleWindows(256, 64, 4, 1), [{ start: 0, length: 256 }]);
});

Deno.test("verifySampled passes an intact load and catches a changed byte, a shift and a gap", async () => {
  await withTempDir(async (dir) => {
    await generateFixture(
      { layout: "llama-3.2-1b", size: 8 << 20, dtype: "F16", shards: 2 },
      join(dir, "m"),
    );
    const weights = await openWeights(join(dir, "m"));
    using target = new HostTarget();
    target.reserve(targetFootprint(weights) + 8192);
    const strategy = fullRead.create(fullRead.options.parse({}));
    const result = await strategy.load({ weights, target, recorder: new Recorder() });
    strategy.close?.();
    const verification = verifySampled(weights, result, target, { windowBytes: 4096 });
    assert.equal(verification.tensors, weights.tensorCount);
    assert.equal(verification.bytes, weights.tensorBytes);
    assert.ok(verification.sampledBytes > 0 && verification.sampledBytes < weights.tensorBytes);

    const big = result.placements.reduce((
      a,
      b,
    ) => (b.tensor.byteLength > a.tensor.byteLength ? b : a));
    const last = target.readBack(big.buffer, big.offset + big.tensor.byteLength - 1, 1);
    last[0] = last[0]! ^ 0xff;
    assert.throws(
      () => verifySampled(weights, result, target, { windowBytes: 4096 }),
      (error: unknown) =>
        error instanceof VerificationError &&
        error.message.includes(`differs on host at byte ${big.tensor.byteLength - 1}`),
    );
    last[0] = last[0]! ^ 0xff;
    const shifted = result.placements.map((p) => p === big ? { ...p, offset: p.offset + 2 } : p);
    assert.throws(
      () => verifySampled(weights, { ...result, placements: shifted }, target),
      VerificationError,
    );
    assert.throws(
      () => verifySampled(weights, { ...result, placements: result.placements.slice(1) }, target),
      /tensors never reached host/,
    );
    assert.throws(
      () => verifySampled(weights, { ...result, placements: [...result.placements, big] }, target),
      /placed twice/,
    );
  });
});
