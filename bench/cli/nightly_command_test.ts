/**
 * `nightly` end to end as a subprocess on the tiny checked-in weights: the
 * first run has no baseline, `--update-baseline` writes one, the next run
 * compares with it; every run adds to the history and writes its folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { assertInputError, cli, listTree, ROOT, tempDir, TESTDATA } from "./_cli_testing.ts";

Deno.test("nightly: no baseline, then --update-baseline, then a comparison", async () => {
  await using dir = await tempDir();
  const scenario = join(dir.path, "tiny.json");
  await Deno.writeTextFile(
    scenario,
    JSON.stringify({
      name: "tiny-nightly",
      weights: [join(ROOT, TESTDATA, "tiny-sharded")],
      strategies: ["full-read", "mmap"],
      targets: ["host"],
      cache: ["warm"],
      runs: 3,
      warmup: 0,
    }),
  );
  const history = join(dir.path, "history");
  const baselines = join(dir.path, "baselines");
  const run = (out: string, ...extra: string[]) =>
    cli([
      "nightly",
      "--scenario",
      scenario,
      "--no-probe",
      "--out",
      join(dir.path, out),
      "--history",
      history,
      "--baselines",
      baselines,
      ...extra,
    ]);

  const first = await run("one");
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /## weightbench nightly: passed/);
  assert.match(first.stdout, /No baseline for this machine/);
  const files = await listTree(join(dir.path, "one"));
  // The bench run's own files (its profile, and whatever else bench writes beside it), then
  // nightly's: the report against the baseline, the summary and the JSON.
  for (const name of ["nightly.json", "report.html", "summary.md"]) {
    assert.ok(files.includes(name), `${name} missing from ${files}`);
  }
  assert.equal(files.filter((f) => f.endsWith("-tiny-nightly.json")).length, 1);
  assert.equal(
    await Deno.readTextFile(join(dir.path, "one", "summary.md")),
    first.stdout.slice(first.stdout.indexOf("## weightbench nightly")).trimEnd() + "\n",
  );
  assert.deepEqual(await listTree(baselines), []);

  const second = await run("two", "--update-baseline");
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /Baseline updated: /);
  assert.equal((await listTree(baselines)).length, 1);

  const third = await run("three");
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /### Against the baseline: No regression: 2 cases: /);
  assert.match(third.stdout, /### Level shifts in the history \(3 runs\)/);
  const summary = JSON.parse(await Deno.readTextFile(join(dir.path, "three", "nightly.json")));
  assert.equal(summary.exitCode, 0);
  assert.equal(summary.history.runs, 3);
  assert.equal(summary.comparison.cases.length, 2);
  const machines = await listTree(history);
  assert.equal(machines.filter((p) => p.endsWith(".json")).length, 3);
});

Deno.test("nightly rejects bad flags with one line and exit 2", async () => {
  await using dir = await tempDir();
  await assertInputError(
    await cli(["nightly", "--threshold", "lots", "--out", dir.path]),
    ['Invalid --threshold "lots"'],
    dir.path,
  );
  await assertInputError(await cli(["nightly", "--by", "speed"]), ['Invalid --by "speed"']);
});
