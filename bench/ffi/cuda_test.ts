import assert from "node:assert/strict";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { FILL_U32_PTX } from "../gpu/_test_kernels.ts";
import { testUnless } from "../util/testing.ts";
import {
  copyDeviceToHost,
  copyDeviceToHostAsync,
  copyHostToDevice,
  copyHostToDeviceAsync,
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DISABLE_TIMING,
  CUDA_CODE_NAMES,
  CUDA_LIBRARY_CANDIDATES,
  CudaContext,
  CudaDriver,
  cudaDriver,
  CudaError,
  CudaEvent,
  CudaModule,
  CudaStream,
  CudaUnavailableError,
  describeCudaStatus,
  DeviceMemory,
  fillDevice,
  formatUuid,
  HostRegistration,
  PinnedMemory,
} from "./cuda.ts";
import { NativeMemory } from "./native_memory.ts";

/** The {@link CudaError} `fn` throws; fails when it throws none or another error. */
function cudaErrorOf(fn: () => unknown): CudaError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CudaError, `threw ${String(error)}`);
    return error;
  }
  assert.fail("threw nothing");
}

// ---- without any driver ----

Deno.test("CudaDriver.open lists every path it tried, in order, with the first failure", () => {
  const paths = ["/nonexistent/libcuda.so.1", "/also/not/here/libcuda.so.1"];
  let error: unknown;
  try {
    CudaDriver.open({ paths });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof CudaUnavailableError);
  assert.deepEqual(error.tried, paths);
  assert.match(
    error.message,
    /^Cannot open the CUDA driver: tried "\/nonexistent\/libcuda\.so\.1", "\/also\/not\/here\/libcuda\.so\.1" \(.+\)$/,
  );
  assert.ok(Array.isArray(error.cause) && error.cause.length === 2);
});

Deno.test("the loader tries WEIGHTBENCH_LIBCUDA first, then libcuda.so.1 (the driver, not the toolkit)", () => {
  assert.equal(CUDA_LIBRARY_CANDIDATES[0], "libcuda.so.1");
  assert.ok(CUDA_LIBRARY_CANDIDATES.every((p) => p.endsWith("libcuda.so.1")));
  assert.ok(!CUDA_LIBRARY_CANDIDATES.some((p) => p.includes("stubs") || p.includes("cudart")));
  const previous = Deno.env.get("WEIGHTBENCH_LIBCUDA");
  Deno.env.set("WEIGHTBENCH_LIBCUDA", "/nonexistent/override/libcuda.so.1");
  try {
    try {
      // Left open where it loads: unloading a real libcuda is unsafe.
      assert.notEqual(CudaDriver.open().path, "/nonexistent/override/libcuda.so.1");
    } catch (error) {
      assert.ok(error instanceof CudaUnavailableError);
      assert.deepEqual(error.tried, [
        "/nonexistent/override/libcuda.so.1",
        ...CUDA_LIBRARY_CANDIDATES,
      ]);
    }
  } finally {
    if (previous === undefined) Deno.env.delete("WEIGHTBENCH_LIBCUDA");
    else Deno.env.set("WEIGHTBENCH_LIBCUDA", previous);
  }
});

Deno.test("describeCudaStatus prefers the driver's words, then names the codes weightbench uses", () => {
  assert.deepEqual(
    describeCudaStatus(2, { name: "CUDA_ERROR_OUT_OF_MEMORY", text: "out of memory" }),
    { name: "CUDA_ERROR_OUT_OF_MEMORY", text: "out of memory" },
  );
  assert.deepEqual(describeCudaStatus(100, { name: null, text: null }), {
    name: "CUDA_ERROR_NO_DEVICE",
    text: "the driver has no text for this code",
  });
  assert.equal(describeCudaStatus(34).name, "CUDA_ERROR_STUB_LIBRARY");
  assert.match(describeCudaStatus(34).text, /toolkit's stub/);
  assert.deepEqual(describeCudaStatus(123456), {
    name: "CUDA error 123456",
    text: "the driver has no text for this code",
  });
});

Deno.test("CudaError carries the call, the status and the CUDA error name", () => {
  const error = new CudaError(
    "cuMemAlloc_v2 of 9 bytes",
    2,
    "CUDA_ERROR_OUT_OF_MEMORY",
    "out of memory",
  );
  assert.equal(error.name, "CudaError");
  assert.equal(error.code, "CUDA_ERROR_OUT_OF_MEMORY");
  assert.equal(error.status, 2);
  assert.equal(
    error.message,
    "cuMemAlloc_v2 of 9 bytes failed: CUDA_ERROR_OUT_OF_MEMORY: out of memory",
  );
});

Deno.test("formatUuid prints a CUuuid as nvidia-smi does", () => {
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
  assert.equal(formatUuid(bytes), "GPU-00112233-4455-6677-8899-aabbccddeeff");
});

// ---- the same checks on the fake driver here and on the real one on a GPU machine ----

/**
 * Every binding, once, on device 0 of `driver`; `fake` tells what only the
 * fake can promise; `waits`, how the context's waits must have run.
 */
async function exercise(
  driver: CudaDriver,
  fake: boolean,
  waits: "worker" | "blocking" = "worker",
): Promise<void> {
  assert.ok(driver.version() >= 12000, `driver version ${driver.version()}`);
  const count = driver.deviceCount();
  assert.ok(count >= 1);
  const info = driver.device(0);
  assert.ok(info.name.length > 0);
  assert.match(info.pciBusId, /^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9]$/);
  assert.match(info.computeCapability, /^\d+\.\d+$/);
  assert.ok(info.totalMemoryBytes > 0 && info.multiprocessors > 0);
  assert.match(
    info.uuid ?? "",
    /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );

  const invalid = cudaErrorOf(() => driver.device(count + 7));
  assert.ok(invalid instanceof CudaError);
  assert.equal(invalid.code, "CUDA_ERROR_INVALID_DEVICE");

  const context = CudaContext.retainPrimary(driver, 0);
  const before = context.memoryInfo();
  assert.ok(before.total > 0 && before.free <= before.total);
  await exerciseContext(context, before);
  assert.equal(context.waitMode, waits, context.waitNote ?? "");
  if (waits === "blocking") {
    assert.match(context.waitNote!, /^the wait Worker's (event|stream) wait returned /);
  }
  // every object above is closed: the memory is back
  if (fake) assert.equal(context.memoryInfo().free, before.free);
  context.close();
  context.close();
  assert.throws(() => context.memoryInfo(), /after close/);
}

async function exerciseContext(
  context: CudaContext,
  before: { free: number; total: number },
): Promise<void> {
  // synchronous round trip
  const size = 3 << 20;
  using device = DeviceMemory.allocate(context, size);
  using source = NativeMemory.allocate(size);
  for (let i = 0; i < size; i += 4096) source.view(i, 1)[0] = (i / 4096) % 251;
  source.view(size - 1, 1)[0] = 77;
  copyHostToDevice(context, device.address(), source.pointer(), size);
  using back = PinnedMemory.allocate(context, size);
  copyDeviceToHost(context, back.pointer(), device.address(), size);
  const expected = source.view(0, size);
  assert.ok(back.view(0, size).every((b, i) => b === expected[i]));
  assert.ok(context.memoryInfo().free <= before.free - size);

  // memset, then an offset copy
  fillDevice(context, device.address(), 9, size);
  copyDeviceToHost(context, back.pointer(), device.address(1000), 10);
  assert.deepEqual([...back.view(0, 10)], Array(10).fill(9));

  // stream-ordered copies from pinned memory, waited for off this thread, timed with events
  using stream = CudaStream.create(context);
  using start = CudaEvent.create(context);
  using end = CudaEvent.create(context);
  using done = CudaEvent.create(context, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
  using pinned = PinnedMemory.allocate(context, size);
  pinned.view(0, size).fill(0x5a);
  start.record(stream);
  copyHostToDeviceAsync(stream, device.address(), pinned.pointer(), size);
  end.record(stream);
  done.record(stream);
  await done.synchronize();
  assert.ok(done.query());
  await stream.synchronize();
  const ms = CudaEvent.elapsedMs(start, end);
  assert.ok(ms >= 0 && ms < 10_000, `elapsed ${ms} ms`);
  back.view(0, size).fill(0);
  copyDeviceToHostAsync(stream, back.pointer(), device.address(), size);
  await stream.synchronize();
  assert.ok(back.view(0, size).every((b) => b === 0x5a));

  // pageable memory pinned in place
  using registered = NativeMemory.allocate(1 << 20);
  registered.view(0, 4).set([1, 2, 3, 4]);
  {
    using registration = HostRegistration.register(context, registered.pointer(), 1 << 20);
    copyHostToDeviceAsync(stream, device.address(), registered.pointer(), 1 << 20);
    await stream.synchronize();
    registration.close();
    registration.close();
  }
  copyDeviceToHost(context, back.pointer(), device.address(), 4);
  assert.deepEqual([...back.view(0, 4)], [1, 2, 3, 4]);

  // a kernel: fill 1000 words with 0xC0FFEE
  using module = CudaModule.load(context, FILL_U32_PTX);
  const kernel = module.kernel("fill_u32");
  kernel.launch({
    grid: [4],
    block: [256],
    stream,
    args: [{ u64: device.address() }, { u32: 0xC0FFEE }, { u32: 1000 }],
  });
  await stream.synchronize();
  copyDeviceToHost(context, back.pointer(), device.address(), 4004);
  const words = new Uint32Array(back.view(0, 4004).slice().buffer);
  assert.equal(words[0], 0xC0FFEE);
  assert.equal(words[999], 0xC0FFEE);
  assert.notEqual(words[1000], 0xC0FFEE);
  assert.equal(
    (cudaErrorOf(() => module.kernel("no_such_kernel"))).code,
    "CUDA_ERROR_NOT_FOUND",
  );
  assert.throws(() => CudaModule.load(context, "not a module"), CudaError);

  // out of memory is a typed error, and nothing is left allocated by it
  const free = context.memoryInfo().free;
  const oom = cudaErrorOf(() => DeviceMemory.allocate(context, before.total * 4));
  assert.equal(oom.code, "CUDA_ERROR_OUT_OF_MEMORY");
  assert.match(
    oom.message,
    /^cuMemAlloc_v2 of \d+ bytes on cuda:0 failed: CUDA_ERROR_OUT_OF_MEMORY: /,
  );
  assert.ok(context.memoryInfo().free >= free - (2 << 20), "a failed allocation kept memory");

  // close() twice is safe, and using a closed object says so
  device.close();
  device.close();
  assert.throws(() => device.address(), /after close/);
  pinned.close();
  pinned.close();
  stream.close();
  stream.close();
  done.close();
  done.close();
  module.close();
  module.close();
  back.close();
}

const fake = await fakeDriver();
/** Kept open for the whole module, so the fake stays loaded (and its threads with it) between tests. */
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

testUnless(
  fake.skip,
  "the bindings on the fake driver: devices, memory, streams, events, kernels",
  async () => {
    control!.configure({ copyDelayUs: 200 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    await exercise(driver, true);
    const stats = control!.stats();
    assert.equal(stats.liveAllocations, 0);
    assert.equal(stats.pinnedBytes, 0);
    assert.equal(stats.registeredBytes, 0);
    assert.equal(stats.liveStreams, 0);
    assert.ok(stats.asyncCopies >= 3 && stats.kernelLaunches === 1);
  },
);

testUnless(
  fake.skip,
  "waits run on the context's Worker, where the context is current, when the driver wants one",
  async () => {
    control!.configure({ waitsNeedContext: true, copyDelayUs: 500 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    await exercise(driver, true, "worker");
  },
);

testUnless(
  fake.skip,
  "any failure of a wait off this thread falls back to a blocking wait here, and says why",
  async () => {
    control!.configure({ waitsFailOffThread: true, copyDelayUs: 500 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    await exercise(driver, true, "blocking");
  },
);

testUnless(
  fake.skip,
  "a context made current behind the bindings' back is made current again",
  () => {
    control!.configure();
    using driver = CudaDriver.open({ paths: [fake.path!] });
    using context = CudaContext.retainPrimary(driver, 0);
    // cuFile pushes and pops contexts on the threads it is called from: here, it took ours away
    driver.unwrap("cuCtxSetCurrent", driver.symbols.cuCtxSetCurrent(null));
    using memory = DeviceMemory.allocate(context, 4096);
    fillDevice(context, memory.address(), 1, 4096);
    // and pushed (then popped) around a call: what was current before is current after
    const popped = new BigUint64Array(1);
    driver.unwrap("cuCtxPushCurrent_v2", driver.symbols.cuCtxPushCurrent_v2(context.handle));
    driver.unwrap("cuCtxPopCurrent_v2", driver.symbols.cuCtxPopCurrent_v2(popped));
    assert.equal(popped[0], context.address);
    fillDevice(context, memory.address(), 2, 4096);
  },
);

testUnless(
  fake.skip,
  "unwrap() names errors with the driver's words, and weightbench's where the driver has none",
  () => {
    control!.configure({ initStatus: 803 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    const mismatch = cudaErrorOf(() => driver.init());
    assert.equal(mismatch.code, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH");
    assert.equal(
      mismatch.message,
      "cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver combination",
    );
    control!.configure({ initStatus: 34 });
    using again = CudaDriver.open({ paths: [fake.path!] });
    const stub = cudaErrorOf(() => again.init());
    assert.equal(stub.code, "CUDA_ERROR_STUB_LIBRARY"); // the fake cannot name 34, as the stub cannot
    assert.match(stub.message, /toolkit's stub/);
    control!.configure({ devices: 0 });
    using none = CudaDriver.open({ paths: [fake.path!] });
    assert.equal((cudaErrorOf(() => none.deviceCount())).code, "CUDA_ERROR_NO_DEVICE");
    control!.configure();
  },
);

// ---- the real driver ----

/** NVIDIA's real driver library where it opens here, and what `cuInit` said. */
function realLibrary(): { driver?: CudaDriver; init?: unknown; skip?: string } {
  let driver: CudaDriver;
  try {
    driver = cudaDriver();
  } catch (error) {
    return { skip: `no CUDA driver library: ${(error as Error).message}` };
  }
  try {
    driver.init();
    return { driver };
  } catch (error) {
    return { driver, init: error };
  }
}
const real = realLibrary();

testUnless(
  real.skip,
  "the real driver names every code weightbench compares against as weightbench does",
  () => {
    for (const [status, name] of Object.entries(CUDA_CODE_NAMES)) {
      const error = real.driver!.error("call", Number(status));
      assert.equal(error.code, name, `CUresult ${status}`);
      assert.ok(error.text.length > 0 && error.text !== describeCudaStatus(-1).text, error.text);
    }
  },
);

testUnless(
  real.skip ?? (real.init === undefined ? "a GPU answers cuInit here" : undefined),
  "without a GPU the real driver's cuInit fails with its own name and text for the code",
  () => {
    const error = real.init;
    assert.ok(error instanceof CudaError, String(error));
    assert.equal(error.call, "cuInit");
    assert.equal(error.code, "CUDA_ERROR_NO_DEVICE");
    assert.equal(
      error.message,
      "cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
    );
    assert.match(real.driver!.path, /libcuda\.so\.1$/);
    assert.ok(real.driver!.version() >= 11000, `cuDriverGetVersion ${real.driver!.version()}`);
  },
);

function realDriverSkip(): string | undefined {
  try {
    const count = cudaDriver().deviceCount();
    return count > 0 ? undefined : "the CUDA driver reports no device";
  } catch (error) {
    return `no usable CUDA driver: ${(error as Error).message}`;
  }
}

testUnless(realDriverSkip(), "GPU: the bindings on the real driver", async () => {
  const driver = cudaDriver(); // never closed: unloading libcuda under its own threads is unsafe
  await exercise(driver, false);
  console.log(`  ${driver.path}: driver ${driver.version()}, waits on the context's Worker`);
});
