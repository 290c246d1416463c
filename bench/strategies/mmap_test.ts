import assert from "node:assert/strict";
import { strategyConformance } from "./_conformance.ts";
import { mmap } from "./mmap.ts";

strategyConformance(mmap, {
  default: {},
  "transfer=tensor": { transfer: "tensor" },
  "populate": { populate: true },
  "advice=sequential": { advice: "sequential" },
  "advice=willneed": { advice: "willneed" },
});

Deno.test("mmap options: invalid ones are rejected", () => {
  for (
    const input of [
      { advice: "sideways" },
      { populate: "yes" },
      { transfer: "bulky" },
      { readers: 2 },
    ]
  ) {
    assert.equal(mmap.options.safeParse(input).success, false, JSON.stringify(input));
  }
  assert.deepEqual(mmap.options.parse({}), { advice: "none", populate: false, transfer: "bulk" });
});
