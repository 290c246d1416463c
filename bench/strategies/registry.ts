/**
 * The registry of loading strategies: every strategy that exists, by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STRATEGIES, strategyNames } from "./registry.ts";
 *
 * assert.ok(strategyNames().includes("mmap"));
 * const options = STRATEGIES["full-read"]!.options.parse({});
 * assert.equal(typeof options.chunkSize, "number");
 * ```
 *
 * @module
 */

import { direct } from "./direct.ts";
import { fullRead } from "./full_read.ts";
import { gds } from "./gds.ts";
import { mmap } from "./mmap.ts";
import { parallel } from "./parallel.ts";
import { pinned } from "./pinned.ts";
import { prestaged } from "./prestaged.ts";
import { quantized } from "./quantized.ts";
import { sharded } from "./sharded.ts";
import { streamed } from "./streamed.ts";
import type { StrategyDefinition } from "./strategy.ts";

// deno-lint-ignore no-explicit-any
type AnyDefinition = StrategyDefinition<any>;

/** Every strategy, keyed by the name scenarios and `--strategy` use. */
export const STRATEGIES: Readonly<Record<string, AnyDefinition>> = {
  [fullRead.name]: fullRead,
  [mmap.name]: mmap,
  [parallel.name]: parallel,
  [direct.name]: direct,
  [pinned.name]: pinned,
  [streamed.name]: streamed,
  [prestaged.name]: prestaged,
  [quantized.name]: quantized,
  [sharded.name]: sharded,
  [gds.name]: gds,
};

/** The names of every strategy, in registry order. */
export function strategyNames(): string[] {
  return Object.keys(STRATEGIES);
}

export type { Strategy, StrategyDefinition } from "./strategy.ts";
