/**
 * The Llama-3-70B layout (all 723 tensors, real names and shape ratios)
 * scaled to 2 GiB in 8 shards, through every strategy and both staging
 * policies of `full-read`: how a many-tensor, many-file model loads.
 *
 *     deno task bench --scenario llama-3-70b
 *
 * @module
 */

import { defineScenario } from "../schema.ts";

export default defineScenario({
  name: "llama-3-70b",
  description: "Llama-3-70B layout at 2 GiB in 8 shards: every strategy, fresh and reused staging",
  weights: [{ fixture: { layout: "llama-3-70b", size: "2GiB", dtype: "BF16", shards: 8 } }],
  strategies: [
    "full-read",
    { name: "full-read", options: { staging: "reused" } },
    "mmap",
    { name: "mmap", options: { transfer: "tensor" } },
  ],
  targets: ["auto"],
  cache: ["cold", "warm"],
  runs: 5,
  warmup: 1,
});
