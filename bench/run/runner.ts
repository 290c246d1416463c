/**
 * Runs a plan: prepares weights (generating fixtures once), opens targets,
 * then takes samples round by round, interleaving cases so drift over time
 * spreads evenly across them. Each sample establishes and measures the cache
 * state, times the strategy's load with its phases, records the peak RSS,
 * verifies every tensor on the target and frees it. A case that fails is
 * recorded as errored with its message, and the run goes on. After every
 * sample the caller sees the run so far (a journal can keep it), and an abort
 * between samples ends the run with what was measured, not an exception.
 *
 * @module
 */

import { ensureFixture } from "../../fixtures/generate.ts";
import { EnvironmentError, InputError } from "../util/errors.ts";
import { describeSkipped, openWeights, type WeightSet } from "../formats/weights.ts";
import {
  isRemoteWeights,
  openRemoteWeights,
  remoteTensorDigests,
} from "../stage/remote_weights.ts";
import type { WeightsSpec } from "../scenarios/schema.ts";
import { STRATEGIES } from "../strategies/registry.ts";
import { type Strategy, type StrategyDefinition } from "../strategies/strategy.ts";
import { type LoadResult, targetFootprint } from "../core/load.ts";
import { openTarget } from "../targets/registry.ts";
import type { Target } from "../core/target.ts";
import { type CacheOutcome, prepareCacheState } from "../core/cache_state.ts";
import { type TensorDigests, tensorDigests } from "../core/digests.ts";
import { readMemory, resetPeakRss } from "../core/memory.ts";
import type { Case } from "./plan.ts";
import { type Phase, Recorder, type Span } from "../core/recorder.ts";
import {
  type Verification,
  VerificationError,
  verifyLoad,
  verifyLoadWith,
} from "../core/verify.ts";
import { HashPool } from "../core/hash_pool.ts";
import { verifySampled } from "../core/verify_sampled.ts";
import type { Sample } from "../../profiles/schema.ts";
import type { Sampling } from "../scenarios/schema.ts";
import { summarize } from "../stats/summary.ts";

/** V8's collector, when the process runs with `--v8-flags=--expose-gc`. */
const collectGarbage = (globalThis as { gc?: () => void }).gc;

/** How a run is carried out. */
export interface RunOptions {
  /** Timed samples per case; with `sampling`, the most a case takes. */
  readonly runs: number;
  /** Decide each case's sample count as it is measured; null: `runs` each. @default null */
  readonly sampling?: Sampling | null;
  readonly warmup: number;
  /** Where generated fixtures are cached. */
  readonly fixtureRoot: string;
  /** Told about fixture generation and each sample. */
  readonly onEvent?: (event: RunEvent) => void;
  /** Stops the run between samples; the result then says it was interrupted, and why. */
  readonly signal?: AbortSignal;
  /**
   * Awaited after every sample with the run so far (cases still sampling are
   * `completed` with the samples they have), outside any timing: a journal
   * writes it, so an interruption or a crash loses at most one sample.
   */
  readonly onSample?: (soFar: RunResult) => Promise<void> | void;
  /** Awaited once the weights are ready, before the first sample: what runs after can be announced. */
  readonly onReady?: (weights: readonly WeightSet[]) => Promise<void> | void;
  /** The strategies by name. @default the registry's {@link STRATEGIES} */
  readonly strategies?: Readonly<Record<string, StrategyDefinition>>;
  /**
   * Awaited before each load, after its cache state is set: a herd's timetable
   * (`herd_sync.ts`). What it returns is recorded as the sample's lateness; its
   * wait is not part of the harness's time.
   */
  readonly gate?: (slot: { readonly caseIndex: number; readonly round: number }) => Promise<
    { readonly lateMs: number } | void
  >;
  /**
   * `all` hashes every loaded byte against the source; `sampled` checks every
   * placement and a few windows of each tensor (`verify_sampled.ts`), for
   * models too large to hash each sample.
   *
   * @default "all"
   */
  readonly verify?: "all" | "sampled";
}

/** Progress the runner reports. */
export type RunEvent =
  | {
    readonly kind: "fixture";
    readonly label: string;
    readonly done: number;
    readonly total: number;
  }
  | { readonly kind: "prepare"; readonly label: string; readonly step: "open" | "digest" }
  | { readonly kind: "ready" }
  | {
    readonly kind: "sample";
    readonly done: number;
    readonly total: number;
    readonly caseId: string;
    readonly warmup: boolean;
  };

/** What became of a case. */
export type CaseOutcome =
  | { readonly state: "completed"; readonly samples: readonly Sample[] }
  | {
    readonly state: "errored";
    readonly error: string;
    readonly samples: readonly Sample[];
    /** The environment failed (a full disk, a source unreachable after retries): exit 3, not 1. */
    readonly environment?: boolean;
  }
  | { readonly state: "skipped"; readonly reason: string; readonly samples: readonly Sample[] };

/** A case with its outcome. */
export interface CaseRun {
  readonly case: Case;
  readonly outcome: CaseOutcome;
}

/** The weights a run loaded, by the label cases use. */
export interface PreparedWeights {
  readonly label: string;
  readonly spec: WeightsSpec;
  readonly weights: WeightSet;
}

/** Everything a run produced. */
export interface RunResult {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly weights: readonly PreparedWeights[];
  readonly targets: Readonly<Record<string, Target["info"]>>;
  readonly cases: readonly CaseRun[];
  /**
   * `complete`: every sample was taken; `running`: a snapshot taken while the
   * run goes on; `interrupted`: the signal stopped it (`reason` is the abort's).
   */
  readonly state: "complete" | "running" | "interrupted";
  /** Why the run was interrupted: the abort signal's reason. */
  readonly interruption?: unknown;
}

interface ActiveCase {
  readonly case: Case;
  readonly strategy: Strategy;
  readonly weights: WeightSet;
  readonly digests: TensorDigests;
  readonly target: Target;
  readonly paths: readonly string[];
  readonly samples: Sample[];
  error?: string;
  /** Wall time spent on this case's timed samples, everything included. */
  sampledMs: number;
  /** Sampling decided it has enough samples: it sits out the later rounds. */
  settled?: boolean;
  /** The case failed because the environment did (a full disk, a source that gave up). */
  environmentFailed?: boolean;
}

/** Runs every case of `cases`; throws only for bad input (before any sample) or an abort. */
export async function runCases(cases: readonly Case[], options: RunOptions): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  const runStart = performance.now();
  const targets = new Map<string, Target>();
  const strategies: Strategy[] = [];
  // Every loaded byte is hashed after every sample: one Worker a core does it in a fraction of the
  // time. Started at the first check, so a run that checks nothing starts none.
  const hashing: Hashing = {
    pool: (options.verify ?? "all") === "all" && (navigator.hardwareConcurrency || 1) > 1
      ? "not started"
      : undefined,
  };
  try {
    for (const id of new Set(cases.map((c) => c.target))) targets.set(id, openTarget(id));
    const prepared = await prepareWeights(cases, options);
    options.onEvent?.({ kind: "ready" });
    await options.onReady?.([...prepared.values()].map((p) => p.weights));
    const digests = new Map<string, TensorDigests>();
    const active: ActiveCase[] = [];
    const skipped = new Map<number, string>();
    for (const c of cases) {
      const { weights } = prepared.get(c.weightsLabel)!;
      const target = targets.get(c.target)!;
      const definition = (options.strategies ?? STRATEGIES)[c.strategy.name];
      if (!definition) throw new InputError(`Unknown strategy "${c.strategy.name}"`);
      const strategy = definition.create(c.strategy.options);
      strategies.push(strategy);
      const reason = strategy.unsupported?.(weights, target);
      if (reason !== undefined) {
        skipped.set(c.index, reason);
        continue;
      }
      if ((options.verify ?? "all") === "sampled") {
        digests.set(c.weightsLabel, new Map()); // sampled verification reads no digest: none computed
      } else if (!digests.has(c.weightsLabel)) {
        options.onEvent?.({ kind: "prepare", label: c.weightsLabel, step: "digest" });
        digests.set(
          c.weightsLabel,
          isRemoteWeights(weights.source)
            ? await remoteTensorDigests(weights, { signal: options.signal })
            : await tensorDigests(weights),
        );
      }
      active.push({
        case: c,
        strategy,
        weights,
        digests: digests.get(c.weightsLabel)!,
        target,
        paths: weights.files.map((f) => f.path).filter((p) => !isRemoteWeights(p)),
        samples: [],
        sampledMs: 0,
      });
    }

    for (const target of targets.values()) {
      const needs = active.filter((a) => a.target === target).map((a) =>
        a.strategy.footprint === undefined
          ? footprint(a.weights)
          : a.strategy.footprint(a.weights) + a.weights.files.length * TARGET_ALIGNMENT_SLACK
      );
      if (needs.length > 0) target.reserve(Math.max(...needs));
    }

    const rounds = options.warmup + options.runs;
    let total = active.length * rounds;
    let done = 0;
    const byIndex = new Map(active.map((a) => [a.case.index, a]));
    const result = (state: RunResult["state"]): RunResult => ({
      startedAt,
      durationMs: performance.now() - runStart,
      weights: [...prepared.values()],
      targets: Object.fromEntries([...targets].map(([id, t]) => [id, t.info])),
      cases: cases.map((c) => caseRun(c, skipped.get(c.index), byIndex.get(c.index), state)),
      state,
      ...(state === "interrupted" ? { interruption: options.signal?.reason } : {}),
    });
    for (let round = 0; round < rounds; round++) {
      const live = active.filter((a) => a.error === undefined && !a.settled);
      if (live.length === 0) break;
      // The same order every round: no case is sampled twice in a row while others wait.
      for (const entry of live) {
        if (options.signal?.aborted) return result("interrupted");
        const warmup = round < options.warmup;
        const sampleStart = performance.now();
        try {
          entry.samples.push(
            await takeSample(
              entry,
              round,
              warmup,
              runStart,
              options.gate,
              options.verify ?? "all",
              hashing,
              options.signal,
            ),
          );
        } catch (error) {
          if (options.signal?.aborted) {
            // Interrupted inside the sample: drop it, free its memory, keep the rest.
            entry.target.freeAll();
            return result("interrupted");
          }
          entry.error = error instanceof Error ? error.message : String(error);
          if (error instanceof EnvironmentError) entry.environmentFailed = true;
          entry.target.freeAll();
        }
        if (!warmup) entry.sampledMs += performance.now() - sampleStart;
        if (options.sampling && entry.error === undefined && enough(entry, options.sampling)) {
          entry.settled = true;
        }
        done++;
        // Cases after this one in the round still take this round's sample.
        const here = active.indexOf(entry);
        total = done + active.reduce(
          (sum, a, i) => sum + samplesLeft(a, rounds - round - (i > here ? 0 : 1), options),
          0,
        );
        options.onEvent?.({ kind: "sample", done, total, caseId: entry.case.id, warmup });
        await options.onSample?.(result("running"));
      }
    }
    // A signal during the last sample: the samples are all there, but the user asked to stop.
    return result(options.signal?.aborted ? "interrupted" : "complete");
  } finally {
    for (const strategy of strategies) strategy.close?.();
    for (const target of targets.values()) target.close();
    if (hashing.pool instanceof HashPool) hashing.pool.close();
  }
}

/** The pool that hashes loaded bytes, started when first needed; gone once it failed. */
interface Hashing {
  pool: HashPool | "not started" | undefined;
}

/** Every byte of `result` checked: by the pool while it works, else on this thread. */
async function verifyAll(
  hashing: Hashing,
  entry: ActiveCase,
  result: LoadResult,
): Promise<Verification> {
  if (hashing.pool === "not started") {
    try {
      hashing.pool = new HashPool();
    } catch {
      hashing.pool = undefined; // no Workers here: one thread hashes
    }
  }
  if (hashing.pool) {
    try {
      return await verifyLoadWith(hashing.pool, entry.weights, entry.digests, result, entry.target);
    } catch (error) {
      if (error instanceof VerificationError) throw error;
      // The pool itself failed (a Worker could not start or died): hash here from now on.
      hashing.pool.close();
      hashing.pool = undefined;
    }
  }
  return verifyLoad(entry.weights, entry.digests, result, entry.target);
}

/**
 * The samples a case is still expected to take in its `rounds` left: none
 * once it failed or settled; with sampling, no more than its time budget
 * allows at the pace of its samples so far, so that the estimate of the time
 * left follows what sampling will do rather than its `maxRuns`.
 */
function samplesLeft(
  entry: ActiveCase,
  rounds: number,
  options: { readonly sampling?: Sampling | null; readonly warmup: number },
): number {
  if (entry.error !== undefined || entry.settled || rounds <= 0) return 0;
  const sampling = options.sampling;
  const timed = entry.samples.filter((s) => !s.warmup).length;
  if (!sampling || timed === 0) return rounds;
  const paceMs = entry.sampledMs / timed;
  const inBudget = Math.ceil(Math.max(0, sampling.budgetMs - entry.sampledMs) / paceMs);
  const warmupsLeft = Math.max(0, options.warmup - (entry.samples.length - timed));
  return Math.min(rounds, warmupsLeft + Math.max(sampling.minRuns - timed, inBudget));
}

/**
 * Whether a case has samples enough: the minimum, and then a median known
 * within the target (its bootstrap interval's half-width over the median), or
 * the case's time budget spent. `maxRuns` is the rounds' own limit.
 */
function enough(entry: ActiveCase, sampling: Sampling): boolean {
  const timed = entry.samples.filter((s) => !s.warmup).map((s) => s.durationMs);
  if (timed.length < sampling.minRuns) return false;
  if (entry.sampledMs >= sampling.budgetMs) return true;
  const { median, ci } = summarize(timed);
  return median > 0 && (ci.high - ci.low) / 2 / median <= sampling.ciTarget;
}

/** A case's outcome: skipped, errored, or completed with the samples it has. */
function caseRun(
  c: Case,
  skipReason: string | undefined,
  run: ActiveCase | undefined,
  state: RunResult["state"],
): CaseRun {
  if (skipReason !== undefined) {
    return { case: c, outcome: { state: "skipped", reason: skipReason, samples: [] } };
  }
  const samples = [...run!.samples];
  if (run!.error !== undefined) {
    return {
      case: c,
      outcome: {
        state: "errored",
        error: run!.error,
        samples,
        ...(run!.environmentFailed ? { environment: true } : {}),
      },
    };
  }
  if (state !== "complete" && !samples.some((s) => !s.warmup)) {
    const reason = state === "running"
      ? "not sampled yet"
      : "not measured: the run was interrupted before its first timed sample";
    return { case: c, outcome: { state: "skipped", reason, samples } };
  }
  return { case: c, outcome: { state: "completed", samples } };
}

/** Room for a target's alignment of each buffer. @default 4096 */
const TARGET_ALIGNMENT_SLACK = 4096;

/** Target bytes a load of `weights` needs, with room for each buffer's alignment. */
export function footprint(weights: WeightSet): number {
  return targetFootprint(weights) + weights.files.length * TARGET_ALIGNMENT_SLACK;
}

async function prepareWeights(
  cases: readonly Case[],
  options: RunOptions,
): Promise<Map<string, PreparedWeights>> {
  const prepared = new Map<string, PreparedWeights>();
  for (const c of cases) {
    if (prepared.has(c.weightsLabel)) continue;
    const spec = c.weights;
    let path: string;
    if (spec.kind === "fixture") {
      const { layout, size, dtype, shards, format } = spec;
      path = await ensureFixture({ layout, size, dtype, shards, format }, options.fixtureRoot, {
        onProgress: (done, total) => {
          if (options.signal?.aborted) throw options.signal.reason ?? new Error("Run aborted");
          options.onEvent?.({ kind: "fixture", label: c.weightsLabel, done, total });
        },
      });
    } else {
      path = spec.path;
    }
    options.onEvent?.({ kind: "prepare", label: c.weightsLabel, step: "open" });
    const weights = isRemoteWeights(path)
      ? await openRemoteWeights(path, { signal: options.signal })
      : await openWeights(path);
    // A file with no tensors was refused by its format's reader (`requireTensors`), for inspect too;
    // what a reader skipped is said here, and kept in the profile.
    for (const line of describeSkipped(weights.skipped ?? [])) console.error(line);
    prepared.set(c.weightsLabel, { label: c.weightsLabel, spec, weights });
  }
  return prepared;
}

async function takeSample(
  entry: ActiveCase,
  round: number,
  warmup: boolean,
  runStart: number,
  gate: RunOptions["gate"],
  verify: "all" | "sampled",
  hashing: Hashing,
  signal: AbortSignal | undefined,
): Promise<Sample> {
  const sampleStart = performance.now();
  // A collection now, where V8 exposes it (--expose-gc), keeps the last sample's garbage from
  // pausing this one's load.
  collectGarbage?.();
  await entry.strategy.prepareSample?.(entry.weights, entry.target);
  const prepareMs = performance.now() - sampleStart;
  const cache: CacheOutcome = prepareCacheState(
    entry.case.cache,
    entry.strategy.cachePaths?.(entry.weights) ?? entry.paths,
  );
  const cachePrepMs = performance.now() - sampleStart - prepareMs;
  let gateMs = 0;
  let lateMs: number | undefined;
  if (gate) {
    const gateStart = performance.now();
    lateMs = (await gate({ caseIndex: entry.case.index, round }))?.lateMs;
    gateMs = performance.now() - gateStart;
  }
  const peakKnown = resetPeakRss();
  const before = peakKnown ? readMemory() : undefined;

  const recorder = new Recorder();
  const meter = entry.target.meterLoad?.(recorder.origin);
  const startedAt = recorder.origin - runStart;
  const startedAtEpochMs = performance.timeOrigin + recorder.origin;
  const result: LoadResult = await entry.strategy.load({
    weights: entry.weights,
    target: entry.target,
    recorder,
    signal,
  });
  const durationMs = recorder.now();
  const memory = peakKnown ? readMemory() : undefined;
  const loaded = meter?.loaded();

  const verification = await recorder.timeAsync("verify", async () => {
    if (verify === "all") {
      const checked = await verifyAll(hashing, entry, result);
      return { bytes: checked.bytes, checkedBytes: checked.bytes };
    }
    const checked = verifySampled(entry.weights, result, entry.target, { seed: round + 1 });
    return { bytes: checked.bytes, checkedBytes: checked.sampledBytes };
  });
  recorder.time("free", () => {
    for (const buffer of result.buffers) entry.target.free(buffer);
  });
  // Throws DeviceLeakError where device or pinned memory did not come back: the case errors.
  const released = meter?.released();
  const afterLoadMs = spanTime(recorder.spans, durationMs, ["verify", "free"]);
  const harnessMs = performance.now() - sampleStart - prepareMs - cachePrepMs - gateMs -
    durationMs - recorder.waitedMs - afterLoadMs;

  return {
    round,
    warmup,
    startedAt,
    startedAtEpochMs,
    ...(lateMs === undefined ? {} : { lateMs }),
    durationMs,
    bytes: verification.bytes,
    bytesRead: result.bytesRead,
    ...(result.bytesBySource === undefined ? {} : { bytesBySource: result.bytesBySource }),
    ...(result.details === undefined ? {} : { details: result.details }),
    cache: {
      residentFraction: cache.residency.fraction,
      residentBytes: cache.residency.residentBytes,
      established: cache.established,
    },
    peakRssBytes: memory?.peakRss ?? null,
    rssBeforeBytes: before?.rss ?? null,
    harnessMs,
    cachePrepMs,
    verification: {
      mode: verify,
      checkedBytes: verification.checkedBytes,
    },
    spans: recorder.spans,
    ...(loaded === undefined ? {} : {
      device: {
        memoryBeforeBytes: loaded.memoryBeforeBytes,
        memoryAfterBytes: loaded.memoryAfterBytes,
        peakMemoryBytes: loaded.peakMemoryBytes,
        gpuMemorySource: loaded.gpuMemorySource,
        h2dEventMs: loaded.h2dEventMs,
        h2dBytes: loaded.h2dBytes,
        memoryReleasedBytes: released!.memoryReleasedBytes,
      },
      gpuMemory: loaded.gpuMemory.length > 0 ? loaded.gpuMemory : null,
    }),
  };
}

function spanTime(spans: readonly Span[], after: number, phases: readonly Phase[]): number {
  let total = 0;
  for (const span of spans) {
    if (span.start >= after && phases.includes(span.phase)) total += span.end - span.start;
  }
  return total;
}
