import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openWeights } from "../formats/weights.ts";
import { HostTarget } from "../targets/host.ts";
import { testUnless } from "../util/testing.ts";
import { cufile, cufileMode, CufileUnavailableError, unwrapCufile } from "../ffi/cufile.ts";
import { cufileUnavailable, gds } from "./gds.ts";

const absent = cufileUnavailable();

Deno.test("gds: skipped with a reason where cuFile or device memory is missing", async () => {
  const weights = await openWeights(
    fileURLToPath(new URL("../../fixtures/testdata/tiny.safetensors", import.meta.url)),
  );
  using target = new HostTarget();
  const reason = gds.create(gds.options.parse({})).unsupported!(weights, target);
  assert.ok(reason !== undefined, "the host target never runs gds");
  if (absent !== undefined) {
    assert.match(
      reason,
      /libcufile\.so not found \(tried libcufile\.so\.0, .*\): GPUDirect Storage needs/,
    );
  } else {
    assert.match(reason, /does not expose \(use a cuda:N target\)/);
  }
});

Deno.test("gds: a missing cuFile library names every path tried", () => {
  assert.throws(
    () => cufile(["/nonexistent/libcufile.so.0", "libcufile-surely-absent.so"]),
    (error: unknown) =>
      error instanceof CufileUnavailableError &&
      error.message ===
        'Cannot open cuFile (GPUDirect Storage): tried "/nonexistent/libcufile.so.0", "libcufile-surely-absent.so"',
  );
});

Deno.test("gds: cuFile statuses and the mode are read as cufile.h defines them", () => {
  unwrapCufile("cuFileDriverOpen", new Uint8Array(8));
  const failed = new Uint8Array(8);
  new DataView(failed.buffer).setInt32(0, 5001, true);
  assert.throws(
    () => unwrapCufile("cuFileDriverOpen", failed),
    /cuFileDriverOpen failed: CUfileOpError 5001/,
  );
  assert.equal(cufileMode(true), "gds");
  assert.equal(cufileMode(false), "compat");
  for (const input of [{ chunkSize: 5000 }, { depth: 0 }, { mode: "gds" }]) {
    assert.equal(gds.options.safeParse(input).success, false, JSON.stringify(input));
  }
});

// The conformance suite loads onto the host target, which gds never runs on: it needs a GPU
// (the GPU check script loads every fixture through gds on cuda:0 and verifies it).
testUnless(
  "gds reads into device memory only; the host target has none (run the GPU check script)",
  "gds conformance",
  () => {},
);
