import assert from "node:assert/strict";
import { CudaDriver } from "../ffi/cuda.ts";
import { FakeControl, fakeDriver } from "../gpu/_fake_driver.ts";
import { cudaAvailability } from "../targets/cuda.ts";
import { testUnless } from "../util/testing.ts";
import { probeDevice, probeDevices } from "./device.ts";

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
  cuda.available ? "a CUDA driver is present" : undefined,
  "without a GPU the probe measures no device",
  async () => {
    assert.deepEqual(await probeDevices({ bytes: 1 << 20, attempts: 1 }), []);
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
