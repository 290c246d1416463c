import assert from "node:assert/strict";
import {
  entryPoints,
  importCycles,
  layerOf,
  LAYERS,
  layerViolations,
  moduleGraph,
} from "./layers.ts";

const graph = await moduleGraph(await entryPoints());

Deno.test("layers: every import of the product points down, and none go round in a loop", () => {
  assert.ok(graph.has("bench/main.ts") && graph.has("report/mod.ts"), "the entry points are read");
  assert.ok(graph.has("bench/quant/_dequant_worker.ts"), "Workers are entry points too");
  const violations = layerViolations(graph);
  assert.deepEqual(
    violations.map((v) => `${v.from} -> ${v.to}: ${v.why}`),
    [],
    "imports against the layers (see tools/layers.ts and ARCHITECTURE.md)",
  );
  assert.deepEqual(importCycles(graph), [], "modules that import each other");
});

Deno.test("layers: every product module belongs to a layer", () => {
  const outside = [...graph.keys()].filter((file) => layerOf(file) === undefined);
  assert.deepEqual(outside, []);
  const used = new Set([...graph.keys()].map((file) => layerOf(file)!.name));
  assert.deepEqual(
    LAYERS.map((l) => l.name).filter((name) => !used.has(name)),
    [],
    "a layer no module is in",
  );
});

Deno.test("layers: the check finds a back-edge and a cycle, naming both files", () => {
  const bad = new Map([
    ["bench/core/load.ts", ["bench/strategies/mmap.ts"]],
    ["bench/strategies/mmap.ts", ["bench/core/load.ts"]],
    ["bench/util/size.ts", ["tools/perf.ts"]],
  ]);
  assert.deepEqual(layerViolations(bad).map((v) => [v.from, v.to, v.why]), [
    [
      "bench/core/load.ts",
      "bench/strategies/mmap.ts",
      "core imports from strategies, a layer above it",
    ],
    ["bench/util/size.ts", "tools/perf.ts", "util imports from tools, a layer above it"],
  ]);
  assert.deepEqual(importCycles(bad), [["bench/core/load.ts", "bench/strategies/mmap.ts"]]);
  assert.deepEqual(
    layerViolations(new Map([["bench/run/runner.ts", ["elsewhere/x.ts"]]])).map((v) => v.why),
    ["elsewhere/x.ts is in no layer"],
  );
});
