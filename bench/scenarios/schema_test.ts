import assert from "node:assert/strict";
import { InputError } from "../util/errors.ts";
import { DEFAULT_RUNS, DEFAULT_WARMUP, overrideScenario, parseScenario } from "./schema.ts";
import { strategyNames } from "../strategies/registry.ts";

const base = { name: "t", weights: ["/models/m"] };

function rejects(input: unknown, pattern: RegExp): void {
  assert.throws(() => parseScenario(input, "s.json"), (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("defaults fill every field", () => {
  const s = parseScenario(base, "s.json");
  assert.equal(s.runs, DEFAULT_RUNS);
  assert.equal(s.warmup, DEFAULT_WARMUP);
  assert.deepEqual(s.targets, ["auto"]);
  assert.deepEqual(s.cache, ["cold", "warm"]);
  assert.deepEqual(s.strategies.map((x) => x.name), strategyNames());
  assert.equal(s.strategies[0]!.options.chunkSize, 0, "automatic chunking");
  assert.equal(s.strategies[0]!.options.staging, "fresh");
  assert.deepEqual(s.weights, [{ kind: "path", path: "/models/m" }]);
});

Deno.test("strategy options are validated by the strategy and defaulted", () => {
  const s = parseScenario({
    ...base,
    strategies: [{ name: "mmap", options: { advice: "sequential" } }],
  }, "s.json");
  assert.deepEqual(s.strategies[0], {
    name: "mmap",
    options: { advice: "sequential", populate: false, transfer: "bulk" },
  });
  rejects(
    { ...base, strategies: [{ name: "mmap", options: { advice: "sideways" } }] },
    /^s\.json: strategies\[0\]\.options\.advice: /,
  );
  rejects(
    { ...base, strategies: ["full-read", { name: "full-read", options: { readers: 0 } }] },
    /strategies\[1\]\.options\.readers/,
  );
});

Deno.test("fixtures are described by layout, size, dtype and shards", () => {
  const s = parseScenario({
    ...base,
    weights: [{ fixture: { layout: "llama-3-70b", size: "1GiB", shards: 4 } }],
  }, "s.json");
  assert.deepEqual(s.weights[0], {
    kind: "fixture",
    layout: "llama-3-70b",
    size: 1 << 30,
    dtype: "F16",
    shards: 4,
    format: "safetensors",
  });
  const gguf = parseScenario({
    ...base,
    weights: [{ fixture: { layout: "llama-3-8b", size: "64MiB", dtype: "Q4_0", format: "gguf" } }],
  }, "s.json");
  assert.equal(gguf.weights[0]!.kind === "fixture" && gguf.weights[0]!.format, "gguf");
  rejects(
    { ...base, weights: [{ fixture: { layout: "llama-3-8b", size: "64MiB", dtype: "Q8_0" } }] },
    /weights\[0\]\.fixture\.dtype: "Q8_0" fixtures exist only in the gguf format/,
  );
  rejects(
    { ...base, weights: [{ fixture: { layout: "llama-3-8b", size: "64MiB", format: "h5" } }] },
    /weights\[0\]\.fixture\.format: /,
  );
  rejects(
    { ...base, weights: [{ fixture: { layout: "llama-3-8", size: "1GiB" } }] },
    /weights\[0\]\.fixture\.layout: unknown layout "llama-3-8" \(did you mean "llama-3-8b"\?\)/,
  );
  rejects(
    { ...base, weights: [{ fixture: { layout: "llama-3-8b", size: "lots" } }] },
    /weights\[0\]\.fixture\.size: "lots" is not a size/,
  );
});

Deno.test("each problem is reported with its path", () => {
  rejects(
    { ...base, strategies: ["full-read", "mmpa"] },
    /^s\.json: strategies\[1\]: unknown strategy "mmpa" \(did you mean "mmap"\?\)$/,
  );
  rejects({ ...base, targets: ["gpu"] }, /^s\.json: targets\[0\]: unknown target "gpu"/);
  rejects({ ...base, cache: ["lukewarm"] }, /^s\.json: cache\[0\]: /);
  rejects({ ...base, runs: -1 }, /^s\.json: runs: /);
  rejects({ ...base, runs: 1.5 }, /^s\.json: runs: /);
  rejects({ ...base, warmup: "1" }, /^s\.json: warmup: /);
  rejects({ ...base, colour: "red" }, /^s\.json: .*colour/);
  rejects({ name: "t" }, /^s\.json: weights: /);
  rejects({ ...base, weights: [] }, /^s\.json: weights: /);
  rejects([], /^s\.json: /);
  rejects(null, /^s\.json: /);
});

Deno.test("overrides are checked like their fields and named by their flags", () => {
  const scenario = parseScenario(
    { ...base, strategies: [{ name: "mmap", options: { advice: "sequential" } }, "full-read"] },
    "s.json",
  );
  assert.throws(
    () => overrideScenario(scenario, { strategy: ["mmpa"] }),
    /^InputError: --strategy: unknown strategy "mmpa" \(did you mean "mmap"\?\)$/,
  );
  assert.throws(() => overrideScenario(scenario, { cache: ["hot"] }), /^InputError: --cache: /);
  assert.throws(() => overrideScenario(scenario, { runs: 0 }), /^InputError: --runs: /);
  const changed = overrideScenario(scenario, {
    strategy: ["mmap"],
    target: ["host", "host"],
    runs: 2,
    weights: "/models/other",
  });
  assert.deepEqual(changed.strategies, [scenario.strategies[0]], "mmap keeps its options");
  assert.deepEqual(changed.targets, ["host"]);
  assert.equal(changed.runs, 2);
  assert.deepEqual(changed.weights, [{ kind: "path", path: "/models/other" }]);
  assert.match(changed.description, /weights replaced by --weights \/models\/other$/);
  assert.equal(overrideScenario(scenario, { strategy: ["all"] }).strategies.length, 10);
  assert.deepEqual(overrideScenario(scenario, {}), scenario);
});

Deno.test("duplicates collapse; order is kept", () => {
  const s = parseScenario({
    ...base,
    strategies: ["mmap", "full-read", "mmap"],
    cache: ["warm", "cold", "warm"],
  }, "s.json");
  assert.deepEqual(s.strategies.map((x) => x.name), ["mmap", "full-read"]);
  assert.deepEqual(s.cache, ["warm", "cold"]);
});
