import assert from "node:assert/strict";
import { join } from "node:path";
import { assertFuzzed, BINARY_MUTATIONS, fuzzFormat, type Mutation } from "./_testing.ts";
import { bytesSource } from "./format.ts";
import { pytorch } from "./pytorch.ts";
import { readZip } from "./zip.ts";

/** Mutants of tiny-views.pt parsed; each parse is tens of microseconds. */
const ITERATIONS = 20_000;

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;

Deno.test("pytorch fuzz: mutants parse inside the file or fail with a WeightFileError", () => {
  const valid = Deno.readFileSync(join(TESTDATA, "tiny-views.pt"));
  const pkl = readZip(bytesSource("x", valid)).entries.find((e) => e.name.endsWith("data.pkl"))!;
  const int = (random: () => number, below: number) => Math.floor(random() * below);
  // Most mutations land in the pickle, so the unpickler meets them, not only the zip reader.
  const inPickle = (mutation: Mutation): Mutation => (random, file) => {
    if (file.length < pkl.dataOffset + pkl.size) return mutation(random, file);
    const at = pkl.dataOffset + int(random, pkl.size);
    const piece = mutation(random, file.slice(at, at + 1 + int(random, 8)));
    const out = new Uint8Array(file.length);
    out.set(file);
    out.set(piece.subarray(0, Math.min(piece.length, file.length - at)), at);
    return out;
  };
  const mutations: Record<string, Mutation> = {
    ...BINARY_MUTATIONS,
    pickleBit: inPickle(BINARY_MUTATIONS.flipBit!),
    pickleByte: inPickle(BINARY_MUTATIONS.overwriteByte!),
    pickleInteger: inPickle(BINARY_MUTATIONS.edgeInteger!),
    pickleOpcode(random, file) {
      const at = pkl.dataOffset + int(random, pkl.size);
      if (at < file.length) {
        file[at] = [
          0x28,
          0x29,
          0x2e,
          0x51,
          0x52,
          0x62,
          0x63,
          0x71,
          0x68,
          0x74,
          0x75,
          0x7d,
          0x8a,
          0x93,
        ][int(random, 14)]!;
      }
      return file;
    },
  };
  const report = fuzzFormat(pytorch, valid, {
    seed: "pytorch-fuzz-v1",
    iterations: ITERATIONS,
    mutations,
    check(index, file, where) {
      for (const view of index.views ?? []) {
        const storage = index.tensors.find((t) => t.name === view.storage);
        assert.ok(storage, `view ${view.name} of a storage not listed at ${where}`);
        void file;
      }
    },
  });
  assertFuzzed("pytorch fuzz", report, 15);
});

Deno.test("pytorch fuzz: mutants of a legacy (pre-zip) checkpoint fail cleanly too", () => {
  const valid = Deno.readFileSync(join(TESTDATA, "torch", "torch-legacy.pt"));
  const report = fuzzFormat(pytorch, valid, {
    seed: "pytorch-legacy-fuzz-v1",
    iterations: ITERATIONS / 2,
  });
  assertFuzzed("pytorch legacy fuzz", report);
});
