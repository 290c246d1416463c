import assert from "node:assert/strict";
import { join } from "node:path";
import type { MachineLimits } from "../../profiles/schema.ts";
import { withTempDir } from "../util/testing.ts";
import { limitFor } from "../../profiles/limits.ts";
import {
  LIMITS_MAX_AGE_MS,
  limitsKey,
  limitsPath,
  readCachedLimits,
  writeCachedLimits,
} from "./limits.ts";
import { limitsForFiles, probeMachine } from "./probe.ts";
import { PROBE_MAX_STAGING, probeCold, probeWarm, sweepPoints } from "./storage.ts";

const MIB = 1 << 20;

async function randomFile(dir: string, bytes: number): Promise<string> {
  const path = join(dir, "data.bin");
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) {
    crypto.getRandomValues(data.subarray(i, Math.min(bytes, i + 65536)));
  }
  await Deno.writeFile(path, data);
  return path;
}

Deno.test("the sweep covers 1–64 MiB blocks and depths 1–32 within the staging cap", () => {
  const points = sweepPoints();
  assert.ok(points.some((p) => p.blockSize === MIB && p.depth === 32));
  assert.ok(points.some((p) => p.blockSize === 64 * MIB && p.depth === 1));
  assert.ok(points.every((p) => p.blockSize * p.depth <= PROBE_MAX_STAGING));
  assert.ok(
    !points.some((p) => p.blockSize === 64 * MIB && p.depth === 32),
    "2 GiB of staging is left out",
  );
  assert.deepEqual(sweepPoints({ blockSizes: [4 * MIB], depths: [1, 2] }), [
    { blockSize: 4 * MIB, depth: 1 },
    { blockSize: 4 * MIB, depth: 2 },
  ]);
});

Deno.test("cold and warm probes measure real reads and report the best point", async () => {
  await withTempDir(async (dir) => {
    const path = await randomFile(dir, 16 * MIB);
    const seen: number[] = [];
    const cold = await probeCold([path], {
      blockSizes: [MIB, 4 * MIB],
      depths: [1, 2],
      trialBytes: 8 * MIB,
      onTrial: (done) => seen.push(done),
    });
    if (cold === null) {
      console.log(
        "cold probe: this file system refuses O_DIRECT; the null result is what is checked",
      );
      return;
    }
    assert.deepEqual(seen, [1, 2, 3, 4]);
    assert.equal(cold.trials.length, 4);
    const best = Math.max(...cold.trials.map((t) => t.gbps));
    assert.ok(
      cold.trials.some((t) =>
        t.blockSize === cold.blockSize && t.depth === cold.depth && t.gbps === best
      ),
    );
    // The best setting is read again for the limit's spread; the limit is the fastest read.
    assert.ok(cold.spread.min <= best && best <= cold.spread.max, JSON.stringify(cold.spread));
    assert.equal(cold.gbps, cold.spread.max);
    assert.ok(cold.gbps > 0.01, `${cold.gbps} GB/s`);
    assert.ok((await probeWarm([path])).gbps > 0.05);
  });
});

Deno.test("a probe writes and removes its file, and reports every limit", async () => {
  await withTempDir(async (dir) => {
    const steps = new Set<string>();
    const { limits, trials } = await probeMachine({
      path: dir,
      probeFileBytes: 64 * MIB,
      blockSizes: [MIB],
      depths: [1, 4],
      trialBytes: 16 * MIB,
      onStep: (step) => steps.add(step.step),
    });
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the probe file is gone");
    assert.deepEqual([...steps], [
      "write",
      ...(limits.storage.cold ? ["cold"] : []),
      "warm",
      "memory",
    ]);
    assert.equal(trials.length, limits.storage.cold ? 2 : 0);
    assert.ok(limits.storage.warm.gbps > 0 && limits.memoryCopyGBps > 0);
    assert.equal(limits.key, await limitsKey(dir));
    assert.ok(Date.now() - Date.parse(limits.measuredAt) < 60_000);
  });
});

Deno.test("an interrupted probe leaves no probe file", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    await assert.rejects(
      () =>
        probeMachine({
          path: dir,
          probeFileBytes: 256 * MIB,
          signal: controller.signal,
          onStep: (step) => {
            if (step.step === "write" && step.done >= 32 * MIB) controller.abort(new Error("stop"));
          },
        }),
      /stop/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

const LIMITS: MachineLimits = {
  measuredAt: new Date().toISOString(),
  key: "host|8:1|xfs|/dev/sda1|no-gpu",
  storage: { path: "/models", cold: { gbps: 2, blockSize: 8 * MIB, depth: 4 }, warm: { gbps: 10 } },
  memoryCopyGBps: 20,
  devices: [{
    id: "cuda:0",
    pinnedH2DGBps: 25,
    pageableH2DGBps: 12,
    pinnedD2HGBps: 26,
    pageableD2HGBps: 10,
  }],
};

Deno.test("limits are cached per key, atomically, and stale or foreign entries are ignored", async () => {
  await withTempDir(async (dir) => {
    assert.equal(await readCachedLimits(LIMITS.key, dir), undefined);
    const path = await writeCachedLimits(LIMITS, dir);
    assert.equal(path, limitsPath(LIMITS.key, dir));
    assert.deepEqual(await readCachedLimits(LIMITS.key, dir), LIMITS);
    assert.equal(
      await readCachedLimits(LIMITS.key, dir, Date.now() + LIMITS_MAX_AGE_MS + 1),
      undefined,
    );
    assert.notEqual(limitsPath("other|key", dir), path);
    await Deno.writeTextFile(path, "{ truncated");
    assert.equal(await readCachedLimits(LIMITS.key, dir), undefined);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [path.split("/").pop()]);
  });
});

Deno.test("each case is rated against the limit that bounds it", () => {
  assert.deepEqual(limitFor("cold", "host", 1, LIMITS), {
    fraction: 0.5,
    limit: "storage (O_DIRECT)",
    limitGBps: 2,
  });
  assert.deepEqual(limitFor("warm", "host", 5, LIMITS), {
    fraction: 0.5,
    limit: "page cache",
    limitGBps: 10,
  });
  assert.deepEqual(limitFor("warm", "cuda:0", 20, LIMITS), {
    fraction: 0.8,
    limit: "cuda:0 pinned h2d",
    limitGBps: 25,
  });
  assert.equal(limitFor("warm", "cuda:1", 20, LIMITS), null, "a device that was not probed");
  assert.equal(
    limitFor("cold", "host", 1, { ...LIMITS, storage: { ...LIMITS.storage, cold: null } }),
    null,
  );
  assert.equal(limitFor("cold", "host", 1, null), null);
});

Deno.test("weights too small to measure are not probed", async () => {
  await withTempDir(async (dir) => {
    const path = await randomFile(dir, MIB);
    assert.equal(await limitsForFiles([path], { dir: join(dir, "limits") }), undefined);
  });
});

Deno.test("the limits are measured the same way whichever weights ran first", async () => {
  await withTempDir(async (dir) => {
    const measured = [];
    for (const [name, size] of [["small", 64 * MIB], ["large", 96 * MIB]] as const) {
      await Deno.mkdir(join(dir, name));
      const weights = await randomFile(join(dir, name), size);
      const found = await limitsForFiles([weights], {
        dir: join(dir, `limits-${name}`),
        probeFileBytes: 64 * MIB,
      });
      assert.ok(found !== undefined && !found.cached);
      measured.push(found.limits);
      assert.deepEqual(
        [...Deno.readDirSync(join(dir, name))].map((e) => e.name),
        [weights.split("/").at(-1)],
        "the probe file is gone",
      );
    }
    for (const limits of measured) {
      assert.deepEqual(limits.storage.method, { source: "probe file", bytes: 64 * MIB });
      const { warm } = limits.storage.spread!;
      assert.ok(warm.min <= limits.storage.warm.gbps && limits.storage.warm.gbps === warm.max);
    }
  });
});

Deno.test("where no probe file can be written, the probe reads the fallback files and says so", async () => {
  await withTempDir(async (dir) => {
    const weights = join(dir, "w.bin");
    await Deno.writeFile(weights, new Uint8Array(16 * MIB).fill(7));
    // 1 byte is below the smallest probe file: writing one is refused.
    const options = {
      path: dir,
      probeFileBytes: 1,
      devices: false,
      blockSizes: [MIB],
      depths: [1],
    };
    await assert.rejects(
      probeMachine(options),
      /Not enough free space .* for a \d+-byte probe file/,
    );
    const { limits } = await probeMachine({ ...options, fallbackFiles: [weights] });
    assert.deepEqual(limits.storage.method, { source: "weights", bytes: 16 * MIB });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.bin"]);
  });
});
