import assert from "node:assert/strict";
import { join } from "node:path";
import { fuzzFormat } from "./_testing.ts";
import { gguf } from "./gguf.ts";

/** Mutants of tiny.gguf parsed; each parse is a few microseconds. */
const ITERATIONS = 20_000;

Deno.test("gguf fuzz: mutants parse inside the file or fail with a WeightFileError", () => {
  const valid = Deno.readFileSync(
    join(new URL("../../fixtures/testdata/", import.meta.url).pathname, "tiny.gguf"),
  );
  const start = performance.now();
  const report = fuzzFormat(gguf, valid, { seed: "gguf-fuzz-v1", iterations: ITERATIONS });
  const elapsed = performance.now() - start;
  assert.ok(report.parsed > 0 && report.failed > 0, JSON.stringify(report));
  assert.ok(
    report.checks.size >= 15,
    `only ${report.checks.size} checks: ${[...report.checks].join(" | ")}`,
  );
  assert.ok(report.slowestMs < 200, `slowest parse ${report.slowestMs} ms`);
  console.log(
    `gguf fuzz: ${ITERATIONS} mutants in ${
      elapsed.toFixed(0)
    } ms, ${report.parsed} parsed, ${report.checks.size} distinct errors`,
  );
});
