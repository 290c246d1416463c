import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateFixture } from "../../fixtures/generate.ts";
import { InputError } from "../util/errors.ts";
import { CudaDriver, cudaDriver, CudaError } from "../ffi/cuda.ts";
import { Nvml, NvmlError } from "../ffi/nvml.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { tensorDigests } from "../core/digests.ts";
import { Recorder } from "../core/recorder.ts";
import { verifyLoad } from "../core/verify.ts";
import { direct } from "../strategies/direct.ts";
import { fullRead } from "../strategies/full_read.ts";
import { mmap } from "../strategies/mmap.ts";
import { parallel } from "../strategies/parallel.ts";
import { pinned } from "../strategies/pinned.ts";
import { streamed } from "../strategies/streamed.ts";
import { type StrategyDefinition } from "../strategies/strategy.ts";
import { targetFootprint } from "../core/load.ts";
import { testUnless, withTempDir } from "../util/testing.ts";
import { FILL_U32_PTX } from "../gpu/_test_kernels.ts";
import { cudaAvailability, CudaTarget, type CudaTargetOptions } from "./cuda.ts";
import { openTarget, resolveAutoTarget } from "./registry.ts";
import { targetConformance, type TargetExtensions, thrown } from "./_conformance.ts";
import { DeviceLeakError, type Target } from "../core/target.ts";

const TESTDATA = fileURLToPath(new URL("../../fixtures/testdata/", import.meta.url));
const fake = await fakeDriver();
/** Kept open for the whole module, so the fake stays loaded between tests. */
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);
const cuda = cudaAvailability();
const NO_GPU = cuda.available ? undefined : `no GPU: ${cuda.reason}`;
const HAS_DRIVER = cuda.available ||
    !cuda.reason.startsWith("no CUDA driver")
  ? "a CUDA driver is present here"
  : undefined;

/** The options that point a target at the fake driver. */
function fakeOptions(driver: CudaDriver): CudaTargetOptions {
  return {
    driver,
    nvmlPaths: [fake.path!],
    sampler: { nvmlPaths: [fake.path!], intervalMs: 2 },
  };
}

// ---- without a driver ----

testUnless(
  HAS_DRIVER,
  "without a driver, auto is host and says why; cuda:0 is an input error",
  () => {
    assert.deepEqual(resolveAutoTarget(), {
      id: "host",
      reason: "no CUDA driver (libcuda.so.1 not found)",
    });
    const error = thrown(() => openTarget("cuda:0"));
    assert.ok(error instanceof InputError);
    assert.equal(error.exitCode, 2);
    assert.match(
      error.message,
      /^Target "cuda:0" is not available: no CUDA driver \(libcuda\.so\.1 not found\): Cannot open the CUDA driver: tried "libcuda\.so\.1", /,
    );
  },
);

Deno.test("auto picks cuda:0 where the driver has a device, and names it", () => {
  const auto = resolveAutoTarget(() => ({
    available: true,
    driver: undefined as unknown as CudaDriver,
    version: 13000,
    devices: [
      { name: "NVIDIA H100 80GB HBM3" } as never,
      { name: "NVIDIA H100 80GB HBM3" } as never,
    ],
  }));
  assert.deepEqual(auto, {
    id: "cuda:0",
    reason: "CUDA driver 13.0, 2 devices: cuda:0 is NVIDIA H100 80GB HBM3",
  });
  assert.deepEqual(
    resolveAutoTarget(() => ({ available: false, reason: "the CUDA driver reports no device" })),
    { id: "host", reason: "the CUDA driver reports no device" },
  );
});

// ---- the conformance suite: on the fake driver here, on the GPU there ----

/** What every cuda target has. */
const CUDA_EXTENSIONS: TargetExtensions = {
  staging: "pinned",
  metering: true,
  kernels: true,
  deviceAddress: true,
};

targetConformance({
  name: "cuda:0 on the fake driver",
  skip: fake.skip,
  // queued copies land 2 ms late, so a kernel or a close() that does not wait for them is caught
  before: () => control!.configure({ copyDelayUs: 2000 }),
  open: (resources) => {
    const driver = resources.use(CudaDriver.open({ paths: [fake.path!] }));
    return CudaTarget.open(0, fakeOptions(driver));
  },
  expect: { id: "cuda:0", kind: "cuda", transferPhase: "h2d", beyondReservation: "allocates" },
  extensions: CUDA_EXTENSIONS,
});

targetConformance({
  name: "cuda:0",
  skip: NO_GPU,
  open: () => CudaTarget.open(0),
  expect: { id: "cuda:0", kind: "cuda", transferPhase: "h2d", beyondReservation: "allocates" },
  extensions: CUDA_EXTENSIONS,
});

// ---- the fake driver ----

testUnless(fake.skip, "fake cuda: open, facts, out-of-range ordinal, driver mismatch", () => {
  control!.configure({ devices: 2 });
  using driver = CudaDriver.open({ paths: [fake.path!] });
  {
    using target = CudaTarget.open(1, fakeOptions(driver));
    assert.equal(target.id, "cuda:1");
    assert.equal(target.transferPhase, "h2d");
    const info = target.info;
    assert.equal(info.kind, "cuda");
    assert.equal(info.name, "Fake CUDA Device 1");
    assert.equal(info.driver, "580.00.01");
    assert.equal(info.cudaDriverVersion, "13.0");
    assert.equal(info.pcieLinkGeneration, 5);
    assert.equal(info.pcieLinkWidth, 16);
    assert.equal(info.pciBusId, "0000:19:00.0");
  }
  const outOfRange = thrown(() => CudaTarget.open(2, fakeOptions(driver)));
  assert.ok(outOfRange instanceof InputError);
  assert.equal(
    outOfRange.message,
    'Target "cuda:2" does not exist: this machine has 2 CUDA devices (cuda:0, cuda:1)',
  );
  control!.configure({ initStatus: 803 });
  using mismatched = CudaDriver.open({ paths: [fake.path!] });
  const mismatch = thrown(() => CudaTarget.open(0, fakeOptions(mismatched)));
  assert.ok(mismatch instanceof InputError);
  assert.match(
    mismatch.message,
    /^Target "cuda:0" is not available: cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: /,
  );
  assert.ok(mismatch.cause instanceof CudaError);
});

testUnless(
  fake.skip,
  "fake cuda: weights larger than free memory fail before anything is allocated",
  () => {
    control!.configure({ memoryBytes: 1 << 30 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, fakeOptions(driver));
    const error = thrown(() => target.reserve(2 * 2 ** 30));
    assert.ok(error instanceof InputError);
    assert.match(
      error.message,
      /^Cannot load 2\.00 GiB of weights onto cuda:0 \(Fake CUDA Device 0\): 1\.00 GiB of its 1\.00 GiB are free$/,
    );
    assert.equal(control!.stats().liveAllocations, 0);
    target.reserve(512 << 20);
  },
);

testUnless(
  fake.skip,
  "fake cuda: copies, queued copies from pinned staging, read back, free",
  async () => {
    control!.configure({ copyDelayUs: 2000 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, fakeOptions(driver));
    target.reserve(64 << 20);
    using source = NativeMemory.allocate(1 << 20);
    source.view(0, 1 << 20).fill(3);
    const buffer = target.allocate(1 << 20);
    await target.copyIn(buffer, 0, source.pointer(), 1 << 20);
    await target.synchronize();
    assert.ok(target.readBack(buffer, 0, 1 << 20).every((b) => b === 3));

    // A queued copy reads its staging later: closing the staging waits for it.
    const staging = target.allocatePinned(4096);
    assert.equal(staging.pinned, true);
    staging.view(0, 4096).fill(9);
    const landed = target.copyInAsync(buffer, 4096, staging, 0, 4096);
    staging.close();
    await landed;
    assert.ok(target.readBack(buffer, 4096, 4096).every((b) => b === 9));
    assert.equal(target.pinnedLiveBytes, 0);

    // Many queued copies over the streams land in order of their slots.
    const stagings = Array.from({ length: 8 }, (_, i) => {
      const s = target.allocatePinned(65536);
      s.view(0, 65536).fill(i + 20);
      return s;
    });
    await Promise.all(
      stagings.map((s, i) => target.copyInAsync(buffer, 65536 * (i + 2), s, 0, 65536)),
    );
    for (let i = 0; i < 8; i++) {
      assert.ok(target.readBack(buffer, 65536 * (i + 2), 65536).every((b) => b === i + 20));
    }
    for (const s of stagings) s.close();

    await assert.rejects(
      () => target.copyIn(buffer, (1 << 20) - 10, source.pointer(), 11),
      RangeError,
    );
    const foreign = { target: "host", size: 64 };
    await assert.rejects(() => target.copyIn(foreign, 0, source.pointer(), 1), /another target/);
    target.free(buffer);
    target.free(buffer);
    await assert.rejects(() => target.copyIn(buffer, 0, source.pointer(), 1), /after free/);
    target.close();
    target.close();
    const stats = control!.stats();
    assert.equal(stats.liveAllocations, 0);
    assert.equal(stats.pinnedBytes, 0);
    assert.equal(stats.liveStreams, 0);
  },
);

testUnless(
  fake.skip,
  "fake cuda: the meter times copies by events, samples memory, catches leaks",
  async () => {
    control!.configure({ copyDelayUs: 1000 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, fakeOptions(driver));
    target.reserve(64 << 20);
    assert.equal(await target.sampler!.ready(10_000), true, target.sampler!.problem ?? "");

    const meter = target.meterLoad(performance.now());
    const staging = target.allocatePinned(8 << 20);
    const buffer = target.allocate(32 << 20);
    await target.copyInAsync(buffer, 0, staging, 0, 8 << 20);
    await target.copyIn(buffer, 8 << 20, staging.pointer(), 8 << 20);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const loaded = meter.loaded();
    assert.equal(loaded.h2dBytes, 16 << 20);
    assert.ok(
      loaded.h2dEventMs !== null && loaded.h2dEventMs >= 0.5,
      `h2d ${loaded.h2dEventMs} ms`,
    );
    assert.ok(loaded.memoryAfterBytes - loaded.memoryBeforeBytes >= 32 << 20);
    assert.equal(
      loaded.gpuMemorySource,
      "nvml (used memory, reserved included), sampled every 2 ms",
    );
    assert.ok(loaded.gpuMemory.length >= 3, `${loaded.gpuMemory.length} samples`);
    assert.ok(loaded.gpuMemory.every((s) => s.t >= 0));
    assert.ok(loaded.peakMemoryBytes! >= loaded.memoryBeforeBytes + (32 << 20));
    // Nothing freed yet: both the device buffer and the staging count as leaks.
    const leak = thrown(() => meter.released());
    assert.ok(leak instanceof DeviceLeakError);
    assert.match(
      leak.message,
      /^Memory leaked on cuda:0 after release: 1 device buffer\(s\) still allocated \(32\.00 MiB\); 32\.00 MiB more device memory in use than before the load; 1 pinned staging buffer\(s\) still allocated \(8\.00 MiB\)$/,
    );
    target.free(buffer);
    staging.close();
    assert.equal(meter.released().memoryReleasedBytes, loaded.memoryBeforeBytes);

    // Retained staging (a strategy's pool) is not a leak of the load.
    const second = target.meterLoad(performance.now());
    const pool = target.allocatePinned(4096, { retained: true });
    second.loaded();
    second.released();
    pool.close();
  },
);

/** Why NVIDIA's real NVML cannot stand beside the fake driver here: it must fail with "driver not loaded". */
function realNvmlSkip(): string | undefined {
  try {
    Nvml.open().close();
    return "NVML initialises here (a GPU driver is loaded)";
  } catch (error) {
    if (error instanceof NvmlError && error.code === "NVML_ERROR_DRIVER_NOT_LOADED") {
      return undefined;
    }
    return `no NVML library that fails with NVML_ERROR_DRIVER_NOT_LOADED: ${
      (error as Error).message
    }`;
  }
}

testUnless(
  fake.skip ?? realNvmlSkip(),
  "fake cuda beside the real NVML (driver not loaded): memory from cuMemGetInfo, NVML's reason named",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, { driver, sampler: { intervalMs: 2 } });
    target.reserve(64 << 20);
    assert.equal(await target.sampler!.ready(10_000), true, target.sampler!.problem ?? "");
    const nvmlError = "nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED: Driver Not Loaded";
    assert.equal(target.info.nvml, `unavailable: ${nvmlError}`);
    const meter = target.meterLoad(performance.now());
    const buffer = target.allocate(32 << 20);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const loaded = meter.loaded();
    assert.equal(
      loaded.gpuMemorySource,
      `cuMemGetInfo (total − free; NVML: ${nvmlError}), sampled every 2 ms`,
    );
    assert.equal(loaded.memoryAfterBytes - loaded.memoryBeforeBytes, 32 << 20);
    assert.equal(loaded.peakMemoryBytes, loaded.memoryAfterBytes);
    target.free(buffer);
    meter.released();
  },
);

testUnless(
  fake.skip,
  "fake cuda: where memory cannot be sampled the profile says why, and the load is measured",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, {
      driver,
      memorySource: "cuMemGetInfo",
      sampler: { cudaPaths: ["/nonexistent/libcuda.so.1"] },
    });
    target.reserve(64 << 20);
    assert.equal(await target.sampler!.ready(10_000), false);
    const meter = target.meterLoad(performance.now());
    const buffer = target.allocate(4 << 20);
    const loaded = meter.loaded();
    assert.match(
      loaded.gpuMemorySource,
      /^cuMemGetInfo \(total − free; NVML: not asked for\); no GPU memory sampling: cuMemGetInfo: Cannot open the CUDA driver: tried "\/nonexistent\/libcuda\.so\.1"/,
    );
    assert.equal(loaded.peakMemoryBytes, null);
    assert.deepEqual(loaded.gpuMemory, []);
    assert.equal(loaded.memoryAfterBytes - loaded.memoryBeforeBytes, 4 << 20);
    target.free(buffer);
    meter.released();
  },
);

testUnless(
  fake.skip,
  "fake cuda: device addresses and kernels launched after the copies",
  async () => {
    control!.configure({ copyDelayUs: 2000 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, { ...fakeOptions(driver), sampler: false });
    target.reserve(64 << 20);
    const buffer = target.allocate(8192);
    const address = target.deviceAddress(buffer, 4096);
    assert.equal(address - target.deviceAddress(buffer, 0), 4096n);
    assert.throws(() => target.deviceAddress(buffer, 8193), RangeError);
    const module = target.kernels.loadModule(FILL_U32_PTX);
    const staging = target.allocatePinned(8192);
    staging.view(0, 8192).fill(1);
    const copied = target.copyInAsync(buffer, 0, staging, 0, 8192); // lands 2 ms later
    await target.kernels.launch(module, "fill_u32", [1, 1, 1], [256, 1, 1], [
      { kind: "address", buffer, offset: 0 },
      { kind: "u64", value: 0x01020304 },
      { kind: "u64", value: 16 },
    ]);
    await copied;
    // fill_u32 takes (u32*, u32, u32); little-endian, the low words of the u64s are its arguments
    const words = new Uint32Array(target.readBack(buffer, 0, 128).slice().buffer);
    assert.equal(words[0], 0x01020304, "the kernel ran before the copy it should follow");
    assert.equal(words[16], 0x01010101);
    staging.close();
  },
);

testUnless(
  fake.skip,
  "fake cuda: out of memory is a CUDA error, and freeAll returns everything",
  () => {
    control!.configure({ memoryBytes: 256 << 20 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, { ...fakeOptions(driver), sampler: false });
    const used = control!.stats().usedDeviceBytes;
    target.allocate(100 << 20);
    target.allocate(100 << 20);
    const oom = thrown(() => target.allocate(100 << 20));
    assert.ok(oom instanceof CudaError);
    assert.equal(oom.code, "CUDA_ERROR_OUT_OF_MEMORY");
    target.freeAll();
    assert.equal(control!.stats().usedDeviceBytes, used);
  },
);

// ---- every strategy onto a cuda target: the fake here, the GPU there ----

/** The strategies that move bytes unchanged, with option sets, loaded onto a cuda target. */
// deno-lint-ignore no-explicit-any
const VARIANTS: readonly [StrategyDefinition<any>, Record<string, unknown>][] = [
  [fullRead, {}],
  [fullRead, { transfer: "tensor", staging: "reused" }],
  [mmap, {}],
  [parallel, {}],
  [direct, {}],
  [pinned, {}],
  [pinned, { staging: "reused" }],
  [streamed, {}],
  [streamed, { chunkSize: 1 << 20, buffers: 2 }],
  [streamed, { chunkSize: 1 << 20, direct: true, staging: "reused" }],
];

/** Loads small weights through every strategy, twice each, verifying bytes, meter and release. */
async function loadEverything(target: Target, weights: readonly WeightSet[]): Promise<void> {
  target.reserve(Math.max(...weights.map((w) => targetFootprint(w) + w.files.length * 4096)));
  for (const set of weights) {
    const digests = await tensorDigests(set);
    for (const [definition, input] of VARIANTS) {
      const strategy = definition.create(definition.options.parse(input));
      try {
        if (strategy.unsupported?.(set, target) !== undefined) continue;
        for (let round = 0; round < 2; round++) {
          const recorder = new Recorder();
          const meter = target.meterLoad!(recorder.origin);
          const result = await strategy.load({ weights: set, target, recorder });
          const loaded = meter.loaded();
          const what = `${definition.name} ${JSON.stringify(input)} on ${set.source}`;
          assert.ok(loaded.h2dBytes >= set.tensorBytes, `${what}: ${loaded.h2dBytes} bytes copied`);
          assert.ok(loaded.h2dEventMs !== null, what);
          assert.ok(recorder.spans.some((s) => s.phase === "h2d"), `${what}: no h2d span`);
          const verification = verifyLoad(set, digests, result, target);
          assert.equal(verification.bytes, set.tensorBytes, what);
          for (const buffer of result.buffers) target.free(buffer);
          meter.released();
        }
      } finally {
        strategy.close?.();
      }
    }
  }
}

async function smallWeights(dir: string): Promise<WeightSet[]> {
  await generateFixture(
    { layout: "llama-3.2-1b", size: 8 << 20, dtype: "F16", shards: 2 },
    join(dir, "generated"),
  );
  return [
    await openWeights(join(dir, "generated")),
    await openWeights(join(TESTDATA, "tiny-sharded")),
    await openWeights(join(TESTDATA, "tiny.gguf")),
  ];
}

testUnless(fake.skip, "fake cuda: every strategy loads, verifies and releases", async () => {
  control!.configure({ memoryBytes: 1 << 30, copyDelayUs: 50 });
  using driver = CudaDriver.open({ paths: [fake.path!] });
  await withTempDir(async (dir) => {
    using target = CudaTarget.open(0, fakeOptions(driver));
    await loadEverything(target, await smallWeights(dir));
    assert.equal(target.pinnedLiveBytes, 0, "pinned staging outlived its strategies");
  });
  const stats = control!.stats();
  assert.equal(stats.liveAllocations, 0);
  assert.equal(stats.pinnedBytes, 0);
  assert.ok(stats.asyncCopies > 0, "no strategy queued a copy");
});

// ---- the real GPU ----

testUnless(
  NO_GPU,
  "GPU: cuda:0 opens, refuses an ordinal out of range and oversized weights",
  () => {
    using target = openTarget("cuda:0") as CudaTarget;
    console.log(`  ${JSON.stringify(target.info)}`);
    const count = cudaDriver().deviceCount();
    const error = thrown(() => openTarget(`cuda:${count}`));
    assert.ok(error instanceof InputError);
    assert.match(error.message, /does not exist: this machine has \d+ CUDA device/);
    const total = target.context.memoryInfo().total;
    const tooBig = thrown(() => target.reserve(total + (1 << 30)));
    assert.ok(tooBig instanceof InputError);
    assert.match(tooBig.message, /^Cannot load .* of weights onto cuda:0 \(.+\): .* are free$/);
    const oom = thrown(() => target.allocate(total + (1 << 30)));
    assert.ok(oom instanceof CudaError);
    assert.equal(oom.code, "CUDA_ERROR_OUT_OF_MEMORY");
  },
);

testUnless(
  NO_GPU,
  "GPU: every strategy loads onto cuda:0, verifies, and returns every byte",
  async () => {
    await withTempDir(async (dir) => {
      using target = openTarget("cuda:0") as CudaTarget;
      await target.sampler?.ready(10_000);
      const used = target.context.memoryInfo();
      await loadEverything(target, await smallWeights(dir));
      assert.equal(target.pinnedLiveBytes, 0, "pinned staging outlived its strategies");
      const after = target.context.memoryInfo();
      console.log(
        `  device memory free before ${used.free}, after ${after.free}; memory ${target.memorySource}; waits ${target.context.waitMode}`,
      );
      assert.ok(used.free - after.free <= 16 << 20, "device memory did not come back");
    });
  },
);

testUnless(NO_GPU, "GPU: queued copies from pinned staging reach link speed", async () => {
  using target = openTarget("cuda:0") as CudaTarget;
  const size = 512 << 20;
  target.reserve(size);
  const buffer = target.allocate(size);
  const stagings = [0, 1, 2].map(() => target.allocatePinned(64 << 20));
  for (const [i, s] of stagings.entries()) s.view(0, 64 << 20).fill(i + 1);
  const meter = target.meterLoad(performance.now());
  const began = performance.now();
  const copies: Promise<void>[] = [];
  for (let offset = 0, i = 0; offset < size; offset += 64 << 20, i++) {
    copies.push(target.copyInAsync(buffer, offset, stagings[i % 3]!, 0, 64 << 20));
  }
  await Promise.all(copies);
  const hostMs = performance.now() - began;
  const loaded = meter.loaded();
  const gbps = size / (loaded.h2dEventMs! * 1e6);
  console.log(
    `  512 MiB queued from pinned memory: ${gbps.toFixed(1)} GB/s by events, ${
      (size / (hostMs * 1e6)).toFixed(1)
    } GB/s by the host clock`,
  );
  assert.ok(target.readBack(buffer, (64 << 20) * 4, 16).every((b) => b === 2));
  assert.ok(gbps > 5, `${gbps} GB/s`);
  for (const s of stagings) s.close();
  target.free(buffer);
  meter.released();
});
