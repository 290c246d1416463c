import assert from "node:assert/strict";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { testUnless } from "../util/testing.ts";
import {
  describeNvmlStatus,
  Nvml,
  NVML_LIBRARY_CANDIDATES,
  NVML_MEMORY_V2_VERSION,
  NvmlError,
  NvmlUnavailableError,
} from "./nvml.ts";

Deno.test("Nvml.open lists every path it tried", () => {
  const paths = ["/nonexistent/libnvidia-ml.so.1"];
  let error: unknown;
  try {
    Nvml.open({ paths });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof NvmlUnavailableError);
  assert.deepEqual(error.tried, paths);
  assert.match(error.message, /^Cannot open NVML: tried "\/nonexistent\/libnvidia-ml\.so\.1" \(/);
  assert.equal(NVML_LIBRARY_CANDIDATES[0], "libnvidia-ml.so.1");
});

Deno.test("the memory struct's version is NVML_STRUCT_VERSION(Memory, 2)", () => {
  assert.equal(NVML_MEMORY_V2_VERSION, 0x02000028);
});

Deno.test("describeNvmlStatus names nvml.h's return codes", () => {
  assert.deepEqual(describeNvmlStatus(3, "Not Supported"), {
    name: "NVML_ERROR_NOT_SUPPORTED",
    text: "Not Supported",
  });
  assert.equal(describeNvmlStatus(18).name, "NVML_ERROR_LIB_RM_VERSION_MISMATCH");
  assert.equal(describeNvmlStatus(25).name, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH");
  assert.equal(describeNvmlStatus(999).name, "NVML_ERROR_UNKNOWN");
  assert.deepEqual(describeNvmlStatus(4242), {
    name: "NVML error 4242",
    text: "unknown NVML error",
  });
});

const fake = await fakeDriver();
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

testUnless(fake.skip, "NVML on the fake driver: versions, devices, memory, PCIe, processes", () => {
  control!.configure({ devices: 2, memoryBytes: 2 ** 33 });
  using nvml = Nvml.open({ paths: [fake.path!] });
  assert.equal(nvml.driverVersion(), "580.00.01");
  assert.equal(nvml.cudaDriverVersion(), 13000);
  assert.equal(nvml.deviceCount(), 2);
  const device = nvml.deviceByPciBusId("0000:19:00.0");
  assert.equal(device.name(), "Fake CUDA Device 1");
  assert.equal(nvml.deviceByPciBusId("00000000:18:00.0").name(), "Fake CUDA Device 0");
  assert.equal(device.uuid(), "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f");
  const memory = device.memory(); // the fake refuses a struct without the right version
  assert.equal(memory.total, 2 ** 33);
  assert.equal(memory.reserved, 4 << 20);
  assert.equal(memory.used + memory.free, memory.total);
  // device 1 refuses its maximum generation (NO_PERMISSION): reported beside the link, not thrown
  assert.deepEqual(device.pcieLink(), {
    generation: 5,
    width: 16,
    maxGeneration: null,
    maxWidth: null,
    problems: [
      "nvmlDeviceGetMaxPcieLinkGeneration failed: NVML_ERROR_NO_PERMISSION: Insufficient Permissions",
    ],
  });
  assert.deepEqual(nvml.device(0).pcieLink().problems, []);
  assert.deepEqual(device.pcieThroughput(), { txKBps: 1234, rxKBps: 56789 });
  const processes = device.processes()!;
  assert.deepEqual(processes.map((p) => p.pid), [Deno.pid, 1]);
  assert.equal(processes[1]!.usedBytes, null);
  let error: unknown;
  try {
    nvml.device(7);
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof NvmlError);
  assert.equal(error.code, "NVML_ERROR_INVALID_ARGUMENT");
  assert.equal(
    error.message,
    "nvmlDeviceGetHandleByIndex_v2 7 failed: NVML_ERROR_INVALID_ARGUMENT: Invalid Argument",
  );
  nvml.close();
  nvml.close();
  assert.throws(() => nvml.deviceCount(), /after close/);
  control!.configure();
});

/** What opening NVIDIA's real NVML here gives: an open NVML, or the error. */
function realNvml(): { nvml?: Nvml; error?: unknown } {
  try {
    return { nvml: Nvml.open() };
  } catch (error) {
    return { error };
  }
}
const real = realNvml();
real.nvml?.close();

testUnless(
  real.error instanceof NvmlError
    ? undefined
    : real.error === undefined
    ? "NVML initialises here (a GPU driver is loaded)"
    : `no NVML library: ${(real.error as Error).message}`,
  "without a GPU driver the real NVML's init fails with NVML's own text",
  () => {
    const error = real.error as NvmlError;
    assert.equal(error.code, "NVML_ERROR_DRIVER_NOT_LOADED");
    assert.equal(error.status, 9);
    assert.equal(
      error.message,
      "nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED: Driver Not Loaded",
    );
  },
);

function realSkip(): string | undefined {
  try {
    using nvml = Nvml.open();
    return nvml.deviceCount() > 0 ? undefined : "NVML sees no device";
  } catch (error) {
    return `no NVML: ${(error as Error).message}`;
  }
}

testUnless(realSkip(), "GPU: NVML on the real driver", () => {
  using nvml = Nvml.open();
  const version = nvml.driverVersion();
  assert.match(version, /^\d+\.\d+/);
  const device = nvml.device(0);
  const memory = device.memory();
  assert.ok(memory.total >= 1 << 30 && memory.used <= memory.total && memory.free <= memory.total);
  assert.match(device.uuid(), /^GPU-[0-9a-f-]{36}$/);
  const link = device.pcieLink();
  const processes = device.processes();
  console.log(
    `  ${device.name()}, driver ${version}, CUDA ${nvml.cudaDriverVersion()}, memory ${
      JSON.stringify(memory)
    }, PCIe ${JSON.stringify(link)}, throughput ${JSON.stringify(device.pcieThroughput())}, ${
      processes?.length ?? "?"
    } processes`,
  );
});
