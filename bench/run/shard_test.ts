import assert from "node:assert/strict";
import { parseScenario } from "../scenarios/schema.ts";
import { planCases } from "./plan.ts";
import { parseShard, planIdentity, shardCases, shardOfCase } from "./shard.ts";

const scenario = parseScenario({
  name: "fleet",
  weights: ["/models/a", "/models/b"],
  strategies: ["full-read", "mmap", "parallel"],
  targets: ["host"],
}, "fleet.json");

Deno.test("parseShard accepts I/N from 1 and rejects the rest with one clear line", () => {
  assert.deepEqual(parseShard("1/1"), { index: 1, count: 1 });
  assert.deepEqual(parseShard(" 4 / 4 "), { index: 4, count: 4 });
  const cases: [string, RegExp][] = [
    ["3/2", /Invalid --shard "3\/2": shard 3 of 2 does not exist \(I must be 1 to 2\)/],
    ["0/0", /Invalid --shard "0\/0": N must be at least 1/],
    ["0/3", /shards count from 1/],
    ["a/b", /expected I\/N, such as 1\/4/],
    ["1/", /expected I\/N/],
    ["-1/3", /expected I\/N/],
    ["1.5/3", /expected I\/N/],
    ["1/999999999999", /N must be at most/],
  ];
  for (const [text, expected] of cases) assert.throws(() => parseShard(text), expected, text);
  assert.throws(() => parseShard("2/1", "--herd"), /Invalid --herd "2\/1"/);
});

Deno.test("every case lands in exactly one shard, and shard sizes differ by at most one", () => {
  const cases = planCases(scenario);
  assert.equal(cases.length, 12);
  for (const count of [1, 2, 3, 5, 7, 12, 13, 40]) {
    const slices = Array.from(
      { length: count },
      (_, i) => shardCases(cases, { index: i + 1, count }),
    );
    const ids = slices.flat().map((c) => c.id);
    assert.equal(ids.length, cases.length, `N=${count}`);
    assert.deepEqual(new Set(ids), new Set(cases.map((c) => c.id)), `N=${count}`);
    const sizes = slices.map((s) => s.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `N=${count}: ${sizes}`);
    for (const [i, slice] of slices.entries()) {
      for (const c of slice) assert.equal(shardOfCase(c.index, count), i + 1);
      // Plan order and plan indices are kept.
      assert.deepEqual(
        slice.map((c) => c.index),
        [...slice.map((c) => c.index)].sort((a, b) => a - b),
      );
    }
  }
});

Deno.test("each shard gets an even share of each weights' cases", () => {
  const cases = planCases(scenario);
  for (const index of [1, 2, 3]) {
    const slice = shardCases(cases, { index, count: 3 });
    const perWeights = Map.groupBy(slice, (c) => c.weightsLabel);
    assert.equal(perWeights.get("a")?.length, 2);
    assert.equal(perWeights.get("b")?.length, 2);
  }
});

Deno.test("the same scenario gives the same slices and plan identity; another plan another digest", () => {
  const again = parseScenario(
    structuredClone({
      name: "fleet",
      weights: ["/models/a", "/models/b"],
      strategies: ["full-read", "mmap", "parallel"],
      targets: ["host"],
    }),
    "elsewhere/fleet.json",
  );
  assert.deepEqual(
    shardCases(planCases(scenario), { index: 2, count: 5 }).map((c) => c.id),
    shardCases(planCases(again), { index: 2, count: 5 }).map((c) => c.id),
  );
  assert.deepEqual(planIdentity(planCases(scenario)), planIdentity(planCases(again)));
  const fewer = parseScenario({ name: "fleet", weights: ["/models/a"], strategies: ["mmap"] }, "x");
  assert.notEqual(planIdentity(planCases(fewer)).digest, planIdentity(planCases(scenario)).digest);
  assert.match(planIdentity(planCases(scenario)).digest, /^[0-9a-f]{16}$/);
});

Deno.test("more shards than cases leaves the last shards empty", () => {
  const cases = planCases(scenario).slice(0, 3);
  assert.deepEqual(shardCases(cases, { index: 4, count: 5 }), []);
  assert.equal(shardCases(cases, { index: 3, count: 5 }).length, 1);
});
