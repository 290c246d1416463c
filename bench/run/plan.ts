/**
 * Expands a scenario into the typed list of cases to run — weights ×
 * strategy × target × cache state — before anything runs, so `--dry-run`,
 * filtering and sharding work on a plain list. A pure function: the same
 * scenario gives the same cases, in the same order, with the same ids.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planCases } from "./plan.ts";
 * import { parseScenario } from "../scenarios/schema.ts";
 *
 * const scenario = parseScenario({
 *   name: "demo",
 *   weights: ["/models/llama"],
 *   strategies: ["full-read", "mmap"],
 *   targets: ["host"],
 * }, "demo.json");
 * const cases = planCases(scenario);
 * assert.equal(cases.length, 4);
 * assert.equal(cases[0]!.id, "llama/full-read/host/cold");
 * ```
 *
 * @module
 */

import { basename } from "node:path";
import type { Scenario, StrategyChoice, WeightsSpec } from "../scenarios/schema.ts";
import { STRATEGIES } from "../strategies/registry.ts";
import { fixtureKey } from "../../fixtures/generate.ts";
import type { CacheState } from "../core/cache_state.ts";

/** One measured combination. */
export interface Case {
  /** Stable id: `weights/strategy/target/cache`. */
  readonly id: string;
  /** Position in the plan. */
  readonly index: number;
  readonly weights: WeightsSpec;
  /** A short name for the weights: the fixture's key or the path's last part. */
  readonly weightsLabel: string;
  readonly strategy: StrategyChoice;
  /** The strategy's name with the options that differ from its defaults: `mmap(advice=sequential)`. */
  readonly strategyLabel: string;
  readonly target: string;
  readonly cache: CacheState;
}

/** Every case of `scenario`, weights outermost, cache state innermost. */
export function planCases(scenario: Scenario): Case[] {
  const cases: Case[] = [];
  for (const weights of scenario.weights) {
    const weightsLabel = labelWeights(weights);
    for (const strategy of scenario.strategies) {
      const strategyLabel = labelStrategy(strategy);
      for (const target of scenario.targets) {
        for (const cache of scenario.cache) {
          cases.push({
            id: `${weightsLabel}/${strategyLabel}/${target}/${cache}`,
            index: cases.length,
            weights,
            weightsLabel,
            strategy,
            strategyLabel,
            target,
            cache,
          });
        }
      }
    }
  }
  return cases;
}

/** `llama-3-8b-512MiB-F16-2shards` for a fixture, the last path part otherwise. */
export function labelWeights(weights: WeightsSpec): string {
  if (weights.kind === "fixture") return fixtureKey(weights);
  return basename(weights.path.replace(/\/+$/, "")) || weights.path;
}

/** The strategy's name, with its non-default options in parentheses. */
export function labelStrategy(choice: StrategyChoice): string {
  const defaults = STRATEGIES[choice.name]?.options.parse({}) ?? {};
  const changed = Object.entries(choice.options)
    .filter(([key, value]) => JSON.stringify(defaults[key]) !== JSON.stringify(value))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return changed.length === 0 ? choice.name : `${choice.name}(${changed.join(",")})`;
}
