import assert from "node:assert/strict";
import { testUnless } from "../util/testing.ts";
import { FakeControl, fakeDriver } from "./_fake_driver.ts";
import { gpuInventory } from "./inventory.ts";

const fake = await fakeDriver();
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

testUnless(
  fake.skip,
  "the inventory lists NVML's devices, leaving out what a device cannot say",
  async () => {
    control!.configure({ devices: 2, memoryBytes: 2 ** 34 });
    const inventory = await gpuInventory({ nvmlPaths: [fake.path!] });
    assert.equal(inventory.source, "nvml");
    assert.deepEqual(inventory.gpus[1], {
      index: 1,
      name: "Fake CUDA Device 1",
      uuid: "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f",
      driver: "580.00.01",
      memoryTotalBytes: 2 ** 34,
      pcieLinkGeneration: 5,
      pcieLinkWidth: 16,
      // device 1 refuses its maximum generation (NO_PERMISSION): left out, not the whole GPU
    });
  },
);

Deno.test("without NVML and nvidia-smi the inventory is empty and says why", async () => {
  const inventory = await gpuInventory({
    nvmlPaths: ["/nonexistent/libnvidia-ml.so.1"],
    nvidiaSmi: false,
  });
  assert.deepEqual(inventory.gpus, []);
  assert.equal(inventory.source, "none");
  assert.match(inventory.reason!, /^Cannot open NVML: tried "\/nonexistent\/libnvidia-ml\.so\.1"/);
});

const real = await gpuInventory({ nvidiaSmi: false });

testUnless(
  real.source !== "none"
    ? "a GPU driver answers NVML here"
    : real.reason!.startsWith("Cannot open NVML")
    ? `no NVML library here: ${real.reason}`
    : undefined,
  "with NVIDIA's NVML but no GPU driver, the inventory is empty and gives NVML's answer",
  () => {
    assert.deepEqual(real.gpus, []);
    assert.equal(
      real.reason,
      "nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED: Driver Not Loaded",
    );
  },
);
