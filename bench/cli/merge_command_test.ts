/**
 * Fleet runs end to end, as subprocesses with the tasks' permissions:
 * `bench --shard I/N` on the sharded testdata, `merge` of the shards, then
 * `report` and `compare` of the merged profile; a three-member herd started
 * through a barrier; and one clear line for every bad shard spec and every
 * merge that must be refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readProfile } from "../../profiles/files.ts";
import { herdSummary } from "../compare/herd.ts";
import { assertInputError, cli, listTree, tempDir, TESTDATA } from "./_cli_testing.ts";

const SHARDED = `${TESTDATA}/tiny-sharded`;
const FAST = [
  "--weights",
  SHARDED,
  "--strategy",
  "full-read,mmap,parallel,direct",
  "--runs",
  "3",
  "--warmup",
  "0",
  "--no-probe",
];

function line(text: string, prefix: string): string {
  const found = text.split("\n").find((l) => l.startsWith(prefix));
  assert.ok(found, `no "${prefix}" line in:\n${text}`);
  return found.slice(prefix.length).trim();
}

Deno.test("bench --shard 1/3..3/3, merge, report, compare: every planned case exactly once", async () => {
  await using dir = await tempDir();
  const shards = join(dir.path, "shards");
  const plan = await cli(["bench", ...FAST, "--dry-run", "--json"]);
  assert.equal(plan.code, 0, plan.stderr);
  const planned = (JSON.parse(plan.stdout) as { cases: { id: string }[] }).cases.map((c) => c.id);
  assert.equal(planned.length, 8);

  for (const index of [1, 2, 3]) {
    const result = await cli(["bench", ...FAST, "--shard", `${index}/3`, "--out", shards]);
    assert.equal(result.code, 0, `shard ${index}:\n${result.stdout}\n${result.stderr}`);
    const profile = await readProfile(line(result.stdout, "profile: "));
    assert.equal(profile.shard?.mode, "shard");
    assert.equal(profile.shard?.index, index);
    assert.equal(profile.shard?.count, 3);
    assert.equal(profile.shard?.plan.cases, 8);
    assert.ok(profile.node?.name, "the node is recorded");
    assert.match(profile.id, new RegExp(`-shard-${index}-of-3$`));
  }

  const out = join(dir.path, "merged.json");
  const merged = await cli(["merge", shards, "-o", out]);
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /quick: 8 cases from 3 shards on 1 node/);
  assert.equal(line(merged.stdout, "merged: "), out);
  const profile = await readProfile(out);
  assert.deepEqual(profile.cases.map((c) => c.id), planned, "every case once, in plan order");
  assert.deepEqual(profile.cases.map((c) => c.node), [0, 1, 2, 0, 1, 2, 0, 1]);
  assert.ok(profile.cases.every((c) => c.state === "completed"), "completed");
  assert.deepEqual(profile.nodes?.map((n) => n.shard?.index), [1, 2, 3]);
  assert.deepEqual(profile.merged, { mode: "shards", sources: 3, missing: [] });

  const html = join(dir.path, "merged.html");
  const report = await cli(["report", out, "-o", html]);
  assert.equal(report.code, 0, report.stderr);
  const page = await Deno.readTextFile(html);
  assert.ok(page.includes("<th>node</th>"), "a node column in the summary");
  assert.ok(page.includes('<table class="nodes">'), "a table of the nodes");
  assert.ok(page.includes("nodes-env"), "the environment per node");
  assert.ok(page.includes("shard 3/3"));
  const markdown = await cli(["report", out, "--format", "markdown"]);
  assert.match(markdown.stdout, /\| case \| node \| median \|/);

  const whole = await cli(["bench", ...FAST, "--out", join(dir.path, "whole")]);
  assert.equal(whole.code, 0, whole.stderr);
  const compared = await cli(["compare", line(whole.stdout, "profile: "), out, "--format", "json"]);
  assert.ok(compared.code === 0 || compared.code === 1, compared.stderr);
  const comparison = JSON.parse(compared.stdout) as {
    cases: { id: string; current: { node?: string } | null }[];
  };
  assert.deepEqual(comparison.cases.map((c) => c.id), planned, "matched case by case");
  assert.ok(comparison.cases.every((c) => typeof c.current?.node === "string"), "with its node");

  const combined = await cli(["merge", line(whole.stdout, "profile: "), out, "-o", out]);
  await assertInputError(combined, ["Refusing to write the merged profile over its input"]);
});

Deno.test("bench --shard 9/9 of an 8-case plan writes an empty profile and says so", async () => {
  await using dir = await tempDir();
  const result = await cli(["bench", ...FAST, "--shard", "9/9", "--out", dir.path]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /shard 9\/9 has no cases: the plan has 8, fewer than 9 shards/);
  const profile = await readProfile(line(result.stdout, "profile: "));
  assert.deepEqual(profile.cases, []);
  assert.equal(profile.shard?.index, 9);
});

Deno.test("bench --herd I/3 --barrier: three members start together; merge shows each node", async () => {
  await using dir = await tempDir();
  const barrier = join(dir.path, "barrier");
  const out = join(dir.path, "herd");
  const members = await Promise.all([1, 2, 3].map((index) =>
    cli([
      "bench",
      ...FAST,
      "--scenario",
      "herd",
      "--runs",
      "2",
      "--strategy",
      "full-read,mmap",
      "--herd",
      `${index}/3`,
      "--barrier",
      barrier,
      "--slot",
      "250ms",
      "--node-label",
      `member-${index}`,
      "--out",
      out,
    ])
  ));
  for (const [i, m] of members.entries()) {
    assert.equal(m.code, 0, `member ${i + 1}:\n${m.stdout}\n${m.stderr}`);
    assert.match(m.stderr, new RegExp(`herd ${i + 1}/3 on member-${i + 1}: first load at `));
  }
  const merged = join(dir.path, "merged.json");
  const result = await cli(["merge", out, "-o", merged]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /herd of 3: synchronised start .* \(barrier .*\), one load every 0.25 s/,
  );
  const profile = await readProfile(merged);
  assert.equal(profile.merged?.mode, "herd");
  assert.equal(profile.cases.length, 6, "2 cold cases on each of 3 nodes");
  const summary = herdSummary(profile)!;
  assert.deepEqual(summary.nodes, ["member-1", "member-2", "member-3"]);
  for (const c of summary.cases) {
    assert.equal(c.nodes.length, 3);
    assert.ok(c.nodes.every((n) => n.medianMs !== null && n.medianMs > 0), c.id);
    assert.ok(c.startSkewMs !== null && c.startSkewMs < 250, `${c.id}: skew ${c.startSkewMs}`);
    assert.ok(c.spread !== null && c.spread >= 1);
  }
  const starts = profile.nodes!.map((n) => n.shard?.start?.startAt);
  assert.equal(new Set(starts).size, 1, "one T0 for all");
});

const BAD_FLEET_FLAGS: { args: string[]; expected: (string | RegExp)[] }[] = [
  { args: ["--shard", "3/2"], expected: [`Invalid --shard "3/2"`, "shard 3 of 2 does not exist"] },
  { args: ["--shard", "0/0"], expected: [`Invalid --shard "0/0"`, "N must be at least 1"] },
  { args: ["--shard", "a/b"], expected: [`Invalid --shard "a/b"`, "expected I/N"] },
  {
    args: ["--shard", "1/2", "--herd", "1/2"],
    expected: ["--shard and --herd do not go together"],
  },
  { args: ["--start-at", "+1s"], expected: ["--start-at needs --herd I/N"] },
  { args: ["--herd", "1/2", "--start-at", "soon"], expected: [`Invalid --start-at "soon"`] },
  { args: ["--herd", "1/2", "--slot", "2s"], expected: ["--slot needs --start-at or --barrier"] },
];

for (const bad of BAD_FLEET_FLAGS) {
  Deno.test(`bench rejects ${bad.args.join(" ")}: exit 2, one line, nothing written`, async () => {
    await using out = await tempDir();
    const result = await cli(["bench", "--weights", SHARDED, ...bad.args, "--out", out.path]);
    await assertInputError(result, bad.expected, out.path);
  });
}

Deno.test("merge refuses a missing shard by name, other scenarios, and bad arguments", async () => {
  await using dir = await tempDir();
  const shards = join(dir.path, "shards");
  const first = await cli([
    "bench",
    ...FAST,
    "--strategy",
    "mmap",
    "--shard",
    "1/3",
    "--out",
    shards,
  ]);
  assert.equal(first.code, 0, first.stderr);
  const path = line(first.stdout, "profile: ");
  const out = join(dir.path, "merged.json");
  await assertInputError(await cli(["merge", path, "-o", out]), [
    'Missing shards 2/3 and 3/3 of "quick"',
    path,
  ]);
  assert.deepEqual(
    await listTree(dir.path).then((l) => l.filter((p) => p.endsWith("merged.json"))),
    [],
  );

  const partial = await cli(["merge", path, "-o", out, "--allow-missing"]);
  assert.equal(partial.code, 0, partial.stderr);
  assert.match(
    partial.stderr,
    /warning: Merged without shard 2\/3 of "quick", shard 3\/3 of "quick"/,
  );
  assert.match(partial.stdout, /missing: shard 2\/3 of "quick"/);

  const other = await cli([
    "bench",
    ...FAST,
    "--scenario",
    "herd",
    "--strategy",
    "mmap",
    "--shard",
    "2/3",
    "--out",
    join(dir.path, "other"),
  ]);
  assert.equal(other.code, 0, other.stderr);
  await assertInputError(await cli(["merge", path, line(other.stdout, "profile: "), "-o", out]), [
    "Cannot merge profiles of different scenarios",
    `ran "quick"`,
    `ran "herd"`,
    "--combine",
  ]);
  await assertInputError(await cli(["merge", path]), ["Missing -o OUT"]);
  await assertInputError(await cli(["merge", "-o", out]), ["Missing PROFILE"]);
  await assertInputError(await cli(["merge", join(dir.path, "nope.json"), "-o", out]), [
    "nope.json",
  ]);
  await Deno.writeTextFile(join(dir.path, "junk.json"), "{}");
  await assertInputError(await cli(["merge", join(dir.path, "junk.json"), "-o", out]), [
    "junk.json",
    "not a weightbench profile",
  ]);
});
