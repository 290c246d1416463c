import assert from "node:assert/strict";
import { join } from "node:path";
import { assertFuzzed, fuzzFormat } from "./_testing.ts";
import { onnx } from "./onnx.ts";

/** Mutants of each ONNX test model parsed; each parse is tens of microseconds. */
const ITERATIONS = 20_000;

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;

for (const name of ["tiny.onnx", "tiny-onnx-external/model.onnx", "tiny-onnx-subgraphs.onnx"]) {
  Deno.test(`onnx fuzz: mutants of ${name} parse inside the file or fail with a WeightFileError`, () => {
    const valid = Deno.readFileSync(join(TESTDATA, name));
    const report = fuzzFormat(onnx, valid, {
      seed: `onnx-fuzz-v1:${name}`,
      iterations: ITERATIONS,
      check(index, _file, where) {
        for (const t of index.external ?? []) {
          assert.ok(
            !t.location.startsWith("/") && !t.location.split("/").includes(".."),
            `location ${t.location} at ${where}`,
          );
          assert.ok(Number.isSafeInteger(t.offset) && Number.isSafeInteger(t.byteLength), where);
        }
      },
    });
    assertFuzzed(`onnx fuzz (${name})`, report, 10);
  });
}
