import assert from "node:assert/strict";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { environmentNotes, fingerprintDifferences, fingerprintOf } from "./fingerprint.ts";
import { variantProfile } from "./_testing.ts";

Deno.test("the fingerprint leaves out the host, the kernel, Deno and the commit", () => {
  const a = fingerprintOf(syntheticProfile());
  const b = fingerprintOf(variantProfile({
    environment: { host: "other", kernel: "6.9", deno: { deno: "2.5", v8: "x", typescript: "y" } },
    commit: "ffff",
  }));
  assert.deepEqual(a, b);
  assert.deepEqual(fingerprintDifferences(a, b), []);
  assert.deepEqual(
    environmentNotes(syntheticProfile(), variantProfile({ environment: { host: "other" } })),
    ["host: bench-host → other"],
  );
});

Deno.test("GPUs from CUDA targets enter the fingerprint and lead its slug", () => {
  const gpu = variantProfile({
    targets: {
      "cuda:0": { kind: "cuda", name: "NVIDIA H100 80GB HBM3", driver: "550.54.15" },
    },
  });
  const fp = fingerprintOf(gpu);
  assert.deepEqual(fp.gpus, ["NVIDIA H100 80GB HBM3 (driver 550.54.15)"]);
  assert.match(fp.slug, /^nvidia-h100-80gb-hbm3-ext4-[0-9a-f]{12}$/);
  const newDriver = fingerprintOf(variantProfile({
    targets: { "cuda:0": { kind: "cuda", name: "NVIDIA H100 80GB HBM3", driver: "560.1" } },
  }));
  assert.notEqual(newDriver.hash, fp.hash);
  assert.deepEqual(fingerprintDifferences(fp, newDriver), [
    "GPU: NVIDIA H100 80GB HBM3 (driver 550.54.15) → NVIDIA H100 80GB HBM3 (driver 560.1)",
  ]);
});

Deno.test("storage and CPU changes make another machine; slugs are safe file names", () => {
  const base = syntheticProfile();
  const xfs = variantProfile({
    environment: {
      storage: [{ ...base.environment.storage[0]!, fileSystem: "xfs", deviceModel: "Disk/../x" }],
    },
  });
  const diff = fingerprintDifferences(fingerprintOf(base), fingerprintOf(xfs));
  assert.deepEqual(diff, ["storage: ext4 on /dev/vda (ssd) → xfs on Disk/../x (ssd)"]);
  const odd = variantProfile({
    environment: { cpu: { model: "../../etc/passwd Ω CPU @ 3.0GHz", cores: 8 } },
  });
  assert.match(fingerprintOf(odd).slug, /^[a-z0-9._-]+$/);
});
