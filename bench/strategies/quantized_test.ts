import assert from "node:assert/strict";
import { join } from "node:path";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { writeRandomGguf } from "../quant/gguf_fixture.ts";
import { DEQUANT_KERNELS } from "../quant/kernels.ts";
import { DEQUANT_TYPES, referenceDequantizeF16 } from "../quant/reference.ts";
import { tensorDigests } from "../core/digests.ts";
import { Recorder } from "../core/recorder.ts";
import { VerificationError, verifyLoad } from "../core/verify.ts";
import { HostTarget } from "../targets/host.ts";
import type {
  DeviceBuffer,
  KernelLauncher,
  KernelModule,
  KernelParam,
  Target,
} from "../core/target.ts";
import { withTempDir } from "../util/testing.ts";
import { strategyConformance } from "./_conformance.ts";
import { quantized } from "./quantized.ts";
import type { Strategy } from "./strategy.ts";
import type { LoadResult } from "../core/load.ts";

strategyConformance(quantized, {
  default: {},
  "one worker, small pieces, deep queue": { workers: 1, chunkSize: 4096, depth: 4 },
});

/**
 * A host target that runs the dequantization kernels the way `kernels/dequant.cu`
 * does, thread by thread (the PTX itself needs a GPU): it checks the strategy's
 * launches — kernel names, grids, arguments, stream order — on machines without one.
 */
class EmulatedKernelTarget extends HostTarget implements Target {
  readonly launches: { name: string; threads: number }[] = [];
  modules = 0;
  readonly kernels: KernelLauncher = {
    loadModule: (ptx: string): KernelModule => {
      for (const type of DEQUANT_TYPES) {
        assert.match(ptx, new RegExp(`\\.entry ${DEQUANT_KERNELS[type].name}\\(`));
      }
      this.modules++;
      return { close() {}, [Symbol.dispose]() {} };
    },
    launch: (_module, name, grid, block, params) => {
      const [src, dst, n] = params as [KernelParam, KernelParam, KernelParam];
      assert.ok(src.kind === "address" && dst.kind === "address" && n.kind === "u64");
      assert.ok(grid[0] * block[0] >= n.value && (grid[0] - 1) * block[0] < n.value, "grid");
      this.launches.push({ name, threads: n.value });
      const type = DEQUANT_TYPES.find((t) => DEQUANT_KERNELS[t].name === name)!;
      const perThread = DEQUANT_KERNELS[type].threadsPerBlock;
      const blocks = n.value / perThread;
      const sizes = { Q8_0: [34, 32], Q4_0: [18, 32], Q4_K: [144, 256] } as const;
      const [blockBytes, elements] = sizes[type];
      const input = this.view(src.buffer, src.offset, blocks * blockBytes);
      const half = referenceDequantizeF16(type, input.slice());
      this.view(dst.buffer, dst.offset, blocks * elements * 2).set(new Uint8Array(half.buffer));
      return Promise.resolve();
    },
  };

  view(buffer: DeviceBuffer, offset: number, length: number): Uint8Array {
    return this.readBack(buffer, offset, length);
  }
}

/** Fresh random GGUF files: every dequantized type, big enough to engage the workers, and F32 beside. */
async function randomModel(dir: string, wild = false): Promise<WeightSet> {
  await writeRandomGguf(join(dir, "model-00001-of-00002.gguf"), [
    { name: "token_embd.weight", type: "Q8_0", ne: [1024, 1000] },
    { name: "blk.0.attn_norm.weight", type: "F32", ne: [1024] },
    { name: "blk.0.attn_q.weight", type: "Q4_K", ne: [1024, 700] },
  ], { wild });
  await writeRandomGguf(join(dir, "model-00002-of-00002.gguf"), [
    { name: "blk.0.ffn_down.weight", type: "Q4_0", ne: [2048, 600] },
    { name: "output.weight", type: "F16", ne: [64, 8] },
  ], { wild });
  return await openWeights(dir);
}

async function loadOnce(
  strategy: Strategy,
  weights: WeightSet,
  target: HostTarget,
): Promise<{ result: LoadResult; recorder: Recorder }> {
  target.reserve(strategy.footprint!(weights));
  await strategy.prepareSample?.(weights, target);
  const recorder = new Recorder();
  const result = await strategy.load({ weights, target, recorder });
  return { result, recorder };
}

/** Every tensor on the target equals the reference: FP16 for the quantized, the bytes for the rest. */
async function assertMatchesReference(weights: WeightSet, result: LoadResult, target: HostTarget) {
  for (const { file, tensor, buffer, offset, transform } of result.placements) {
    const source = (await Deno.readFile(file)).subarray(
      tensor.offset,
      tensor.offset + tensor.byteLength,
    );
    if (tensor.dtype === "F32" || tensor.dtype === "F16") {
      assert.equal(transform, undefined);
      assert.deepEqual(target.readBack(buffer, offset, tensor.byteLength), source);
      continue;
    }
    assert.ok(transform && transform.from === tensor.dtype, tensor.name);
    const expected = referenceDequantizeF16(tensor.dtype as "Q4_K", source);
    const actual = new Uint16Array(
      target.readBack(buffer, offset, transform.byteLength).slice().buffer,
    );
    for (let i = 0; i < expected.length; i++) {
      if (actual[i] !== expected[i]) {
        assert.fail(
          `${tensor.name} (${tensor.dtype}) element ${i}: 0x${
            actual[i]!.toString(16)
          }, reference 0x${expected[i]!.toString(16)}`,
        );
      }
    }
  }
  assert.equal(result.placements.length, weights.tensorCount);
}

Deno.test("quantized cpu path: fresh random Q8_0, Q4_0 and Q4_K tensors equal the reference on every element", async () => {
  await withTempDir(async (dir) => {
    const weights = await randomModel(dir, true);
    using target = new HostTarget();
    const strategy = quantized.create(quantized.options.parse({ workers: 2, chunkSize: 1 << 20 }));
    try {
      const { result, recorder } = await loadOnce(strategy, weights, target);
      await assertMatchesReference(weights, result, target);
      const digests = await tensorDigests(weights);
      assert.equal(verifyLoad(weights, digests, result, target).tensors, weights.tensorCount);
      const phases = new Set(recorder.spans.map((s) => s.phase));
      for (const phase of ["open", "parse", "alloc", "read", "dequant", "copy"] as const) {
        assert.ok(phases.has(phase), `no ${phase} span`);
      }
      const details = result.details!;
      assert.equal(details.path, "cpu");
      const quantizedBytes = weights.files.flatMap((f) => f.index.tensors)
        .filter((t) => t.dtype.startsWith("Q")).reduce((n, t) => n + t.byteLength, 0);
      assert.equal(details.quantizedBytes, quantizedBytes);
      assert.ok((details.dequantizedBytes as number) > 3 * quantizedBytes / 2);

      // A flipped bit of FP16 on the target fails verification, naming the reference.
      const q4k = result.placements.find((p) => p.tensor.dtype === "Q4_K")!;
      const byte = target.readBack(q4k.buffer, q4k.offset + 1001, 1);
      byte[0] = byte[0]! ^ 0x04;
      assert.throws(
        () => verifyLoad(weights, digests, result, target),
        (e: unknown) =>
          e instanceof VerificationError &&
          /differs on host: .* where the reference Q4_K → F16 dequantization of the source gives/
            .test(e.message),
      );
      byte[0] = byte[0]! ^ 0x04;

      // A placement that lies about its transform fails too.
      const lying = result.placements.map((p) =>
        p === q4k
          ? { ...p, transform: { ...p.transform!, byteLength: p.transform!.byteLength - 2 } }
          : p
      );
      assert.throws(
        () => verifyLoad(weights, digests, { ...result, placements: lying }, target),
        /dequantizes to \d+ bytes of F16, but its placement holds/,
      );
      const raw = result.placements.map((p) => {
        if (p !== q4k) return p;
        const { transform: _, ...rest } = p;
        return rest;
      });
      assert.throws(
        () => verifyLoad(weights, digests, { ...result, placements: raw }, target),
        /differs on host/,
      );
    } finally {
      strategy.close?.();
    }
  });
});

Deno.test("quantized gpu path: skipped on the host target, with the reason", async () => {
  await withTempDir(async (dir) => {
    await writeRandomGguf(join(dir, "m.gguf"), [{ name: "w", type: "Q8_0", ne: [32, 1] }]);
    const weights = await openWeights(dir);
    using target = new HostTarget();
    const gpu = quantized.create(quantized.options.parse({ path: "gpu" }));
    assert.match(
      gpu.unsupported!(weights, target)!,
      /cannot run .*use a cuda:N target, or path "cpu"/,
    );
    assert.equal(
      quantized.create(quantized.options.parse({})).unsupported!(weights, target),
      undefined,
    );
  });
});

Deno.test("quantized gpu path: launches the PTX's kernels over the quantized bytes copied to the device", async () => {
  await withTempDir(async (dir) => {
    const weights = await randomModel(dir);
    using target = new EmulatedKernelTarget();
    const strategy = quantized.create(
      quantized.options.parse({ path: "gpu", chunkSize: 1 << 20, depth: 3 }),
    );
    try {
      assert.equal(strategy.unsupported!(weights, target), undefined);
      for (let i = 0; i < 2; i++) {
        const { result, recorder } = await loadOnce(strategy, weights, target);
        await assertMatchesReference(weights, result, target);
        assert.equal(verifyLoad(weights, await tensorDigests(weights), result, target).tensors, 5);
        assert.ok(recorder.spans.some((s) => s.phase === "dequant"));
        assert.equal(result.details!.path, "gpu");
        // the quantized bytes cross to the device, not the FP16
        const fileTensorBytes = weights.tensorBytes;
        assert.equal(result.details!.bytesToTarget, fileTensorBytes);
        for (const buffer of result.buffers) target.free(buffer);
      }
      assert.equal(target.modules, 1, "the module is loaded once, not per load");
      assert.deepEqual(
        [...new Set(target.launches.map((l) => l.name))].sort(),
        ["dequant_q4_0_f16", "dequant_q4_k_f16", "dequant_q8_0_f16"],
      );
    } finally {
      strategy.close?.();
    }
  });
});

Deno.test("quantized options: invalid ones are rejected", () => {
  for (
    const input of [{ path: "tpu" }, { workers: 0 }, { chunkSize: 100 }, { depth: 0 }, {
      dequant: "cpu",
    }]
  ) {
    assert.equal(quantized.options.safeParse(input).success, false, JSON.stringify(input));
  }
});
