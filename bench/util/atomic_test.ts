import assert from "node:assert/strict";
import { join } from "node:path";
import { readProfile, writeProfile } from "../../profiles/files.ts";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { writeFileAtomic } from "./atomic.ts";
import { withTempDir } from "./testing.ts";

Deno.test("writeFileAtomic createNew: of writers racing for one name, exactly one wins", async () => {
  await withTempDir(async (dir) => {
    for (let trial = 0; trial < 20; trial++) {
      const path = join(dir, `race-${trial}.json`);
      const results = await Promise.allSettled(
        Array.from(
          { length: 6 },
          (_, i) => writeFileAtomic(path, `writer ${i}`, { createNew: true }),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(won, 1, `trial ${trial}: ${won} writers won`);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof Deno.errors.AlreadyExists);
      }
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(names.length, 20, `no temporary file left: ${names}`);
  });
});

Deno.test("writeProfile: 6 writers of one id at once keep 6 profiles, none over another", async () => {
  await withTempDir(async (dir) => {
    for (let trial = 0; trial < 10; trial++) {
      const out = join(dir, String(trial));
      const profiles = Array.from({ length: 6 }, (_, i) => ({
        ...syntheticProfile(),
        id: "same-id",
        command: [`writer-${i}`],
      }));
      const paths = await Promise.all(profiles.map((p) => writeProfile(p, out)));
      assert.equal(new Set(paths).size, 6, `trial ${trial}: ${paths}`);
      const writers = await Promise.all(paths.map(async (p) => (await readProfile(p)).command[0]));
      assert.deepEqual(writers.sort(), profiles.map((p) => p.command[0]).sort());
    }
  });
});
