import assert from "node:assert/strict";
import {
  COLD_MAX_RESIDENT,
  evictFromPageCache,
  judge,
  measureResidency,
  prepareCacheState,
  WARM_MIN_RESIDENT,
} from "./cache_state.ts";
import {
  fileSystemOf,
  removeThroughLibc,
  SHM,
  SHM_IS_TMPFS,
  testUnless,
  writeFileThroughLibc,
} from "../util/testing.ts";

async function tempFile(bytes: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "weightbench-cache-state-" });
  const data = new Uint8Array(bytes);
  crypto.getRandomValues(data.subarray(0, 65536));
  await Deno.writeFile(path, data);
  return path;
}

async function onTmpfs(path: string): Promise<boolean> {
  const type = await fileSystemOf(path);
  return type === "tmpfs" || type === "ramfs";
}

Deno.test("warm reads the whole file into the page cache", async () => {
  const path = await tempFile(8 << 20);
  try {
    const outcome = prepareCacheState("warm", [path]);
    assert.equal(outcome.established, true);
    assert.equal(outcome.residency.totalBytes, 8 << 20);
    assert.equal(outcome.residency.residentBytes, 8 << 20);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("cold drops the pages, and mincore sees them gone", async () => {
  const path = await tempFile(8 << 20);
  try {
    prepareCacheState("warm", [path]);
    if (await onTmpfs(path)) {
      const outcome = prepareCacheState("cold", [path]);
      assert.equal(outcome.established, false, "tmpfs cannot drop pages, and must say so");
      console.log("cold test on tmpfs: checked that the state is reported as not established");
      return;
    }
    const outcome = prepareCacheState("cold", [path]);
    assert.equal(outcome.established, true);
    assert.ok(outcome.residency.fraction <= COLD_MAX_RESIDENT, `${outcome.residency.fraction}`);
    // reading a part brings exactly that part back
    using file = await Deno.open(path);
    await file.read(new Uint8Array(1 << 20));
    const after = measureResidency([path]);
    assert.ok(
      after.residentBytes >= 1 << 20 && after.residentBytes < 8 << 20,
      `${after.residentBytes}`,
    );
  } finally {
    await Deno.remove(path);
  }
});

testUnless(
  SHM_IS_TMPFS ? undefined : "no tmpfs at /dev/shm",
  "tmpfs pages cannot be evicted, and the outcome says so",
  () => {
    const path = `${SHM}/weightbench-cache-state-${crypto.randomUUID()}`;
    try {
      writeFileThroughLibc(path, new Uint8Array(1 << 20).fill(1));
      evictFromPageCache([path]);
      const outcome = judge("cold", measureResidency([path]));
      assert.equal(outcome.established, false);
      assert.equal(outcome.residency.fraction, 1);
    } finally {
      removeThroughLibc(path);
    }
  },
);

Deno.test("judge applies the thresholds", () => {
  const of = (fraction: number) => ({ residentBytes: fraction * 100, totalBytes: 100, fraction });
  assert.equal(judge("cold", of(0)).established, true);
  assert.equal(judge("cold", of(0.5)).established, false);
  assert.equal(judge("warm", of(WARM_MIN_RESIDENT)).established, true);
  assert.equal(judge("warm", of(0.5)).established, false);
});

Deno.test("empty files count as fully resident and a missing file is an error", async () => {
  const path = await Deno.makeTempFile();
  try {
    assert.equal(measureResidency([path]).fraction, 1);
    assert.throws(() => measureResidency([`${path}.missing`]), /ENOENT/);
  } finally {
    await Deno.remove(path);
  }
});
