import assert from "node:assert/strict";
import { parseScenario } from "../scenarios/schema.ts";
import { labelStrategy, labelWeights, planCases } from "./plan.ts";

Deno.test("the plan is the full matrix, weights outermost, cache innermost, with stable ids", () => {
  const scenario = parseScenario({
    name: "m",
    weights: ["/m/a", {
      fixture: { layout: "llama-3-70b", size: "1GiB", shards: 4, dtype: "BF16" },
    }],
    strategies: ["full-read", { name: "mmap", options: { advice: "willneed", populate: true } }],
    targets: ["host", "cuda:1"],
    cache: ["cold", "warm"],
  }, "m.json");
  const cases = planCases(scenario);
  assert.equal(cases.length, 2 * 2 * 2 * 2);
  assert.deepEqual(cases.map((c) => c.index), [...cases.keys()]);
  assert.equal(cases[0]!.id, "a/full-read/host/cold");
  assert.equal(cases[1]!.id, "a/full-read/host/warm");
  assert.equal(cases[2]!.id, "a/full-read/cuda:1/cold");
  assert.equal(cases[4]!.id, "a/mmap(advice=willneed,populate=true)/host/cold");
  assert.equal(cases[8]!.id, "llama-3-70b-1GiB-BF16-4shards/full-read/host/cold");
  assert.equal(new Set(cases.map((c) => c.id)).size, cases.length, "ids are unique");
  assert.deepEqual(planCases(scenario), cases, "a pure function of the scenario");
});

Deno.test("labels name what differs from the defaults", () => {
  assert.equal(
    labelStrategy({ name: "mmap", options: { advice: "none", populate: false, transfer: "bulk" } }),
    "mmap",
  );
  assert.equal(
    labelStrategy({ name: "full-read", options: { staging: "reused" } }),
    "full-read(staging=reused)",
  );
  assert.equal(labelWeights({ kind: "path", path: "/models/llama-3-8b/" }), "llama-3-8b");
  assert.equal(labelWeights({ kind: "path", path: "model.safetensors" }), "model.safetensors");
});
