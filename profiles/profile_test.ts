import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../bench/util/errors.ts";
import { syntheticProfile } from "./_synthetic.ts";
import { caseStats, readProfile, SCHEMA_VERSION, writeProfile } from "./profile.ts";
import { withTempDir } from "../bench/util/testing.ts";

Deno.test("a written profile reads back whole, and no temporary file stays", async () => {
  await withTempDir(async (dir) => {
    const profile = syntheticProfile();
    const path = await writeProfile(profile, join(dir, "runs"));
    assert.equal(path, join(dir, "runs", `${profile.id}.json`));
    assert.deepEqual(await readProfile(path), JSON.parse(JSON.stringify(profile)));
    assert.deepEqual([...Deno.readDirSync(join(dir, "runs"))].map((e) => e.name), [
      `${profile.id}.json`,
    ]);
    const second = await writeProfile(profile, join(dir, "runs"));
    assert.equal(
      second,
      join(dir, "runs", `${profile.id}-1.json`),
      "a second run never overwrites the first",
    );
    assert.equal(await Deno.readTextFile(path), await Deno.readTextFile(second));
  });
});

Deno.test("profiles carry their schema version, environment and statistics", () => {
  const profile = syntheticProfile();
  assert.equal(profile.schemaVersion, SCHEMA_VERSION);
  assert.equal(profile.environment.host, "bench-host");
  const completed = profile.cases.filter((c) => c.state === "completed");
  assert.equal(completed.length, 4);
  for (const c of completed) {
    assert.equal(c.stats!.samples, 5, "the warmup sample is left out");
    assert.equal(c.samples.length, 6, "but kept in the profile");
    assert.ok(c.stats!.durationMs.ci.low <= c.stats!.durationMs.median);
    assert.ok(c.stats!.throughputGBps.low <= c.stats!.throughputGBps.median);
    assert.equal(c.stats!.verifyMs!.median, 300, "verify is measured after the load");
    assert.equal(c.stats!.phases.verify, undefined, "and is not a load phase");
  }
  assert.equal(profile.cases[4]!.reason, "not on this target");
  assert.equal(profile.cases[5]!.error, 'Tensor "w" differs on host');
});

Deno.test("statistics ignore warmups and say when the cache state was not established", () => {
  const profile = syntheticProfile();
  const samples = profile.cases[0]!.samples.map((s, i) => ({
    ...s,
    cache: { ...s.cache, established: i % 2 === 0 },
  }));
  const stats = caseStats(samples)!;
  assert.equal(stats.samples, 5);
  assert.equal(stats.cache.established, 2);
  assert.equal(caseStats(samples.slice(0, 1)), null, "only a warmup: no statistics");
});

Deno.test("bad profiles are input errors that name the file and the problem", async () => {
  await withTempDir(async (dir) => {
    const write = async (name: string, text: string) => {
      const path = join(dir, name);
      await Deno.writeTextFile(path, text);
      return path;
    };
    const good = JSON.stringify(syntheticProfile());
    const cases: [string, string, RegExp][] = [
      [
        "truncated.json",
        good.slice(0, good.length / 2),
        /truncated\.json": not valid JSON \(truncated\?\)/,
      ],
      [
        "future.json",
        JSON.stringify({ ...JSON.parse(good), schemaVersion: 99 }),
        /schemaVersion 99 is not 1/,
      ],
      [
        "foreign.json",
        JSON.stringify({ hello: "world" }),
        /no schemaVersion, not a weightbench profile/,
      ],
      [
        "broken.json",
        JSON.stringify({ ...JSON.parse(good), cases: [{ id: 3 }] }),
        /broken\.json": cases\.0\.id: /,
      ],
    ];
    for (const [name, text, pattern] of cases) {
      const path = await write(name, text);
      await assert.rejects(() => readProfile(path), (error: unknown) => {
        assert.ok(error instanceof InputError, String(error));
        assert.match(error.message, pattern);
        return true;
      });
    }
    await assert.rejects(
      () => readProfile(join(dir, "missing.json")),
      /Cannot read profile .*missing\.json/,
    );
  });
});
