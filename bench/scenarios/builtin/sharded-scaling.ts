/**
 * The scaling curve of parallel shard reads: a Llama-3-8B-layout model of
 * 1 GiB in 16 shards, read by the `sharded` strategy with K = 1, 2, 4, … up
 * to this machine's core count (and the count itself), cold and warm. The
 * cases differ only in `readers`, so the report draws them as one curve.
 *
 *     deno task bench --scenario sharded-scaling
 *
 * @module
 */

import { defineScenario } from "../schema.ts";

/** 1, 2, 4, … up to `cores`, and `cores` itself. */
export function readerCounts(cores: number): number[] {
  const counts: number[] = [];
  for (let k = 1; k < cores; k *= 2) counts.push(k);
  counts.push(Math.max(1, cores));
  return counts;
}

export default defineScenario({
  name: "sharded-scaling",
  description: "Parallel shard readers K = 1, 2, 4, … up to the core count, on 16 shards",
  weights: [{ fixture: { layout: "llama-3-8b", size: "1GiB", dtype: "F16", shards: 16 } }],
  strategies: readerCounts(navigator.hardwareConcurrency || 1).map((readers) => ({
    name: "sharded",
    options: { readers },
  })),
  targets: ["auto"],
  cache: ["cold", "warm"],
  runs: 5,
  warmup: 1,
});
