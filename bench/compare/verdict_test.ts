import assert from "node:assert/strict";
import { around, measuredProfile, testLimits } from "./_testing.ts";

const LIMITS = testLimits(2);

import { MIN_SAMPLES_FOR_CI, profileVerdict } from "./verdict.ts";

Deno.test("a strategy clearly fastest is named, with its speed-up, its share of the limit, and sure", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "mmap", cache: "cold", durations: around(400) },
    { strategy: "direct", cache: "cold", durations: around(600) },
  ], { limits: LIMITS });
  const [group] = profileVerdict(profile).groups;
  const cold = group!.caches[0]!;
  assert.equal(cold.cache, "cold");
  assert.deepEqual(cold.ranking.map((c) => c.strategy), ["mmap", "direct", "full-read"]);
  assert.equal(cold.fastest.strategy, "mmap");
  assert.equal(cold.certainty, "sure");
  assert.deepEqual(cold.withinNoise, []);
  assert.ok(Math.abs(cold.fastest.vsFullRead! - 2) < 1e-9);
  // 512 MiB in 400 ms is 1.34 GB/s: 67% of a 2 GB/s storage.
  assert.ok(Math.abs(cold.fastest.ofLimit!.fraction - 0.671) < 0.001);
  assert.equal(cold.fullRead?.strategy, "full-read");
});

Deno.test("overlapping intervals are a tie, and every strategy within noise is named", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "warm", durations: around(100, 0.01) },
    { strategy: "mmap", cache: "warm", durations: around(50, 0.2) },
    { strategy: "prestaged", cache: "warm", durations: around(52, 0.2) },
    { strategy: "parallel", cache: "warm", durations: around(70, 0.01) },
  ]);
  const warm = profileVerdict(profile).groups[0]!.caches[0]!;
  assert.equal(warm.fastest.strategy, "mmap");
  assert.equal(warm.certainty, "tie");
  assert.deepEqual(warm.withinNoise.map((c) => c.strategy), ["prestaged"]);
});

Deno.test("too few samples for an interval: unsure, never a zero-width certainty", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: [800] },
    { strategy: "mmap", cache: "cold", durations: [400] },
  ]);
  const cold = profileVerdict(profile).groups[0]!.caches[0]!;
  assert.equal(cold.fastest.strategy, "mmap");
  assert.equal(cold.fastest.ci, null, `fewer than ${MIN_SAMPLES_FOR_CI} samples have no interval`);
  assert.equal(cold.certainty, "unsure");
  assert.deepEqual(cold.withinNoise, []);
});

Deno.test("one strategy alone, and no full-read to compare with", () => {
  const profile = measuredProfile([{ strategy: "mmap", cache: "cold", durations: around(400) }]);
  const cold = profileVerdict(profile).groups[0]!.caches[0]!;
  assert.equal(cold.certainty, "alone");
  assert.equal(cold.fastest.vsFullRead, null);
  assert.equal(cold.fullRead, null);
});

Deno.test("advice names one strategy when it is fastest or within noise in every state", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "sharded", cache: "cold", durations: around(400, 0.1) },
    { strategy: "mmap", cache: "cold", durations: around(410, 0.1) },
    { strategy: "full-read", cache: "warm", durations: around(160) },
    { strategy: "sharded", cache: "warm", durations: around(100) },
    { strategy: "mmap", cache: "warm", durations: around(60) },
  ]);
  const [advice] = profileVerdict(profile).advice;
  assert.equal(advice!.target, "host");
  assert.equal(advice!.picks.length, 1);
  const pick = advice!.picks[0]!;
  assert.equal(pick.strategy, "mmap", "within noise cold, fastest warm");
  assert.deepEqual(pick.caches.map((c) => [c.cache, c.fastest, c.fastestStrategy]), [
    ["cold", false, "sharded"],
    ["warm", true, "mmap"],
  ]);
  assert.ok(Math.abs(pick.caches[1]!.vsFullRead! - 160 / 60) < 0.01);
});

Deno.test("advice names one strategy per state when none is good in both", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "direct", cache: "cold", durations: around(400) },
    { strategy: "mmap", cache: "cold", durations: around(600) },
    { strategy: "full-read", cache: "warm", durations: around(160) },
    { strategy: "direct", cache: "warm", durations: around(300) },
    { strategy: "mmap", cache: "warm", durations: around(60) },
  ]);
  const [advice] = profileVerdict(profile).advice;
  assert.deepEqual(advice!.picks.map((p) => [p.strategy, p.caches.map((c) => c.cache)]), [
    ["direct", ["cold"]],
    ["mmap", ["warm"]],
  ]);
});

Deno.test("advice rests on the largest weights of each target, one line per target", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(80), bytes: 64 << 20 },
    { strategy: "mmap", cache: "cold", durations: around(40), bytes: 64 << 20 },
    { strategy: "full-read", cache: "cold", durations: around(800), bytes: 1 << 30 },
    { strategy: "mmap", cache: "cold", durations: around(900), bytes: 1 << 30 },
    { strategy: "full-read", cache: "cold", durations: around(300), target: "cuda:0" },
    { strategy: "mmap", cache: "cold", durations: around(100), target: "cuda:0" },
  ]);
  const verdict = profileVerdict(profile);
  assert.equal(verdict.groups.length, 3);
  assert.deepEqual(verdict.advice.map((a) => [a.target, a.weights, a.severalWeights]), [
    ["host", `w-${1 << 30}`, true],
    ["cuda:0", `w-${512 * 1024 ** 2}`, false],
  ]);
  assert.equal(verdict.advice[0]!.picks[0]!.strategy, "full-read");
  assert.equal(verdict.advice[1]!.picks[0]!.strategy, "mmap");
});

Deno.test("errored and skipped cases are not ranked", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "mmap", cache: "cold", durations: around(400) },
  ]);
  const broken = {
    ...profile,
    cases: profile.cases.map((c, i) =>
      i === 1 ? { ...c, state: "errored" as const, error: "bad bytes", stats: null } : c
    ),
  };
  const cold = profileVerdict(broken).groups[0]!.caches[0]!;
  assert.deepEqual(cold.ranking.map((c) => c.strategy), ["full-read"]);
  assert.equal(profileVerdict({ ...profile, cases: [] }).groups.length, 0);
});

Deno.test("a strategy measured on several nodes of a merged run is ranked once, at its fastest", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "mmap", cache: "cold", durations: around(400) },
    { strategy: "full-read", cache: "cold", durations: around(900), weights: "w" },
    { strategy: "mmap", cache: "cold", durations: around(450), weights: "w" },
  ]);
  // The same weights label on every node, as a herd's merge keeps it.
  const merged = {
    ...profile,
    cases: profile.cases.map((c, i) => ({ ...c, weights: "w", id: `${c.id}@${i}` })),
  };
  const cold = profileVerdict(merged).groups[0]!.caches[0]!;
  assert.deepEqual(cold.ranking.map((c) => [c.strategy, c.medianMs]), [["mmap", 400], [
    "full-read",
    800,
  ]]);
  assert.equal(cold.certainty, "sure");
});
