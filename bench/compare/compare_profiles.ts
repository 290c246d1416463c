/**
 * Compares two profiles case by case: every case id in either profile gets a
 * row, with the ratio of medians, its bootstrap interval, the Mann-Whitney U
 * p-value and a verdict from {@linkcode compareSamples}. A pure function of
 * the two profiles.
 *
 * By time (the default), each case's timed load times are compared. By
 * efficiency, each sample's throughput as a fraction of its machine's own
 * measured limit (`stats.ofLimit`, from `deno task probe`) is compared
 * instead, so profiles from different machines compare on what each machine
 * can do; the test runs on the inverse (limit time / load time), so a ratio
 * above 1 is still a slowdown. A case without limits on either side falls
 * back to time and says so.
 *
 * It is a gate that cannot be fooled by what is not there. The exit code is
 * 1 when any case regresses, when a case that completed in the baseline
 * errored in the current profile (it no longer loads, or its bytes no longer
 * verify), and when a case that completed in the baseline is missing from the
 * current profile or skipped there (a run that silently drops a case) unless
 * `allowMissing`; 0 otherwise. Two profiles with no case id in common have
 * nothing to compare, and profiles of different machines (see
 * `fingerprint.ts`) are refused unless `crossMachine`: both throw an
 * {@linkcode InputError} naming the files (exit 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareProfiles } from "./compare_profiles.ts";
 * import { syntheticProfile } from "../../profiles/_synthetic.ts";
 *
 * const profile = syntheticProfile();
 * const result = compareProfiles(profile, profile);
 * assert.equal(result.exitCode, 0);
 * assert.equal(result.sameMachine, true);
 * assert.ok(result.cases.every((c) => c.status !== "regression"));
 *
 * // A case the baseline measured and the current profile dropped fails the gate.
 * const dropped = { ...profile, cases: profile.cases.slice(1) };
 * assert.equal(compareProfiles(profile, dropped).exitCode, 1);
 * assert.equal(compareProfiles(profile, dropped, { allowMissing: true }).exitCode, 0);
 * assert.throws(
 *   () => compareProfiles(profile, { ...profile, cases: [] }),
 *   /Nothing to compare: /,
 * );
 * ```
 *
 * @module
 */

import { binomialDistribution } from "simple-statistics";
import type { Profile, ProfileCase } from "../../profiles/schema.ts";
import { partialRunText } from "../../profiles/partial.ts";
import { InputError } from "../util/errors.ts";
import {
  compareSamples,
  DEFAULT_ALPHA,
  DEFAULT_THRESHOLD,
  type SampleComparison,
  type Verdict,
} from "./significance.ts";
import {
  environmentNotes,
  type Fingerprint,
  fingerprintDifferences,
  fingerprintOf,
} from "./fingerprint.ts";

/** What is compared: load times, or throughput as a fraction of each machine's limit. */
export type CompareBy = "time" | "efficiency";

/** How to compare two profiles; every field is optional. */
export interface CompareProfilesOptions {
  /** Relative change that matters. @default {DEFAULT_THRESHOLD} */
  readonly threshold?: number;
  /** Significance level of the U test. @default {DEFAULT_ALPHA} */
  readonly alpha?: number;
  /** @default "time" */
  readonly by?: CompareBy;
  /** Bootstrap resamples per case. */
  readonly resamples?: number;
  /**
   * Let a case that completed in the baseline be missing from, or skipped in,
   * the current profile without failing. @default false
   */
  readonly allowMissing?: boolean;
  /** Compare profiles of different machines rather than refuse them. @default false */
  readonly crossMachine?: boolean;
}

/** A case's status: a verdict, or why there is none. */
export type CaseStatus = Verdict | "errored" | "missing" | "new" | "skipped";

/** One side of a compared case. */
export interface CaseSide {
  readonly state: ProfileCase["state"];
  readonly samples: number;
  /** Median load time, ms. */
  readonly medianMs: number | null;
  /** Median fraction of the machine's limit, when compared by efficiency. */
  readonly ofLimit: number | null;
  /** The error or the reason of a case that did not complete. */
  readonly detail?: string;
  /** In a merged profile, the node that ran the case. */
  readonly node?: string;
}

/** One row of a comparison. */
export interface CaseComparison {
  readonly id: string;
  readonly status: CaseStatus;
  /** What this row compared. */
  readonly by: CompareBy;
  readonly baseline: CaseSide | null;
  readonly current: CaseSide | null;
  /** The statistics, when both sides have samples. */
  readonly result: SampleComparison | null;
  /** Why: the verdict's reason, or what kept the case from a verdict. */
  readonly reason: string;
  /**
   * Whether this row fails the comparison: a regression, a case newly errored,
   * or (without `allowMissing`) a case the baseline measured that the current
   * profile lacks or skipped.
   */
  readonly fails: boolean;
}

/** Where a compared profile came from. */
export interface ProfileRef {
  readonly id: string;
  readonly path: string | null;
  readonly createdAt: string;
  readonly host: string;
  readonly commit: string | null;
  readonly dirty: boolean | null;
  readonly fingerprint: Fingerprint;
}

/** The whole comparison. */
export interface ProfileComparison {
  readonly baseline: ProfileRef;
  readonly current: ProfileRef;
  readonly threshold: number;
  readonly alpha: number;
  /** What was asked for; rows say what each compared. */
  readonly by: CompareBy;
  /** Whether both profiles have the same machine fingerprint. */
  readonly sameMachine: boolean;
  /** Things the reader must know before trusting the rows. */
  readonly warnings: readonly string[];
  /** Differences that do not make a different machine: host, kernel, Deno. */
  readonly notes: readonly string[];
  readonly cases: readonly CaseComparison[];
  readonly counts: Readonly<Record<CaseStatus, number>>;
  /** Whether a case the baseline measured may be missing without failing. */
  readonly allowMissing: boolean;
  /** 1 when any case fails (regressed, errored or dropped where the baseline's completed), else 0. */
  readonly exitCode: 0 | 1;
}

/** Compares `current` with `baseline`; `paths` name their files in the output. */
export function compareProfiles(
  baseline: Profile,
  current: Profile,
  options: CompareProfilesOptions = {},
  paths: { baseline?: string; current?: string } = {},
): ProfileComparison {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const by = options.by ?? "time";
  const baseRef = refOf(baseline, paths.baseline);
  const currRef = refOf(current, paths.current);
  const differences = fingerprintDifferences(baseRef.fingerprint, currRef.fingerprint);
  const sameMachine = differences.length === 0;
  const names = `"${paths.baseline ?? baseline.id}" and "${paths.current ?? current.id}"`;
  const common = current.cases.filter((c) => baseline.cases.some((b) => b.id === c.id)).length;
  if (common === 0) {
    throw new InputError(
      `Nothing to compare: ${names} have no case in common (${baseline.cases.length} and ${current.cases.length} cases; scenarios "${baseline.scenario.name}" and "${current.scenario.name}")`,
    );
  }
  if (!sameMachine && !options.crossMachine) {
    throw new InputError(
      `Cannot compare ${names}: they come from different machines (${
        differences.join("; ")
      }); pass --cross-machine to compare them anyway${
        by === "time" ? ", best with --by efficiency" : ""
      }`,
    );
  }
  const allowMissing = options.allowMissing ?? false;
  const warnings: string[] = [];
  if (!sameMachine) {
    warnings.push(
      `The profiles come from different machines (${differences.join("; ")})` +
        (by === "time"
          ? ": raw times may not compare; --by efficiency compares each against its own machine's limits"
          : ""),
    );
  }
  if (by === "efficiency") {
    for (const [name, profile] of [["baseline", baseline], ["current", current]] as const) {
      if (!hasLimits(profile)) {
        warnings.push(
          `The ${name} profile has no machine limits (run deno task probe before the bench): comparing time instead`,
        );
      }
    }
  }
  for (const [name, profile] of [["baseline", baseline], ["current", current]] as const) {
    const partial = partialRunText(profile);
    if (partial !== null) {
      warnings.push(`The ${name} profile is partial: ${partial.replace(/^Partial run: /, "")}`);
    }
  }
  if (current.environment.git.dirty) {
    warnings.push(`The current profile was measured on a dirty tree (uncommitted changes)`);
  }

  warnings.push(...mergedWarnings("baseline", baseline), ...mergedWarnings("current", current));

  const baseCases = new Map(baseline.cases.map((c) => [c.id, c]));
  const currCases = new Map(current.cases.map((c) => [c.id, c]));
  const ids = [...baseCases.keys(), ...[...currCases.keys()].filter((id) => !baseCases.has(id))];
  const useEfficiency = by === "efficiency" && hasLimits(baseline) && hasLimits(current);
  const cases = ids.map((id) =>
    compareCase(id, baseCases.get(id), currCases.get(id), {
      threshold,
      alpha,
      efficiency: useEfficiency,
      allowMissing,
      resamples: options.resamples,
      baseNodes: nodeNames(baseline),
      currNodes: nodeNames(current),
    })
  );
  const together = movedTogether(cases, threshold);
  if (together !== undefined) warnings.push(together);
  const counts = {
    regression: 0,
    improvement: 0,
    unchanged: 0,
    inconclusive: 0,
    errored: 0,
    missing: 0,
    new: 0,
    skipped: 0,
  };
  for (const c of cases) counts[c.status]++;
  const exitCode = cases.some((c) => c.fails) ? 1 : 0;
  return {
    baseline: baseRef,
    current: currRef,
    threshold,
    alpha,
    by,
    sameMachine,
    warnings,
    notes: environmentNotes(baseline, current),
    cases,
    counts,
    allowMissing,
    exitCode,
  };
}

function refOf(profile: Profile, path: string | undefined): ProfileRef {
  return {
    id: profile.id,
    path: path ?? null,
    createdAt: profile.createdAt,
    host: profile.environment.host,
    commit: profile.environment.git.commit,
    dirty: profile.environment.git.dirty,
    fingerprint: fingerprintOf(profile),
  };
}

/** A merged profile's node names, by index. */
function nodeNames(profile: Profile): readonly string[] {
  return (profile.nodes ?? []).map((n) => n.label);
}

/**
 * What a reader of a merged profile must know: each case ran on its own
 * node, the machine fingerprint is the first node's, and shards may be missing.
 */
function mergedWarnings(name: string, profile: Profile): string[] {
  const nodes = profile.nodes ?? [];
  if (!profile.merged || nodes.length === 0) return [];
  const out: string[] = [];
  const machines = new Set(
    nodes.map((n) =>
      JSON.stringify(fingerprintOf({ ...profile, environment: n.environment }).hash)
    ),
  );
  if (machines.size > 1) {
    out.push(
      `The ${name} profile merges ${nodes.length} nodes of ${machines.size} kinds of machine: each case compares on the node that ran it (see the node in each row), and the machine check uses the first node`,
    );
  }
  if (profile.merged.missing.length > 0) {
    out.push(`The ${name} profile was merged without ${profile.merged.missing.join(", ")}`);
  }
  return out;
}

/** Sign-test significance below which cases moving the same way count as moving together. */
const MOVED_TOGETHER_ALPHA = 0.01;

/**
 * A warning when the cases moved the same way, more than chance allows (a
 * two-sided sign test over the compared cases, p < 0.01) and by more than the
 * threshold at their median: a shift that every strategy shares comes more
 * often from the machine (other load, clocks, neighbours on a shared host) or
 * from what all strategies share than from one strategy's code, and the gate
 * alone cannot tell which.
 */
export function movedTogether(
  cases: readonly CaseComparison[],
  threshold: number,
): string | undefined {
  const ratios = cases.flatMap((c) => (c.result ? [c.result.ratio] : []));
  const slower = ratios.filter((r) => r > 1).length;
  const faster = ratios.filter((r) => r < 1).length;
  if (signTestP(slower, faster) >= MOVED_TOGETHER_ALPHA) return undefined;
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  if (median <= 1 + threshold && median >= 1 / (1 + threshold)) return undefined;
  const [same, way] = slower > faster ? [slower, "slower"] : [faster, "faster"];
  const change = `${median > 1 ? "+" : "−"}${(Math.abs(median - 1) * 100).toFixed(1)}%`;
  return `${same} of ${ratios.length} cases are ${way} (median ${change}): a shift every strategy shares is more often the machine (other load, clocks, neighbours) or what all strategies share than one strategy's code; check the load during both runs, or measure both again on a quiet machine`;
}

/** Two-sided sign test: how likely `a` against `b` (or more lopsided) is, were either way as likely. */
function signTestP(a: number, b: number): number {
  const n = a + b;
  if (n === 0) return 1;
  const pmf = binomialDistribution(n, 0.5) ?? [];
  let tail = 0;
  for (let k = Math.max(a, b); k <= n; k++) tail += pmf[k] ?? 0;
  return Math.min(1, 2 * tail);
}

function hasLimits(profile: Profile): boolean {
  return profile.cases.some((c) => c.stats?.ofLimit != null);
}

/** Timed load times of a case. */
function durations(c: ProfileCase): number[] {
  return c.samples.filter((s) => !s.warmup && s.durationMs > 0).map((s) => s.durationMs);
}

/** Per sample: limit time / load time inverted, i.e. load time / (bytes at the limit's rate). */
function inverseEfficiency(c: ProfileCase): number[] | null {
  const limit = c.stats?.ofLimit;
  if (limit == null || !(limit.limitGBps > 0)) return null;
  return c.samples.filter((s) => !s.warmup && s.durationMs > 0 && s.bytes > 0)
    .map((s) => (s.durationMs * 1e6 * limit.limitGBps) / s.bytes);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return (sorted[(n - 1) >> 1]! + sorted[n >> 1]!) / 2;
}

function side(c: ProfileCase, inverse: number[] | null, nodes: readonly string[]): CaseSide {
  const times = durations(c);
  const m = inverse === null ? null : median(inverse);
  const base = {
    state: c.state,
    samples: times.length,
    medianMs: median(times),
    ofLimit: m === null ? null : 1 / m,
  };
  const detail = c.state === "errored" ? c.error : c.state === "skipped" ? c.reason : undefined;
  const node = c.node === undefined ? undefined : nodes[c.node];
  return {
    ...base,
    ...(detail === undefined ? {} : { detail }),
    ...(node === undefined ? {} : { node }),
  };
}

/** A case the baseline measured that the current profile did not: missing, or skipped. */
function dropped(status: CaseStatus): boolean {
  return status === "missing" || status === "skipped";
}

function compareCase(
  id: string,
  base: ProfileCase | undefined,
  curr: ProfileCase | undefined,
  options: {
    threshold: number;
    alpha: number;
    efficiency: boolean;
    allowMissing: boolean;
    resamples?: number | undefined;
    baseNodes: readonly string[];
    currNodes: readonly string[];
  },
): CaseComparison {
  const baseInverse = base && options.efficiency ? inverseEfficiency(base) : null;
  const currInverse = curr && options.efficiency ? inverseEfficiency(curr) : null;
  const efficiency = baseInverse !== null && currInverse !== null;
  const by: CompareBy = efficiency ? "efficiency" : "time";
  const baseSide = base ? side(base, efficiency ? baseInverse : null, options.baseNodes) : null;
  const currSide = curr ? side(curr, efficiency ? currInverse : null, options.currNodes) : null;
  const row = (
    status: CaseStatus,
    reason: string,
    result: SampleComparison | null = null,
  ): CaseComparison => ({
    id,
    status,
    by,
    baseline: baseSide,
    current: currSide,
    result,
    reason,
    fails: status === "regression" ||
      (base?.state === "completed" &&
        (status === "errored" || (!options.allowMissing && dropped(status)))),
  });
  if (!curr) {
    return row(
      "missing",
      base?.state === "completed" && !options.allowMissing
        ? "in the baseline only: the current run dropped it (--allow-missing to accept)"
        : "in the baseline only",
    );
  }
  if (!base) return row("new", "in the current profile only");
  const mismatch = caseMismatch(base, curr);
  if (mismatch !== undefined) return row("inconclusive", `not comparable: ${mismatch}`);
  if (curr.state === "errored") {
    return row(
      "errored",
      `${base.state === "errored" ? "in both profiles: " : ""}${curr.error ?? "unknown error"}`,
    );
  }
  if (curr.state === "skipped") {
    const reason = curr.reason ?? "no reason given";
    return row(
      "skipped",
      base.state === "completed" && !options.allowMissing
        ? `measured in the baseline, skipped now: ${reason}`
        : reason,
    );
  }
  if (base.state !== "completed") {
    return row("new", `the baseline's case ${base.state}: ${base.error ?? base.reason ?? ""}`);
  }
  const baseValues = efficiency ? baseInverse! : durations(base);
  const currValues = efficiency ? currInverse! : durations(curr);
  if (baseValues.length === 0 || currValues.length === 0) {
    return row("inconclusive", "no timed samples");
  }
  const result = compareSamples(baseValues, currValues, {
    threshold: options.threshold,
    alpha: options.alpha,
    seed: id,
    ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
  });
  let reason = result.reason ?? "";
  if (options.efficiency && !efficiency) reason = `no machine limits, compared by time; ${reason}`;
  return row(result.verdict, reason, result);
}

/**
 * Why two cases of one id measure different things (a different cache state
 * or strategy, as a hand-edited or merged profile may have), or undefined:
 * such cases are never compared.
 */
function caseMismatch(base: ProfileCase, curr: ProfileCase): string | undefined {
  if (base.cache !== curr.cache) {
    return `the baseline's case is ${base.cache}, the current one ${curr.cache}`;
  }
  if (base.strategy.name !== curr.strategy.name) {
    return `the baseline's case uses ${base.strategy.name}, the current one ${curr.strategy.name}`;
  }
  return undefined;
}
