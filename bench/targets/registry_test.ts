/**
 * The no-device paths, run for real: where NVIDIA's driver library is
 * installed but no GPU answers (`cuInit` gives CUDA_ERROR_NO_DEVICE), the
 * command line falls back to `host` for `auto` in one line naming the
 * driver's answer, and refuses an explicit `cuda:N` — with or without
 * `--dry-run` — with one line and exit 2.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, TESTDATA } from "../cli/_cli_testing.ts";
import { InputError } from "../util/errors.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { cudaAvailability } from "./cuda.ts";
import { checkTarget } from "./registry.ts";

const cuda = cudaAvailability();
/** Why these tests cannot run here: they need the driver library, and no GPU. */
const SKIP = cuda.available
  ? "a GPU is present"
  : cuda.reason.startsWith("no CUDA driver")
  ? `no CUDA driver library (install libcuda1 from Debian non-free): ${cuda.reason}`
  : undefined;
const TINY = join(TESTDATA, "tiny.safetensors");

Deno.test("checkTarget: host and auto pass, an unknown id is an input error", () => {
  checkTarget("host");
  checkTarget("auto");
  assert.throws(() => checkTarget("tpu:0"), InputError);
  assert.throws(() => checkTarget("cuda:x"), /Unknown target "cuda:x" \(expected host or cuda:N\)/);
});

testUnless(SKIP, "without a GPU, checkTarget refuses cuda:N with the driver's answer", () => {
  for (const id of ["cuda:0", "cuda:99"]) {
    assert.throws(
      () => checkTarget(id),
      (error: unknown) =>
        error instanceof InputError && error.exitCode === 2 &&
        error.message ===
          `Target "${id}" is not available: cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected`,
    );
  }
});

testUnless(
  SKIP,
  "without a GPU, --target cuda:0 and cuda:99 exit 2 with one line, with or without --dry-run",
  async () => {
    await withTempDir(async (out) => {
      for (const id of ["cuda:0", "cuda:99"]) {
        for (
          const extra of [
            ["--dry-run"],
            ["--weights", TINY, "--runs", "1", "--warmup", "0", "--no-probe", "--out", out],
          ]
        ) {
          const result = await cli(["bench", "--target", id, ...extra]);
          const what = `bench --target ${id} ${extra.join(" ")}`;
          assert.equal(result.code, 2, `${what}: ${result.stderr}`);
          assert.equal(result.stdout, "", what);
          assert.equal(
            result.stderr,
            `error: Target "${id}" is not available: cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n`,
            what,
          );
        }
      }
      assert.deepEqual([...Deno.readDirSync(out)], [], "nothing written");
    });
  },
);

testUnless(
  SKIP,
  "without a GPU, auto falls back to host in one line naming the driver's answer",
  async () => {
    const result = await cli(["bench", "--weights", TINY, "--dry-run"]);
    assert.equal(result.code, 0, result.stderr);
    const first = result.stdout.split("\n")[0]!;
    assert.match(
      first,
      /^target host: the CUDA driver \(CUDA \d+\.\d+, .*libcuda\.so\.1\) found no GPU: cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected$/,
    );
    assert.ok(!result.stdout.includes("cuda:"), "no case planned on cuda");
  },
);
