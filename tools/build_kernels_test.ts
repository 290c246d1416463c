import assert from "node:assert/strict";
import { testUnless } from "../bench/util/testing.ts";
import { DEQUANT_KERNELS } from "../bench/quant/kernels.ts";
import { DEQUANT_TYPES } from "../bench/quant/reference.ts";
import {
  buildPtx,
  KERNEL_PTX,
  nvccRelease,
  PTX_ISA_VERSION,
  readStamp,
  sourceSha256,
} from "./build_kernels.ts";

const committed = await Deno.readTextFile(KERNEL_PTX);
const stamp = readStamp(committed);
const release = await nvccRelease();
const ptxas = await canRun("ptxas");

async function canRun(command: string): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args: ["--version"] }).output()).success;
  } catch {
    return false;
  }
}

Deno.test("dequant.ptx was built from the dequant.cu in the tree (no nvcc needed)", async () => {
  assert.ok(stamp, "dequant.ptx has no weightbench stamp: rebuild it with `deno task kernels`");
  assert.equal(
    stamp.sha256,
    await sourceSha256(),
    "dequant.cu changed since dequant.ptx was built: run `deno task kernels` and commit both",
  );
  assert.match(committed, new RegExp(`^\\.version ${PTX_ISA_VERSION.replace(".", "\\.")}$`, "m"));
  assert.match(committed, /^\.target sm_80$/m);
});

Deno.test("dequant.ptx has an entry of three 64-bit parameters for every kernel", () => {
  for (const type of DEQUANT_TYPES) {
    const { name } = DEQUANT_KERNELS[type];
    const entry = new RegExp(
      `\\.visible \\.entry ${name}\\(\\s*\\.param \\.u64 ${name}_param_0,\\s*\\.param \\.u64 ${name}_param_1,\\s*\\.param \\.u64 ${name}_param_2\\s*\\)`,
    );
    assert.match(committed, entry, `no entry "${name}" taking (u64, u64, u64)`);
  }
});

testUnless(
  release === undefined
    ? "nvcc not found"
    : release !== stamp?.nvcc
    ? `nvcc ${release} here, dequant.ptx was built by nvcc ${stamp?.nvcc}: outputs differ by release`
    : undefined,
  "dequant.ptx is what nvcc makes of dequant.cu today",
  async () => {
    const built = await buildPtx();
    assert.ok(
      built === committed,
      "dequant.ptx differs from a fresh build: run `deno task kernels` and commit it",
    );
  },
);

testUnless(
  ptxas ? undefined : "ptxas not found",
  "dequant.ptx assembles for sm_80 and sm_90 (A100, H100/H200) without fused multiply-adds",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "weightbench-ptxas-" });
    try {
      for (const arch of ["sm_80", "sm_90"]) {
        const out = `${dir}/${arch}.cubin`;
        const result = await new Deno.Command("ptxas", {
          args: [`-arch=${arch}`, KERNEL_PTX.pathname, "-o", out],
        }).output();
        assert.ok(result.success, new TextDecoder().decode(result.stderr));
        assert.ok((await Deno.stat(out)).size > 0);
      }
      assert.doesNotMatch(committed, /\bfma\.rn\.f32\b/, "a kernel fuses a multiply-add");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
