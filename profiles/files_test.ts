import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../bench/util/errors.ts";
import { syntheticProfile } from "./_synthetic.ts";
import { caseStats } from "./case_stats.ts";
import { readProfile, writeProfile } from "./files.ts";
import { parseProfile, SCHEMA_VERSION } from "./schema.ts";
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
        /schemaVersion 99 is newer than 2, the newest this weightbench reads/,
      ],
      [
        "foreign.json",
        JSON.stringify({ hello: "world" }),
        /schemaVersion: missing, not a weightbench profile/,
      ],
      [
        "broken.json",
        JSON.stringify({ ...JSON.parse(good), cases: [{ id: 3 }] }),
        /broken\.json": cases\[0\]\.id: /,
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

Deno.test("the schema refuses impossible profiles, naming the field", () => {
  const good = JSON.parse(JSON.stringify(syntheticProfile()));
  const sample = good.cases[0].samples[1];
  const broken: [string, unknown, RegExp][] = [
    [
      "a negative duration",
      { ...good, cases: [{ ...good.cases[0], samples: [{ ...sample, durationMs: -3 }] }] },
      /cases\[0\]\.samples\[0\]\.durationMs: must be more than 0/,
    ],
    [
      "an infinite duration (null in JSON)",
      JSON.parse(JSON.stringify({ ...good, run: { ...good.run, durationMs: Infinity } })),
      /run\.durationMs: /,
    ],
    [
      "a repeated case id",
      { ...good, cases: [good.cases[0], good.cases[0]] },
      /cases\[1\]\.id: case id ".*" repeats cases\[0\]/,
    ],
    [
      "a completed case without timed samples",
      { ...good, cases: [{ ...good.cases[0], samples: [] }] },
      /cases\[0\]\.samples: completed case ".*" has no timed samples/,
    ],
    [
      "an unknown key",
      { ...good, environment: { ...good.environment, shoeSize: 44 } },
      /environment: unknown key "shoeSize"/,
    ],
    [
      "a span that ends before it starts",
      {
        ...good,
        cases: [{
          ...good.cases[0],
          samples: [{ ...sample, spans: [{ phase: "read", start: 5, end: 1 }] }],
        }],
      },
      /cases\[0\]\.samples\[0\]\.spans\[0\]: span ends before it starts/,
    ],
  ];
  for (const [what, json, pattern] of broken) {
    assert.throws(() => parseProfile(json, "p.json"), (error: unknown) => {
      assert.ok(error instanceof InputError, `${what}: ${error}`);
      assert.match(error.message, /^Cannot read profile "p\.json": /, what);
      assert.match(error.message, pattern, what);
      return true;
    });
  }
});

Deno.test("a version-1 profile is read as the current layout", () => {
  const current = JSON.parse(JSON.stringify(syntheticProfile()));
  const v1 = {
    ...current,
    schemaVersion: 1,
    cases: current.cases.map((c: { samples: { bytes: number }[]; stats: unknown }) => {
      const { verification: _, ...stats } = { verification: 0, ...(c.stats ?? {}) };
      return {
        ...c,
        samples: c.samples.map((
          { verification: _, ...s }: { verification?: unknown; bytes: number },
        ) => ({
          ...s,
          verified: true,
        })),
        stats: c.stats === null ? null : { ...stats, verified: { passed: 5, samples: 5 } },
      };
    }),
  };
  const read = parseProfile(v1, "old.json");
  assert.equal(read.schemaVersion, SCHEMA_VERSION);
  assert.deepEqual(read.cases, current.cases);
});
