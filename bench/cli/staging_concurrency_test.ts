/**
 * Runs that share a staging store and a profile folder, as on a CI runner or
 * a Slurm node: several real `bench` processes at once, one store, one
 * `--out`, every staging mode (cold starts that re-stage every sample, staged
 * loads through mmap and full reads), from a local folder and from HTTP.
 * Every run completes, no case errors, every profile is there and valid, and
 * the store is left clean and verified.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readProfile } from "../../profiles/files.ts";
import { generateFixture } from "../../fixtures/generate.ts";
import { LOOPBACK_SKIP, serveFolder } from "../stage/_testing.ts";
import { testUnless } from "../util/testing.ts";
import { cli, listTree, spawnCli, tempDir } from "./_cli_testing.ts";

const STRATEGIES = [
  { name: "prestaged", options: { mode: "cold-start", chunkSize: 1 << 20 } },
  { name: "prestaged", options: { mode: "staged", chunkSize: 1 << 20 } },
  { name: "prestaged", options: { mode: "staged", load: "full-read", chunkSize: 1 << 20 } },
];

async function runTogether(
  count: number,
  weights: string,
  dir: string,
  extra: readonly (object | string)[],
): Promise<{ code: number; stderr: string }[]> {
  const scenario = join(dir, "shared.json");
  await Deno.writeTextFile(
    scenario,
    JSON.stringify({
      name: "shared",
      weights: [weights],
      strategies: [...STRATEGIES, ...extra],
      targets: ["host"],
      cache: ["cold", "warm"],
      runs: 3,
      warmup: 1,
    }),
  );
  const runs = Array.from(
    { length: count },
    () =>
      spawnCli(["bench", "--scenario", scenario, "--no-probe", "--out", join(dir, "out")], {
        env: { WEIGHTBENCH_STAGING: join(dir, "staging") },
        limitMs: 90_000,
      }).done,
  );
  return await Promise.all(runs);
}

async function assertAllGood(
  dir: string,
  count: number,
  results: { code: number; stderr: string }[],
): Promise<void> {
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `run ${i + 1}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /error:|^\s+at /m, `run ${i + 1}`);
  }
  const out = join(dir, "out");
  const profiles = (await listTree(out)).filter((p) => p.endsWith(".json"));
  assert.equal(profiles.length, count, `one profile per run: ${profiles}`);
  let waited = 0;
  for (const name of profiles) {
    const profile = await readProfile(join(out, name));
    assert.equal(profile.run.state, "complete");
    assert.equal(`${profile.id}.json`, name, "one id for the run, the file's name");
    assert.match(profile.id, /-\d+-[0-9a-f]{8}-shared$/, "time, pid and random bytes");
    for (const c of profile.cases) {
      assert.equal(c.state, "completed", `${name}: ${c.id}: ${c.error ?? ""}`);
      waited += c.samples.filter((s) => s.spans.some((span) => span.phase === "wait")).length;
      for (const s of c.samples) {
        // A wait is never part of the load's time.
        const waits = s.spans.filter((span) => span.phase === "wait");
        for (const w of waits) assert.ok(w.start < s.durationMs, "a wait starts inside the load");
      }
    }
  }
  console.log(`${count} runs: ${waited} samples waited for another run's staging`);
  const staging = join(dir, "staging");
  assert.deepEqual(await listTree(join(staging, "tmp")), [], "no partial copy left");
  assert.deepEqual(await listTree(join(staging, "locks")), [], "no lock left");
  const verify = await cli(["stage", "--dir", staging, "--verify"]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /: 2 copies good .* 0 evicted/);
  const gc = await cli(["stage", "--dir", staging, "--gc"]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(
    gc.stdout,
    new RegExp(`${count} temporary entries`),
    "the runs' pins, now theirs no more",
  );
  assert.deepEqual(await listTree(join(staging, "pins")), []);
}

Deno.test("staging: 3 runs at once on one store and one --out, every staging mode, from a folder", async () => {
  await using tmp = await tempDir();
  const model = join(tmp.path, "model");
  await generateFixture({ layout: "llama-3.2-1b", size: 8 << 20, dtype: "F16", shards: 2 }, model);
  const results = await runTogether(3, model, tmp.path, ["mmap"]);
  await assertAllGood(tmp.path, 3, results);
});

testUnless(
  LOOPBACK_SKIP,
  "staging: 2 runs at once on one store and one --out, every staging mode, from HTTP",
  async () => {
    await using tmp = await tempDir();
    const model = join(tmp.path, "model");
    await generateFixture(
      { layout: "llama-3.2-1b", size: 8 << 20, dtype: "F16", shards: 2 },
      model,
    );
    await using server = serveFolder(model);
    const results = await runTogether(2, server.url, tmp.path, []);
    await assertAllGood(tmp.path, 2, results);
  },
);
