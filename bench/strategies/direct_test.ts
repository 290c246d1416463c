import assert from "node:assert/strict";
import { bytesSource } from "../formats/format.ts";
import { safetensors } from "../formats/safetensors.ts";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { HostTarget } from "../targets/host.ts";
import {
  fileSystemOf,
  removeThroughLibc,
  SHM,
  SHM_IS_TMPFS,
  testUnless,
  writeFileThroughLibc,
} from "../util/testing.ts";
import { direct } from "./direct.ts";
import { strategyConformance } from "./_conformance.ts";

strategyConformance(direct, {
  default: {},
  "small chunks, deep queue": { chunkSize: 4096, depth: 16 },
  "one read at a time": { chunkSize: 1 << 20, depth: 1 },
});

testUnless(
  SHM_IS_TMPFS ? undefined : "no tmpfs at /dev/shm",
  "direct: a file system that refuses O_DIRECT skips the case with the reason",
  async () => {
    const bytes = await Deno.readFile(
      new URL("../../fixtures/testdata/tiny.safetensors", import.meta.url),
    );
    const path = `${SHM}/weightbench-direct-${crypto.randomUUID()}.safetensors`;
    writeFileThroughLibc(path, bytes);
    try {
      // Deno will not open /dev without --allow-all, so the weight set is built from the bytes.
      const index = safetensors.parse(bytesSource(path, bytes));
      const weights: WeightSet = {
        source: path,
        files: [{ path, size: bytes.length, format: safetensors, index }],
        format: "safetensors",
        tensorCount: index.tensors.length,
        tensorBytes: index.tensors.reduce((n, t) => n + t.byteLength, 0),
        fileBytes: bytes.length,
      };
      using target = new HostTarget();
      const reason = direct.create(direct.options.parse({})).unsupported?.(weights, target);
      // Linux before 6.6 refuses O_DIRECT on tmpfs; later ones accept it, but there is nothing to bypass.
      assert.match(reason ?? "", /refuses O_DIRECT \(EINVAL\)|memory file system \(tmpfs\)/);
      const onDisk = await openWeights(
        new URL("../../fixtures/testdata/tiny.safetensors", import.meta.url).pathname,
      );
      if (!(await fileSystemOf(onDisk.files[0]!.path))?.includes("tmpfs")) {
        assert.equal(
          direct.create(direct.options.parse({})).unsupported?.(onDisk, target),
          undefined,
        );
      }
    } finally {
      removeThroughLibc(path);
    }
  },
);
