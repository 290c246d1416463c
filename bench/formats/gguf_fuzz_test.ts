import { join } from "node:path";
import { assertFuzzed, fuzzFormat } from "./_testing.ts";
import { gguf } from "./gguf.ts";

/** Mutants of tiny.gguf parsed; each parse is a few microseconds. */
const ITERATIONS = 20_000;

Deno.test("gguf fuzz: mutants parse inside the file or fail with a WeightFileError", () => {
  const valid = Deno.readFileSync(
    join(new URL("../../fixtures/testdata/", import.meta.url).pathname, "tiny.gguf"),
  );
  const report = fuzzFormat(gguf, valid, { seed: "gguf-fuzz-v1", iterations: ITERATIONS });
  assertFuzzed("gguf fuzz", report, 15);
});
