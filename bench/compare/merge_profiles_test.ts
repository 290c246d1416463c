import assert from "node:assert/strict";
import type { Profile } from "../../profiles/schema.ts";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { herdSummary } from "./herd.ts";
import { type MergeInput, mergeProfiles } from "./merge_profiles.ts";
import { HERD_T0, herdProfiles, shardedProfiles } from "./_testing.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function edit(input: MergeInput, change: (p: Mutable<Profile>) => void): MergeInput {
  const profile = structuredClone(input.profile) as Mutable<Profile>;
  change(profile);
  return { ...input, profile };
}

Deno.test("merge: shards come back as the whole plan, each case once, on the node that ran it", () => {
  const whole = syntheticProfile();
  const shards = shardedProfiles(4);
  const { profile, warnings } = mergeProfiles([shards[2]!, shards[0]!, shards[3]!, shards[1]!], {
    command: ["merge", "a", "b"],
    now: new Date("2026-02-01T00:00:00.000Z"),
  });
  assert.deepEqual(warnings, []);
  assert.deepEqual(profile.cases.map((c) => c.id), whole.cases.map((c) => c.id));
  assert.deepEqual(profile.cases.map((c) => c.node), [0, 1, 2, 3, 0, 1]);
  assert.ok(profile.cases.every((c) => c.planId === undefined), "ids unchanged");
  assert.deepEqual(profile.merged, { mode: "shards", sources: 4, missing: [] });
  assert.deepEqual(profile.nodes!.map((n) => [n.key, n.label, n.source, n.cases]), [
    ["1", "gpu-01", "shard-1.json", 2],
    ["2", "gpu-02", "shard-2.json", 2],
    ["3", "gpu-03", "shard-3.json", 1],
    ["4", "gpu-04", "shard-4.json", 1],
  ]);
  assert.equal(profile.nodes![1]!.node?.scheduler?.taskId, "2");
  assert.equal(profile.environment.host, "4 nodes: gpu-01, gpu-02, gpu-03, gpu-04");
  assert.equal(profile.id, "2026-02-01T00-00-00-000Z-synthetic-merged");
  assert.deepEqual(profile.command, ["merge", "a", "b"]);
  assert.equal(profile.run.startedAt, "2026-01-01T00:01:00.000Z");
  assert.equal(profile.run.durationMs, 3 * 60_000 + 4_000, "first start to last end");
  assert.equal(profile.shard, undefined);
  // Statistics are kept as each node computed them.
  assert.deepEqual(profile.cases[2]!.stats, whole.cases[2]!.stats);
});

Deno.test("merge: more shards than cases, the empty shards still count as present", () => {
  const { profile } = mergeProfiles(shardedProfiles(8));
  assert.equal(profile.cases.length, 6);
  assert.equal(profile.nodes!.length, 8);
  assert.equal(profile.nodes![7]!.cases, 0);
});

Deno.test("merge: a missing shard is named, never dropped; --allow-missing records it", () => {
  const shards = shardedProfiles(3);
  assert.throws(
    () => mergeProfiles([shards[0]!]),
    /^InputError: Missing shards 2\/3 and 3\/3 of "synthetic": no profile among the 1 given \(1\/3 "shard-1.json"\) records them/,
  );
  const { profile, warnings } = mergeProfiles([shards[0]!, shards[2]!], { allowMissing: true });
  assert.deepEqual(profile.merged?.missing, ['shard 2/3 of "synthetic"']);
  assert.match(warnings[0]!, /Merged without shard 2\/3 of "synthetic"/);
  assert.equal(profile.cases.length, 4);
});

Deno.test("merge refuses, naming the files: different scenarios, plans, counts, kinds, twice, foreign cases", () => {
  const shards = shardedProfiles(2);
  const other = edit(shards[1]!, (p) => {
    p.scenario = { ...p.scenario, name: "herd" };
  });
  assert.throws(
    () => mergeProfiles([shards[0]!, other]),
    /Cannot merge profiles of different scenarios: "shard-1.json" ran "synthetic", "shard-2.json" ran "herd" \(--combine merges them anyway\)/,
  );
  const plan = edit(shards[1]!, (p) => {
    p.shard = { ...p.shard!, plan: { cases: 5, digest: "0000000000000000" } };
  });
  assert.throws(() => mergeProfiles([shards[0]!, plan]), /different plans of scenario "synthetic"/);
  const count = edit(shards[1]!, (p) => {
    p.shard = { ...p.shard!, count: 3 };
  });
  assert.throws(() => mergeProfiles([shards[0]!, count]), /different shard counts/);
  const whole = { profile: syntheticProfile(), source: "whole.json" };
  assert.throws(
    () => mergeProfiles([shards[0]!, whole]),
    /Cannot merge "shard-1.json" \(shard 1\/2\) with "whole.json" \(a whole run\)/,
  );
  assert.throws(
    () =>
      mergeProfiles([whole, {
        ...whole,
        profile: { ...whole.profile, id: "other" },
        source: "b.json",
      }]),
    /neither is a shard/,
  );
  const twice = edit(shards[0]!, (p) => {
    p.id = "another-id";
  });
  assert.throws(
    () => mergeProfiles([shards[0]!, twice, shards[1]!]),
    /Shard 1\/2 of "synthetic" given twice: "shard-1.json" and "shard-1.json"/,
  );
  assert.throws(() => mergeProfiles([shards[0]!, shards[0]!]), /they are the same profile/);
  const foreign = edit(shards[0]!, (p) => {
    p.cases = [...p.cases, shards[1]!.profile.cases[0]!];
  });
  assert.throws(
    () => mergeProfiles([foreign, shards[1]!]),
    /shard 1\/2 holds case ".*full-read\/host\/warm", which belongs to shard 2\/2/,
  );
  const lost = edit(shards[1]!, (p) => {
    p.cases = p.cases.slice(1);
  });
  assert.throws(
    () => mergeProfiles([shards[0]!, lost]),
    /they hold 5 cases, the plan 6; plan case 2 in no profile/,
  );
  const merged = mergeProfiles(shards).profile;
  assert.throws(
    () => mergeProfiles([{ profile: merged, source: "m.json" }]),
    /"m.json": it is already a merged profile/,
  );
  assert.throws(() => mergeProfiles([]), /Missing PROFILE/);
});

Deno.test("merge --combine: different scenarios side by side, repeated ids told apart by node", () => {
  const a = { profile: syntheticProfile(), source: "a.json" };
  const b = edit({ profile: syntheticProfile(), source: "b.json" }, (p) => {
    p.id = "b";
    p.scenario = { ...p.scenario, name: "nightly" };
    p.environment = { ...p.environment, host: "other-host" };
  });
  const { profile } = mergeProfiles([a, b], { combine: true });
  assert.equal(profile.merged?.mode, "combined");
  assert.equal(profile.scenario.name, "synthetic + nightly");
  assert.equal(profile.cases.length, 12);
  assert.equal(new Set(profile.cases.map((c) => c.id)).size, 12);
  assert.equal(profile.cases[0]!.id, `${a.profile.cases[0]!.id}@1`);
  assert.equal(profile.cases[6]!.id, `${a.profile.cases[0]!.id}@2`);
  assert.equal(profile.cases[6]!.planId, a.profile.cases[0]!.id);
  // Shards are still checked when combined.
  assert.throws(
    () => mergeProfiles([a, shardedProfiles(2)[0]!], { combine: true }),
    /Missing shard 2\/2 of "synthetic"/,
  );
});

Deno.test("merge of a herd: every member's copy of each case, per-node times, spread and skew", () => {
  const { profile } = mergeProfiles(herdProfiles(3));
  assert.equal(profile.merged?.mode, "herd");
  assert.equal(profile.cases.length, 18);
  assert.deepEqual(
    profile.cases.slice(0, 3).map((c) => [c.id.replace(/^.*\//, ""), c.node]),
    [["cold@1", 0], ["cold@2", 1], ["cold@3", 2]],
  );
  const summary = herdSummary(profile)!;
  assert.equal(summary.members, 3);
  assert.deepEqual(summary.start, { startAt: HERD_T0, slotMs: 10_000, source: "start-at" });
  assert.equal(summary.cases.length, 6);
  const cold = summary.cases[0]!;
  assert.deepEqual(cold.nodes.map((n) => n.label), ["node-1", "node-2", "node-3"]);
  assert.ok(Math.abs(cold.slowestMs! / cold.fastestMs! - 2) < 1e-9);
  assert.equal(cold.startSkewMs, 2);
  assert.ok(cold.fleetGBps! > 0);
  const skipped = summary.cases[4]!;
  assert.equal(skipped.spread, null);
  assert.deepEqual(skipped.nodes.map((n) => n.state), ["skipped", "skipped", "skipped"]);
  assert.equal(herdSummary(syntheticProfile()), null);
  const oneMachine = mergeProfiles(
    herdProfiles(2).map((m) =>
      edit(m, (p) => {
        p.node = { ...p.node!, name: "vm" };
      })
    ),
  ).profile;
  assert.deepEqual(herdSummary(oneMachine)!.nodes, ["vm #1", "vm #2"]);
  // A member that ran other cases is refused.
  const herd = herdProfiles(2);
  const short = edit(herd[1]!, (p) => {
    p.cases = p.cases.slice(1);
  });
  assert.throws(
    () => mergeProfiles([herd[0]!, short]),
    /herd member 2\/2 holds 5 cases, its plan 6/,
  );
});
