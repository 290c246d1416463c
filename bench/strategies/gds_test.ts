import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openWeights } from "../formats/weights.ts";
import { CudaDriver } from "../ffi/cuda.ts";
import {
  Cufile,
  CufileError,
  cufileMode,
  CufileUnavailableError,
  describeCufileStatus,
} from "../ffi/cufile.ts";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { CudaTarget } from "../targets/cuda.ts";
import { HostTarget } from "../targets/host.ts";
import { testUnless } from "../util/testing.ts";
import { strategyConformance } from "./_conformance.ts";
import { alignedSpan, cufileUnavailable, gds } from "./gds.ts";

const TINY = fileURLToPath(new URL("../../fixtures/testdata/tiny.safetensors", import.meta.url));
const fake = await fakeDriver();
/** Kept open for the whole module, so the fake stays loaded between tests. */
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

Deno.test("gds: the host target is skipped with the reason, before cuFile is opened", async () => {
  const weights = await openWeights(TINY);
  using target = new HostTarget();
  const reason = gds.create(gds.options.parse({ library: "/nonexistent/libcufile.so.0" }))
    .unsupported!(weights, target);
  assert.equal(
    reason,
    'GPUDirect Storage reads into GPU memory, which target "host" does not expose (use a cuda:N target)',
  );
});

Deno.test("gds: a missing cuFile library names every path tried", () => {
  const paths = ["/nonexistent/libcufile.so.0", "libcufile-surely-absent.so"];
  assert.throws(
    () => Cufile.open({ paths }),
    (error: unknown) => {
      assert.ok(error instanceof CufileUnavailableError);
      assert.deepEqual(error.tried, paths);
      assert.match(
        error.message,
        /^Cannot open cuFile \(GPUDirect Storage\): tried "\/nonexistent\/libcufile\.so\.0", "libcufile-surely-absent\.so" \(/,
      );
      return true;
    },
  );
  assert.match(
    cufileUnavailable(paths[0])!,
    /^libcufile\.so not found \(tried \/nonexistent\/libcufile\.so\.0\): GPUDirect Storage needs NVIDIA's cuFile library$/,
  );
});

Deno.test("gds: cuFile statuses, modes, options and aligned spans as cufile.h and O_DIRECT want", () => {
  assert.deepEqual(describeCufileStatus(5011), {
    name: "CU_FILE_CUDA_DRIVER_ERROR",
    text: "CUDA Driver API error",
  });
  assert.equal(describeCufileStatus(4242).name, "CUfileOpError 4242");
  const error = new CufileError("cuFileDriverOpen", 5011, 100);
  assert.equal(error.code, "CU_FILE_CUDA_DRIVER_ERROR");
  assert.match(
    error.message,
    /^cuFileDriverOpen failed: CU_FILE_CUDA_DRIVER_ERROR: CUDA Driver API error \(CUresult 100: /,
  );
  assert.equal(cufileMode(true), "gds");
  assert.equal(cufileMode(false), "compat");
  for (const input of [{ chunkSize: 5000 }, { depth: 0 }, { mode: "gds" }, { library: "" }]) {
    assert.equal(gds.options.safeParse(input).success, false, JSON.stringify(input));
  }
  assert.deepEqual(alignedSpan(8 + 1234, 1 << 20), { start: 0, stop: 1 << 20 });
  assert.deepEqual(alignedSpan(4096, 4097), { start: 4096, stop: 8192 });
  assert.deepEqual(alignedSpan(10_000, 20_000), { start: 8192, stop: 20_480 });
  assert.deepEqual(alignedSpan(0, 0), { start: 0, stop: 4096 });
});

/** NVIDIA's real libcufile here, where it is installed and no GPU answers. */
function realCufileSkip(): string | undefined {
  try {
    Cufile.open();
  } catch (error) {
    return `no cuFile library: ${(error as Error).message}`;
  }
  try {
    CudaDriver.open().deviceCount();
    return "a GPU answers here: cuFile's driver may open";
  } catch {
    return undefined;
  }
}

testUnless(
  realCufileSkip(),
  "gds: without a GPU the real cuFile's driver does not open, and the reason is cuFile's",
  () => {
    assert.match(
      cufileUnavailable()!,
      /^cuFile cannot open its driver: cuFileDriverOpen failed: CU_FILE_CUDA_DRIVER_ERROR: CUDA Driver API error \(CUresult 100: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\)$/,
    );
  },
);

testUnless(
  fake.skip ?? realCufileSkip(),
  "gds on a cuda target where the real cuFile cannot run: skipped with cuFile's reason",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, { driver, nvmlPaths: [fake.path!], sampler: false });
    const strategy = gds.create(gds.options.parse({}));
    const reason = strategy.unsupported!(await openWeights(TINY), target);
    assert.match(
      reason!,
      /^cuFile cannot open its driver: cuFileDriverOpen failed: CU_FILE_CUDA_DRIVER_ERROR: /,
    );
    strategy.close?.();
  },
);

testUnless(
  fake.skip,
  "gds without nvidia-fs: skipped, saying which mode cuFile would run in, unless asked to measure it",
  async () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using target = CudaTarget.open(0, { driver, nvmlPaths: [fake.path!], sampler: false });
    const weights = await openWeights(TINY);
    const plain = gds.create(gds.options.parse({ library: fake.path! }));
    assert.equal(
      plain.unsupported!(weights, target),
      cufileMode() === "gds"
        ? undefined
        : "GPUDirect Storage is not available here (no nvidia-fs kernel module): cuFile would run in compatibility mode, reading through host memory (allowCompat: true measures that)",
    );
    const compat = gds.create(gds.options.parse({ library: fake.path!, allowCompat: true }));
    assert.equal(compat.unsupported!(weights, target), undefined);
    plain.close?.();
    compat.close?.();
  },
);

// The suite on a cuda target of the fake driver, whose cuFile (compatibility mode) wants the
// context current on the thread of each read and refuses what O_DIRECT refuses: unaligned reads.
strategyConformance(
  gds,
  {
    "compatibility mode": { library: fake.path ?? "", allowCompat: true },
    "small chunks, one in flight": {
      library: fake.path ?? "",
      allowCompat: true,
      chunkSize: 4096,
      depth: 1,
    },
  },
  {
    name: "cuda:0 of the fake driver, with its cuFile",
    skip: fake.skip,
    open: () => {
      control!.configure({ memoryBytes: 1 << 30 });
      const driver = CudaDriver.open({ paths: [fake.path!] });
      return CudaTarget.open(0, { driver, nvmlPaths: [fake.path!], sampler: false });
    },
  },
);

/** Why the suite cannot run on cuda:0 with NVIDIA's cuFile here: no GPU, or cuFile's own reason. */
function realGpuSkip(): string | undefined {
  try {
    if (CudaDriver.open().deviceCount() === 0) return "no GPU";
  } catch (error) {
    return `no GPU: ${(error as Error).message}`;
  }
  return cufileUnavailable();
}

// On a GPU: the same suite through NVIDIA's cuFile, true GDS where nvidia-fs is loaded, else its
// compatibility mode (allowCompat), reads on Workers with the context pushed around each one.
strategyConformance(
  gds,
  { "NVIDIA's cuFile (compatibility mode where nvidia-fs is absent)": { allowCompat: true } },
  { name: "GPU cuda:0", skip: realGpuSkip(), open: () => CudaTarget.open(0) },
);

testUnless(fake.skip, "gds: every read went through cuFile, and nothing stays registered", () => {
  const stats = control!.stats();
  assert.ok(stats.cufileReads > 0, "no cuFileRead");
  assert.equal(stats.cufileBuffers, 0);
  assert.equal(stats.liveAllocations, 0);
});
