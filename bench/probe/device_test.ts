import assert from "node:assert/strict";
import { CudaDriver } from "../ffi/cuda.ts";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { cudaAvailability } from "../targets/cuda.ts";
import { testUnless } from "../util/testing.ts";
import { join } from "node:path";
import { noDeviceReason, probeDevice, probeDevices } from "./device.ts";
import { probeMachine } from "./probe.ts";

const fake = await fakeDriver();
const control = fake.path === undefined ? undefined : new FakeControl(fake.path);

testUnless(
  fake.skip,
  "the device probe times each direction and kind of memory by events",
  async () => {
    control!.configure({ copyDelayUs: 300 });
    using driver = CudaDriver.open({ paths: [fake.path!] });
    const links = await probeDevice(driver, 0, { bytes: 8 << 20, attempts: 2 });
    assert.equal(links.id, "cuda:0");
    assert.equal(links.name, "Fake CUDA Device 0");
    for (
      const key of ["pinnedH2DGBps", "pageableH2DGBps", "pinnedD2HGBps", "pageableD2HGBps"] as const
    ) {
      assert.ok(links[key] > 0 && Number.isFinite(links[key]), `${key} = ${links[key]}`);
    }
    const stats = control!.stats();
    assert.equal(stats.liveAllocations, 0);
    assert.equal(stats.pinnedBytes, 0);
  },
);

const cuda = cudaAvailability();

testUnless(
  cuda.available ? "a GPU is present" : undefined,
  "without a GPU the probe measures no device, and records the driver's reason",
  async () => {
    assert.deepEqual(await probeDevices({ bytes: 1 << 20, attempts: 1 }), []);
    assert.equal(noDeviceReason(), cuda.available ? undefined : cuda.reason);
    const dir = await Deno.makeTempDir({ prefix: "weightbench-device-probe-" });
    try {
      const file = join(dir, "data.bin");
      await Deno.writeFile(file, new Uint8Array(8 << 20).fill(7));
      const { limits } = await probeMachine({
        path: dir,
        files: [file],
        blockSizes: [1 << 20],
        depths: [1],
        trialBytes: 4 << 20,
      });
      assert.deepEqual(limits.devices, []);
      assert.equal(limits.devicesUnavailable, `no host-to-device limit: ${noDeviceReason()}`);
      if (!noDeviceReason()!.startsWith("no CUDA driver")) {
        // NVIDIA's real library is here: the reason is the driver's own answer
        assert.match(
          limits.devicesUnavailable!,
          /found no GPU: cuInit failed: CUDA_ERROR_NO_DEVICE: /,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testUnless(
  cuda.available ? undefined : `no GPU: ${cuda.reason}`,
  "GPU: pinned copies beat pageable ones, both ways",
  async () => {
    const [links] = await probeDevices({ bytes: 512 << 20, attempts: 2 });
    console.log(`  ${JSON.stringify(links)}`);
    assert.ok(links!.pinnedH2DGBps > 5, "pinned H2D under 5 GB/s");
    assert.ok(links!.pinnedD2HGBps > 5, "pinned D2H under 5 GB/s");
    assert.ok(links!.pageableH2DGBps > 0.5 && links!.pageableD2HGBps > 0.5);
    assert.ok(links!.pinnedH2DGBps >= links!.pageableH2DGBps * 0.9, "pageable faster than pinned?");
  },
);
