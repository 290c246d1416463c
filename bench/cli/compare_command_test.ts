/**
 * `compare` as a subprocess, with its task's permissions: exit codes 0, 1
 * and 2, the formats, and baselines written only when asked.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import type { Profile } from "../../profiles/schema.ts";
import { variantProfile } from "../compare/_testing.ts";
import { fingerprintOf } from "../compare/fingerprint.ts";
import { assertInputError, cli, listTree, tempDir } from "./_cli_testing.ts";

async function write(dir: string, name: string, profile: Profile): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, JSON.stringify(profile));
  return path;
}

const slower = () =>
  variantProfile({
    durations: (c, ms) => c.id.includes("/mmap/") && c.cache === "cold" ? ms * 1.25 : ms,
  });

Deno.test("compare exits 0 without a regression and 1 with one", async () => {
  await using dir = await tempDir();
  const base = await write(dir.path, "base.json", syntheticProfile());
  const same = await cli(["compare", base, base]);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /6 cases: .*4 unchanged|6 cases: .*unchanged/);
  assert.doesNotMatch(same.stdout, /regression:/);

  const current = await write(dir.path, "current.json", slower());
  const regressed = await cli(["compare", base, current, "--format", "markdown"]);
  assert.equal(regressed.code, 1, regressed.stderr);
  assert.match(regressed.stdout, /^### Regression: /);
  assert.match(
    regressed.stdout,
    /\| `llama-3-8b-512MiB-F16-2shards\/mmap\/host\/cold` \|.*\*\*regression\*\*/,
  );

  const json = await cli(["compare", base, current, "--format", "json", "--threshold", "30%"]);
  assert.equal(json.code, 0, "a 25% slowdown is within a 30% threshold");
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.threshold, 0.3);
  assert.equal(
    parsed.cases.find((c: { id: string }) => c.id.endsWith("mmap/host/cold")).status,
    "unchanged",
  );
});

Deno.test("compare refuses profiles of different machines unless --cross-machine, then warns", async () => {
  await using dir = await tempDir();
  const base = await write(dir.path, "base.json", syntheticProfile());
  const other = await write(
    dir.path,
    "other.json",
    variantProfile({ environment: { cpu: { model: "Another CPU", cores: 96 } } }),
  );
  await assertInputError(await cli(["compare", base, other]), [
    `Cannot compare "${base}" and "${other}": they come from different machines (CPU: `,
    "pass --cross-machine to compare them anyway",
  ]);
  const result = await cli([
    "compare",
    base,
    other,
    "--format",
    "json",
    "--by",
    "efficiency",
    "--cross-machine",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /warning: The profiles come from different machines \(CPU: /);
  assert.match(result.stderr, /warning: The baseline profile has no machine limits/);
});

Deno.test("compare is a gate: a dropped case fails, nothing in common is bad input", async () => {
  await using dir = await tempDir();
  const profile = syntheticProfile();
  const base = await write(dir.path, "base.json", profile);
  const dropped = await write(dir.path, "dropped.json", {
    ...profile,
    cases: profile.cases.slice(1),
  });
  const failed = await cli(["compare", base, dropped, "--format", "markdown"]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stdout, /^### Failed: 6 cases: .*1 missing.*; 1 fails the gate$/m);
  assert.match(failed.stdout, /\*\*missing\*\*: in the baseline only: the current run dropped it/);
  const allowed = await cli(["compare", base, dropped, "--allow-missing"]);
  assert.equal(allowed.code, 0, allowed.stderr);

  const unrelated = await write(dir.path, "unrelated.json", {
    ...profile,
    cases: profile.cases.map((c) => ({ ...c, id: `elsewhere/${c.id}` })),
  });
  await assertInputError(await cli(["compare", base, unrelated]), [
    `Nothing to compare: "${base}" and "${unrelated}" have no case in common`,
  ]);
});

Deno.test("compare writes a baseline only with --update-baseline", async () => {
  await using dir = await tempDir();
  const baselines = join(dir.path, "baselines");
  const base = await write(dir.path, "base.json", syntheticProfile());
  const current = await write(dir.path, "current.json", slower());
  await cli(["compare", base, current, "--baselines", baselines]);
  assert.deepEqual(await listTree(baselines), []);

  const updated = await cli([
    "compare",
    base,
    current,
    "--update-baseline",
    "--baselines",
    baselines,
  ]);
  assert.equal(updated.code, 1, "the comparison's verdict still decides the exit code");
  const name = `${fingerprintOf(syntheticProfile()).slug}.json`;
  assert.match(updated.stderr, new RegExp(`baseline written: .*${name}`));
  assert.deepEqual(await listTree(baselines), [name]);

  const first = await cli(["compare", current, "--update-baseline", "--baselines", baselines]);
  assert.equal(first.code, 0, first.stderr);
});

Deno.test("compare rejects bad input with one line and exit 2", async () => {
  await using dir = await tempDir();
  const base = await write(dir.path, "base.json", syntheticProfile());
  await assertInputError(await cli(["compare", base]), [
    "Expected BASELINE and CURRENT profiles, got 1 argument",
  ]);
  await assertInputError(await cli(["compare", base, join(dir.path, "nope.json")]), [
    'Cannot read profile "',
    "nope.json",
  ]);
  await Deno.writeTextFile(join(dir.path, "other.json"), '{"hello": 1}');
  await assertInputError(await cli(["compare", base, join(dir.path, "other.json")]), [
    "schemaVersion: missing, not a weightbench profile",
  ]);
  await assertInputError(await cli(["compare", base, base, "--threshold", "5"]), [
    'Invalid --threshold "5"',
  ]);
  await assertInputError(await cli(["compare", base, base, "--format", "html"]), [
    'Invalid --format "html"',
  ]);
  await assertInputError(await cli(["compare", base, base, "--alpha", "0"]), [
    'Invalid --alpha "0"',
  ]);
});
