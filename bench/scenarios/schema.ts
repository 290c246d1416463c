/**
 * Scenarios: which weights, strategies, targets and cache states to measure,
 * how many times. Written as JSON (data, safe to take from anyone) or as a
 * TypeScript module for typed definitions (code, trusted like any config).
 *
 * {@link parseScenario} validates what a user wrote and fills every default,
 * reporting each problem with its path:
 * `strategies[1]: unknown strategy "mmpa" (did you mean "mmap"?)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./schema.ts";
 *
 * const scenario = parseScenario({ name: "demo", weights: ["model/"], strategies: ["mmap"] }, "demo.json");
 * assert.equal(scenario.runs, 5);
 * assert.deepEqual(scenario.cache, ["cold", "warm"]);
 * assert.throws(
 *   () => parseScenario({ name: "x", weights: ["m"], strategies: ["full-read", "mmpa"] }, "x.json"),
 *   /x.json: strategies\[1\]: unknown strategy "mmpa" \(did you mean "mmap"\?\)/,
 * );
 * ```
 *
 * @module
 */

import { z } from "zod";
import { InputError } from "../util/errors.ts";
import { STRATEGIES, strategyNames } from "../strategies/registry.ts";
import { didYouMean } from "../util/suggest.ts";
import { parseSize } from "../util/size.ts";
import { issueText } from "../util/issue_text.ts";
import { LAYOUTS } from "../../fixtures/layouts.ts";
import {
  FIXTURE_FORMATS,
  type FixtureFormat,
  QUANT_DTYPES,
} from "../../fixtures/format_writers.ts";
import type { CacheState } from "../core/cache_state.ts";

/** Timed samples per case. @default 5 */
export const DEFAULT_RUNS = 5;
/** Untimed loads per case before the timed ones. @default 1 */
export const DEFAULT_WARMUP = 1;
/** Cache states measured. @default ["cold", "warm"] */
export const DEFAULT_CACHE: readonly CacheState[] = ["cold", "warm"];
/** Targets measured: `auto` is `cuda:0` where a GPU is usable, else `host`. @default ["auto"] */
export const DEFAULT_TARGETS: readonly string[] = ["auto"];
/** The most samples a case may ask for. */
export const MAX_RUNS = 10_000;
/** The fixture dtypes; the quantized ones only in GGUF. */
export const FIXTURE_DTYPES = ["F16", "BF16", "F32", ...QUANT_DTYPES] as const;

/** A generated model, described by a layout scaled to a size. */
export interface FixtureWeights {
  readonly kind: "fixture";
  readonly layout: string;
  readonly size: number;
  readonly dtype: typeof FIXTURE_DTYPES[number];
  readonly shards: number;
  /** The file format written. @default "safetensors" */
  readonly format: FixtureFormat;
}

/** Weights on disk: a file, or a folder of shards. */
export interface PathWeights {
  readonly kind: "path";
  readonly path: string;
}

/** Where the weights of a case come from. */
export type WeightsSpec = FixtureWeights | PathWeights;

/** A strategy with its options resolved. */
export interface StrategyChoice {
  readonly name: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A scenario with every default filled in. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly weights: readonly WeightsSpec[];
  readonly strategies: readonly StrategyChoice[];
  /** `host`, `cuda:N`, or `auto` until the CLI resolves it. */
  readonly targets: readonly string[];
  readonly cache: readonly CacheState[];
  /** Timed samples per case: the count, or the most when `sampling` decides. */
  readonly runs: number;
  readonly warmup: number;
  /** With `runs: "auto"`: how many samples each case gets, decided as it is measured. */
  readonly sampling: Sampling | null;
}

/**
 * Samples until the median is known well enough, as hyperfine and criterion
 * do: every case takes `minRuns` timed samples, then more until the bootstrap
 * interval of its median is within `ciTarget` of it (half-width / median), its
 * samples have taken `budgetMs`, or it has `maxRuns`.
 */
export interface Sampling {
  readonly minRuns: number;
  readonly maxRuns: number;
  readonly ciTarget: number;
  readonly budgetMs: number;
}

/** The sampling of `runs: "auto"` unless a scenario's `sampling` says otherwise. */
export const DEFAULT_SAMPLING: Sampling = {
  /** @default 5 */
  minRuns: 5,
  /** @default 30 */
  maxRuns: 30,
  /** @default 0.03 */
  ciTarget: 0.03,
  /** Enough on a noisy 2-core machine for a profile compared with itself to come out unchanged. @default 10000 */
  budgetMs: 10000,
};

/** A scenario as a user writes it; every field but `name` and `weights` has a default. */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** Identity function that types a scenario module's default export. */
export function defineScenario(scenario: ScenarioInput): ScenarioInput {
  return scenario;
}

const strategyName = z.string().superRefine((name, ctx) => {
  if (!Object.hasOwn(STRATEGIES, name)) {
    ctx.addIssue({
      code: "custom",
      message: `unknown strategy "${name}"${didYouMean(name, strategyNames())}`,
    });
  }
});

const strategyEntry = z.union([
  strategyName,
  z.strictObject({ name: strategyName, options: z.record(z.string(), z.unknown()).optional() }),
]).transform((entry, ctx): StrategyChoice => {
  const name = typeof entry === "string" ? entry : entry.name;
  const given = typeof entry === "string" ? {} : entry.options ?? {};
  const definition = STRATEGIES[name]!;
  const parsed = definition.options.safeParse(given);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      ctx.addIssue({
        code: "custom",
        message: issue.message,
        path: ["options", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
      });
    }
    return z.NEVER;
  }
  return { name, options: parsed.data };
});

const target = z.string().superRefine((value, ctx) => {
  if (value !== "auto" && value !== "host" && !/^cuda:\d+$/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message: `unknown target "${value}" (expected host, cuda:N or auto)${
        didYouMean(value, ["host", "auto", "cuda:0"])
      }`,
    });
  }
});

const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === "number" ? value : parseSize(value);
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes <= 0) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a size such as "512MiB"` });
    return z.NEVER;
  }
  return bytes;
});

const fixture = z.strictObject({
  layout: z.string().superRefine((name, ctx) => {
    if (!Object.hasOwn(LAYOUTS, name)) {
      ctx.addIssue({
        code: "custom",
        message: `unknown layout "${name}"${didYouMean(name, Object.keys(LAYOUTS))} (available: ${
          Object.keys(LAYOUTS).join(", ")
        })`,
      });
    }
  }),
  size,
  dtype: z.enum(FIXTURE_DTYPES).default("F16"),
  shards: z.number().int().min(1).max(1024).default(1),
  format: z.enum(FIXTURE_FORMATS).default("safetensors"),
}).superRefine((f, ctx) => {
  if ((QUANT_DTYPES as readonly string[]).includes(f.dtype) && f.format !== "gguf") {
    ctx.addIssue({
      code: "custom",
      path: ["dtype"],
      message: `"${f.dtype}" fixtures exist only in the gguf format`,
    });
  }
}).transform((f): FixtureWeights => ({ kind: "fixture", ...f }));

const weightsEntry = z.union([
  z.string().min(1).transform((path): PathWeights => ({ kind: "path", path })),
  z.strictObject({ path: z.string().min(1) }).transform(({ path }): PathWeights => ({
    kind: "path",
    path,
  })),
  z.strictObject({ fixture }).transform(({ fixture }) => fixture),
]);

const cacheEntry = z.string().superRefine((value, ctx) => {
  if (value !== "cold" && value !== "warm") {
    ctx.addIssue({
      code: "custom",
      message: `unknown cache state "${value}" (expected cold or warm)${
        didYouMean(value, ["cold", "warm"])
      }`,
    });
  }
}).transform((value) => value as CacheState);

/** The schema of a scenario file. */
export const scenarioSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().min(1).max(200),
  description: z.string().default(""),
  weights: z.array(weightsEntry).min(1),
  strategies: z.union([z.literal("all"), z.array(strategyEntry).min(1)]).default("all"),
  targets: z.array(target).min(1).default([...DEFAULT_TARGETS]),
  cache: z.array(cacheEntry).min(1).default([...DEFAULT_CACHE]),
  runs: z.union([z.number().int().min(1).max(MAX_RUNS), z.literal("auto")]).default(DEFAULT_RUNS),
  warmup: z.number().int().min(0).max(MAX_RUNS).default(DEFAULT_WARMUP),
  sampling: z.strictObject({
    minRuns: z.number().int().min(2).max(MAX_RUNS).default(DEFAULT_SAMPLING.minRuns),
    maxRuns: z.number().int().min(2).max(MAX_RUNS).default(DEFAULT_SAMPLING.maxRuns),
    ciTarget: z.number().gt(0).lt(1).default(DEFAULT_SAMPLING.ciTarget),
    budgetMs: z.number().int().min(0).default(DEFAULT_SAMPLING.budgetMs),
  }).refine((s) => s.minRuns <= s.maxRuns, {
    message: "minRuns is larger than maxRuns",
    path: ["minRuns"],
  }).optional(),
}).refine((s) => s.sampling === undefined || s.runs === "auto", {
  message: 'sampling applies only with "runs": "auto"',
  path: ["sampling"],
});

/** Validates `input` from `file`; throws an {@link InputError} naming the first problem's path. */
export function parseScenario(input: unknown, file: string): Scenario {
  const parsed = scenarioSchema.safeParse(input);
  if (!parsed.success) throw new InputError(`${file}: ${describeIssue(parsed.error.issues)}`);
  const { $schema: _, strategies, runs, sampling: given, ...rest } = parsed.data;
  const sampling = runs === "auto" ? { ...DEFAULT_SAMPLING, ...given } : null;
  return {
    ...rest,
    runs: sampling?.maxRuns ?? (runs as number),
    sampling,
    strategies: resolveStrategies(strategies),
    targets: [...new Set(rest.targets)],
    cache: [...new Set(rest.cache)],
  };
}

/**
 * Changes to a scenario as the command line gives them, each checked like the
 * scenario field it replaces; a problem is named by its flag
 * (`--strategy: unknown strategy "mmpa"`).
 */
export interface ScenarioOverrides {
  /** `--weights`: replaces the scenario's weights. */
  readonly weights?: string | undefined;
  /** `--strategy`: strategy names, or `all`; a strategy the scenario configures keeps its options. */
  readonly strategy?: readonly string[] | undefined;
  /** `--target`: `host`, `cuda:N`, `auto`. */
  readonly target?: readonly string[] | undefined;
  /** `--cache`: `cold`, `warm`. */
  readonly cache?: readonly string[] | undefined;
  /** `--runs`: timed samples per case (a count fixes it), or `auto` with the default sampling. */
  readonly runs?: number | "auto" | undefined;
  /** `--warmup`: untimed loads per case. */
  readonly warmup?: number | undefined;
}

/** `scenario` with `overrides` applied, each checked by its field's schema. */
export function overrideScenario(scenario: Scenario, overrides: ScenarioOverrides): Scenario {
  const field = <K extends keyof typeof scenarioSchema.shape>(
    key: K,
    flag: string,
    value: unknown,
  ): z.output<typeof scenarioSchema.shape[K]> => {
    const parsed = scenarioSchema.shape[key].safeParse(value);
    if (parsed.success) return parsed.data as z.output<typeof scenarioSchema.shape[K]>;
    const issue = deepest(parsed.error.issues);
    throw new InputError(`${flag}: ${issue ? humanMessage(issue) : "invalid"}`);
  };
  let result: Scenario = scenario;
  const { weights, strategy, target, cache, runs, warmup } = overrides;
  if (weights !== undefined) {
    result = {
      ...result,
      weights: field("weights", "--weights", [weights]),
      description: `${
        scenario.description ? `${scenario.description}; ` : ""
      }weights replaced by --weights ${weights}`,
    };
  }
  if (strategy !== undefined) {
    const given = strategy.includes("all") ? "all" : strategy.map((name) => {
      const configured = scenario.strategies.find((s) => s.name === name);
      return configured ? { name, options: configured.options } : name;
    });
    result = { ...result, strategies: resolveStrategies(field("strategies", "--strategy", given)) };
  }
  if (target !== undefined) {
    result = { ...result, targets: [...new Set(field("targets", "--target", target))] };
  }
  if (cache !== undefined) {
    result = { ...result, cache: [...new Set(field("cache", "--cache", cache))] };
  }
  if (runs === "auto") {
    const sampling = scenario.sampling ?? DEFAULT_SAMPLING;
    result = { ...result, runs: sampling.maxRuns, sampling };
  } else if (runs !== undefined) {
    result = { ...result, runs: field("runs", "--runs", runs) as number, sampling: null };
  }
  if (warmup !== undefined) result = { ...result, warmup: field("warmup", "--warmup", warmup) };
  return result;
}

function resolveStrategies(strategies: "all" | readonly StrategyChoice[]): StrategyChoice[] {
  return strategies === "all"
    ? strategyNames().map((name) => ({ name, options: STRATEGIES[name]!.options.parse({}) }))
    : dedupe(strategies);
}

/** `strategies[1]: unknown strategy "mmpa"` for the most specific issue. */
export function describeIssue(issues: readonly z.core.$ZodIssue[]): string {
  const issue = deepest(issues);
  if (!issue) return "invalid scenario";
  const where = formatPath(issue.path);
  return where ? `${where}: ${humanMessage(issue)}` : humanMessage(issue);
}

function humanMessage(issue: z.core.$ZodIssue): string {
  return issueText(issue);
}

function deepest(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue | undefined;
  for (const issue of issues) {
    // A union reports what each branch disliked; the branch that got furthest says the most.
    const candidate = issue.code === "invalid_union" && issue.errors.length > 0
      ? prefixed(issue.path, deepest(issue.errors.flat()))
      : issue;
    if (candidate && (!best || candidate.path.length > best.path.length)) best = candidate;
  }
  return best;
}

function prefixed(
  path: readonly PropertyKey[],
  issue: z.core.$ZodIssue | undefined,
): z.core.$ZodIssue | undefined {
  return issue && { ...issue, path: [...path, ...issue.path] };
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text ? `.${String(key)}` : String(key);
  }
  return text;
}

function dedupe(choices: readonly StrategyChoice[]): StrategyChoice[] {
  const seen = new Set<string>();
  return choices.filter((choice) => {
    const key = JSON.stringify([choice.name, choice.options]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
