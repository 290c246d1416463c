/**
 * The scaling curve: the same strategies on the same model layout at 64 MiB,
 * 256 MiB, 1 GiB and 4 GiB (one file each, like the peers of
 * `deno task perf` read), cold and warm. The HTML report draws GB/s and the
 * memory each load added against the model's size, one line per strategy:
 * from 1 GiB up the rate should stay flat, and a streaming strategy's memory
 * should stay at its staging whatever the size.
 *
 * A model larger than this machine's memory cannot be loaded onto the host
 * target, which would have to hold it: every strategy says so and the case is
 * skipped, never killed for want of memory. `deno task perf --beyond-ram`
 * measures that size, streaming onto a target that keeps nothing.
 *
 *     deno task bench --scenario scaling --verify sampled
 *
 * @module
 */

import { defineScenario } from "../schema.ts";

/** The model sizes of the curve. */
export const SCALING_SIZES = ["64MiB", "256MiB", "1GiB", "4GiB"] as const;

export default defineScenario({
  name: "scaling",
  description:
    "GB/s and memory against model size: 64 MiB to 4 GiB in one file, every streaming strategy, cold and warm",
  weights: SCALING_SIZES.map((size) => ({
    fixture: { layout: "llama-3-8b", size, dtype: "F16", shards: 1 },
  })),
  strategies: ["full-read", "mmap", "parallel", "direct", "streamed"],
  targets: ["auto"],
  cache: ["cold", "warm"],
  runs: 3,
  warmup: 1,
});
