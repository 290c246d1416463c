import assert from "node:assert/strict";
import { withTempDir } from "../util/testing.ts";
import { baselinePath, findBaseline, writeBaseline } from "./baseline.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { variantProfile } from "./_testing.ts";

Deno.test("a baseline is found by the machine's fingerprint, and replaced only when asked", async () => {
  await withTempDir(async (dir) => {
    const first = variantProfile({ commit: "aaaa" });
    const path = await writeBaseline(dir, first, { replace: false });
    assert.equal(path, `${dir}/${fingerprintOf(first).slug}.json`);
    assert.equal(baselinePath(dir, first), path);

    const second = variantProfile({ commit: "bbbb" });
    await assert.rejects(
      () => writeBaseline(dir, second, { replace: false }),
      /Baseline ".*" already exists: pass --update-baseline to replace it/,
    );
    assert.equal((await findBaseline(dir, second))!.profile.environment.git.commit, "aaaa");
    await writeBaseline(dir, second, { replace: true });
    assert.equal((await findBaseline(dir, first))!.profile.environment.git.commit, "bbbb");
    // Atomic writes leave no temporary files behind.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      `${fingerprintOf(first).slug}.json`,
    ]);

    const otherMachine = variantProfile({ environment: { memoryBytes: 1024 ** 4 } });
    assert.equal(await findBaseline(dir, otherMachine), null);
  });
});

Deno.test("a corrupt baseline is an input error naming the file", async () => {
  await withTempDir(async (dir) => {
    const profile = variantProfile();
    await Deno.writeTextFile(baselinePath(dir, profile), "{ not json");
    await assert.rejects(
      () => findBaseline(dir, profile),
      /Cannot read profile ".*": not valid JSON/,
    );
  });
});
