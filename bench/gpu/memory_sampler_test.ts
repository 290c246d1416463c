import assert from "node:assert/strict";
import { CudaContext, CudaDriver, cudaDriver, DeviceMemory } from "../ffi/cuda.ts";
import { testUnless } from "../util/testing.ts";
import { FakeControl, fakeDriver } from "./_fake_driver.ts";
import { GpuMemorySampler } from "./memory_sampler.ts";

const fake = await fakeDriver();
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a sampler whose source cannot be read fails, says why, and has no samples", async () => {
  for (
    const [options, reason] of [
      [
        { source: "nvml", nvmlPaths: ["/nonexistent/libnvidia-ml.so.1"] },
        /^NVML: Cannot open NVML: /,
      ],
      [
        { source: "cuMemGetInfo", cudaPaths: ["/nonexistent/libcuda.so.1"] },
        /^cuMemGetInfo: Cannot open the CUDA driver: /,
      ],
    ] as const
  ) {
    using sampler = GpuMemorySampler.start({ ordinal: 0, pciBusId: "0000:18:00.0", ...options });
    assert.equal(await sampler.ready(10_000), false);
    assert.equal(sampler.state, "failed");
    assert.equal(sampler.source, "none");
    assert.match(sampler.problem!, reason);
    assert.deepEqual(sampler.window(0, Infinity), []);
    sampler.close();
    sampler.close();
  }
});

/** Allocates 64 MiB on the fake device while `sampler` watches; checks the timeline saw it. */
async function watchAllocation(driver: CudaDriver, sampler: GpuMemorySampler): Promise<void> {
  assert.equal(await sampler.ready(10_000), true, sampler.problem ?? "");
  using context = CudaContext.retainPrimary(driver, 0);
  await delay(30);
  const from = performance.timeOrigin + performance.now();
  const before = sampler.window(0, from).at(-1)!.usedBytes;
  {
    using memory = DeviceMemory.allocate(context, 64 << 20);
    await delay(40);
    assert.ok(!memory.closed);
  }
  await delay(40);
  const samples = sampler.window(from, Infinity);
  assert.ok(samples.length >= 10, `${samples.length} samples in ~80 ms`);
  const peak = Math.max(...samples.map((s) => s.usedBytes));
  assert.equal(peak - before, 64 << 20);
  assert.equal(samples.at(-1)!.usedBytes, before);
  for (let i = 1; i < samples.length; i++) {
    assert.ok(samples[i]!.epochMs > samples[i - 1]!.epochMs);
    // a stalled sampler shows as a long gap; a loaded machine's scheduler may hold it off for tens of ms
    const gap = samples[i]!.epochMs - samples[i - 1]!.epochMs;
    assert.ok(gap < 250, `a gap of ${gap.toFixed(0)} ms between samples`);
  }
}

testUnless(
  fake.skip,
  "the sampler reads NVML in a Worker every few ms, while the main thread works",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using sampler = GpuMemorySampler.start({
      source: "nvml",
      ordinal: 0,
      pciBusId: "0000:18:00.0",
      nvmlPaths: [fake.path!],
      intervalMs: 2,
    });
    await watchAllocation(driver, sampler);
    assert.equal(sampler.source, "nvml");
  },
);

testUnless(
  fake.skip,
  "the sampler reads cuMemGetInfo where told, its Worker owning the context",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using sampler = GpuMemorySampler.start({
      source: "cuMemGetInfo",
      ordinal: 0,
      pciBusId: "0000:18:00.0",
      cudaPaths: [fake.path!],
      intervalMs: 2,
    });
    await watchAllocation(driver, sampler);
    assert.equal(sampler.source, "cuMemGetInfo");
    sampler.close();
    const stats = control!.stats();
    assert.equal(stats.liveAllocations, 0);
  },
);

function gpuSkip(): string | undefined {
  try {
    return cudaDriver().deviceCount() > 0 ? undefined : "the CUDA driver reports no device";
  } catch (error) {
    return `no usable CUDA driver: ${(error as Error).message}`;
  }
}

for (const source of ["nvml", "cuMemGetInfo"] as const) {
  testUnless(
    gpuSkip(),
    `GPU: the sampler sees a 1 GiB allocation come and go (${source})`,
    async () => {
      const driver = cudaDriver();
      const device = driver.device(0);
      using sampler = GpuMemorySampler.start({ source, ordinal: 0, pciBusId: device.pciBusId });
      assert.equal(await sampler.ready(10_000), true, sampler.problem ?? "");
      using context = CudaContext.retainPrimary(driver, 0);
      await delay(50);
      const from = performance.timeOrigin + performance.now();
      const before = sampler.window(0, from).at(-1)!.usedBytes;
      {
        using memory = DeviceMemory.allocate(context, 1 << 30);
        await delay(100);
        assert.ok(!memory.closed);
      }
      await delay(100);
      const samples = sampler.window(from, Infinity);
      const peak = Math.max(...samples.map((s) => s.usedBytes));
      console.log(
        `  ${sampler.source}: ${samples.length} samples in ~200 ms, before ${before}, peak ${peak}, after ${
          samples.at(-1)!.usedBytes
        }`,
      );
      assert.ok(
        samples.length >= 15,
        `${samples.length} samples in ~200 ms (want one per ≤ 10 ms)`,
      );
      assert.ok(peak - before >= 1 << 30, `peak ${peak} − before ${before} < 1 GiB`);
      assert.ok(samples.at(-1)!.usedBytes - before < 64 << 20, "the memory did not come back");
    },
  );
}
