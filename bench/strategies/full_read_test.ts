import assert from "node:assert/strict";
import { join } from "node:path";
import { openWeights } from "../formats/weights.ts";
import { HostTarget } from "../targets/host.ts";
import { strategyConformance } from "./_conformance.ts";
import { fullRead } from "./full_read.ts";
import { parallel } from "./parallel.ts";
import type { StrategyDefinition } from "./strategy.ts";

strategyConformance(fullRead, {
  default: {},
  "transfer=tensor": { transfer: "tensor" },
  "transfer=chunk, small chunks": { transfer: "chunk", chunkSize: 4096, readers: 3 },
  "staging=reused": { staging: "reused" },
  "readers=1,chunkSize=4096": { readers: 1, chunkSize: 4096 },
});

Deno.test("full-read options: invalid ones are rejected", () => {
  for (
    const input of [
      { readers: 0 },
      { readers: 1.5 },
      { chunkSize: 4095 },
      { staging: "pooled" },
      { transfer: "bulky" },
      { chunk: 4096 },
    ]
  ) {
    assert.equal(fullRead.options.safeParse(input).success, false, JSON.stringify(input));
  }
  const defaults = fullRead.options.parse({});
  assert.deepEqual(Object.keys(defaults).sort(), ["chunkSize", "readers", "staging", "transfer"]);
});

Deno.test("a model larger than this machine's memory: full-read is refused up front, a streamed load is not", async () => {
  // A sparse file: its size is real to every reader, its blocks are never written.
  const tensorBytes = Math.ceil(Deno.systemMemoryInfo().total * 1.5);
  const header = new TextEncoder().encode(
    JSON.stringify({ w: { dtype: "U8", shape: [tensorBytes], data_offsets: [0, tensorBytes] } }),
  );
  const dir = await Deno.makeTempDir({ dir: Deno.cwd(), prefix: ".weightbench-huge-" });
  try {
    const path = join(dir, "model.safetensors");
    const prefix = new Uint8Array(8 + header.length);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
    prefix.set(header, 8);
    await Deno.writeFile(path, prefix);
    await Deno.truncate(path, prefix.length + tensorBytes);
    const weights = await openWeights(path);
    using host = new HostTarget();
    const device = { id: "cuda:0" }; // a target with memory of its own: only staging is host memory
    // deno-lint-ignore no-explicit-any
    const refused = (definition: StrategyDefinition<any>, target: { id: string }) =>
      definition.create(definition.options.parse({})).unsupported?.(weights, target as HostTarget);
    assert.match(
      refused(fullRead, device) ?? "",
      /^full-read reads whole files into memory: it would hold [\d.]+ GiB of host memory \(staging [\d.]+ GiB\), more than the [\d.]+ GiB this machine has available$/,
    );
    assert.match(refused(fullRead, host) ?? "", /staging [\d.]+ GiB, the host target [\d.]+ GiB/);
    // Streaming holds a few chunks whatever the model's size; on the host target the loaded
    // bytes themselves would not fit, and that is said too.
    assert.equal(refused(parallel, device), undefined);
    assert.match(refused(parallel, host) ?? "", /the host target [\d.]+ GiB\), more than/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
