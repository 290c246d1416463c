import assert from "node:assert/strict";
import { strategyConformance } from "./_conformance.ts";
import { fullRead } from "./full_read.ts";

strategyConformance(fullRead, {
  default: {},
  "transfer=tensor": { transfer: "tensor" },
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
