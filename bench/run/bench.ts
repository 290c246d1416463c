/**
 * One entry for every bench run: {@link runBench} takes a plan
 * (`options.ts`), runs its cases, records the environment and the machine's
 * limits, writes the profile and returns it. The CLI, nightly runs, the GPU
 * check and fleet runners all call it; they differ only in what they do with
 * the profile afterwards.
 *
 * The profile is a journal: written (atomically, under a name no other run
 * can take) after the first sample and rewritten after later ones, at most
 * once every {@link JOURNAL_INTERVAL_MS}, with the run's state `running`. An
 * interruption (the hooks' signal) ends the run between samples with the
 * profile marked `interrupted` and every sample kept; a crash or SIGKILL
 * leaves the last one written, still marked `running`, short of at most the
 * last interval's samples.
 *
 * @example
 * ```ts ignore
 * import { planBench } from "./options.ts";
 * import { runBench } from "./bench.ts";
 *
 * const { profile, path } = await runBench(await planBench({ scenario: "quick", runs: 3 }));
 * console.log(path, profile.cases.length);
 * ```
 *
 * @module
 */

import { dirname } from "node:path";
import { EnvironmentError, InputError, InterruptedError } from "../util/errors.ts";
import { ensureFixture } from "../../fixtures/generate.ts";
import type { WeightSet } from "../formats/weights.ts";
import { isRemoteWeights } from "../stage/remote_weights.ts";
import { collectEnvironment } from "../probe/environment.ts";
import { limitsForFiles, limitsNeedProbe, type ProbeStep } from "../probe/probe.ts";
import { writeProfile } from "../../profiles/files.ts";
import type { Environment, HerdStart, MachineLimits, Profile } from "../../profiles/schema.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { arriveAtBarrier, type HerdSchedule, prepareOnce, timetableGate } from "./herd_sync.ts";
import type { BenchPlan, FleetPart, HerdSync } from "./options.ts";
import { buildProfile, processTag } from "./profile.ts";
import { runCases, type RunEvent, type RunResult } from "./runner.ts";
import { currentNode } from "./scheduler.ts";
import type { ShardSpec } from "./shard.ts";
import { exists } from "../util/fs.ts";

/** What a bench run reports as it goes, besides the runner's own events. */
export type BenchEvent =
  | RunEvent
  /** The machine's limits: taken from the cache, measured now (with the probe's steps), or not. */
  | {
    readonly kind: "limits";
    /** `to-measure`: before the first sample, when the limits will be probed after the last. */
    readonly outcome: "to-measure" | "cached" | "measured" | "too-small";
  }
  | { readonly kind: "probe"; readonly step: ProbeStep }
  /** A herd's timetable is known: the first load is due at `schedule.startAt`. */
  | { readonly kind: "herd-start"; readonly node: string; readonly schedule: HerdSchedule };

/** What a caller adds to a plan: interruption and progress. */
export interface BenchHooks {
  /** Stops the run between samples; the reason is thrown. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BenchEvent) => void;
}

/** A finished run: its profile and the file it was written to. */
export interface BenchRun {
  readonly profile: Profile;
  readonly path: string;
  /** Some case failed because the environment did (a full disk, a source that gave up): exit 3. */
  readonly environmentFailed?: boolean;
}

/**
 * The run's profile could not be written (a full disk): the profile is here,
 * whole, for the caller to print, and the journal written before the failure
 * (if any) stays where it was. Exits 3.
 */
export class ProfileWriteError extends EnvironmentError {
  constructor(
    readonly profile: Profile,
    /** The journal on disk, and how many timed samples it holds; null when none was written. */
    readonly journal: { readonly path: string; readonly samples: number } | null,
    cause: EnvironmentError,
  ) {
    super(
      `${cause.message}: ${
        journal === null
          ? "no profile was written; the table has every sample"
          : `the table has every sample; "${journal.path}" keeps the ${journal.samples} timed samples written before`
      }`,
      { cause },
    );
    this.name = "ProfileWriteError";
  }
}

/** Runs `plan` and writes its profile into `plan.out`. */
export async function runBench(plan: BenchPlan, hooks: BenchHooks = {}): Promise<BenchRun> {
  const created = await ensureWritableDir(plan.out);
  try {
    return await runPlan(plan, hooks);
  } catch (error) {
    // A run that wrote nothing leaves no empty folder behind.
    if (created !== null) await removeEmptyFolders(created, plan.out);
    throw error;
  }
}

async function runPlan(plan: BenchPlan, hooks: BenchHooks): Promise<BenchRun> {
  const node = currentNode(plan.nodeLabel);
  const emit = hooks.onEvent ?? (() => {});
  let herdStart: HerdStart | null = null;
  const herd = plan.fleet?.mode === "herd" ? plan.fleet : undefined;
  const gate = herd?.sync === undefined ? undefined : timetableGate(
    () => startOfHerd(herd.sync!, herd.part, node.name, hooks.signal),
    herd.sync.slotMs,
    plan.shard!.plan.cases,
    {
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      onStart: (schedule) => {
        herdStart = {
          startAt: schedule.startAt,
          slotMs: schedule.slotMs,
          source: herd.sync!.barrier ?? "start-at",
        };
        emit({ kind: "herd-start", node: node.name, schedule });
      },
    },
  );
  if (herd?.sync?.barrier !== undefined) {
    await prepareFixturesOnce(plan, herd, node.name, hooks.signal);
  }
  let environment: Environment | undefined;
  let id: string | undefined;
  const unique = processTag();
  const journal = new ProfileJournal(plan.out);
  const profileOf = async (result: RunResult, limits: MachineLimits | null) => {
    // Remote weights (http URLs) have no local folder to describe.
    environment ??= await collectEnvironment(weightFolders(result));
    const shard = plan.shard?.mode === "herd" ? { ...plan.shard, start: herdStart } : plan.shard;
    const profile = buildProfile({
      scenario: plan.scenario,
      scenarioSource: plan.scenarioSource,
      command: plan.command,
      environment,
      limits,
      result,
      node,
      unique,
      ...(shard === null ? {} : { shard }),
    });
    // One id for the run, whichever write of the journal this is.
    id ??= profile.id;
    return { ...profile, id };
  };
  const result = plan.cases.length === 0 ? emptyRun() : await runCases(plan.cases, {
    runs: plan.scenario.runs,
    sampling: plan.scenario.sampling,
    warmup: plan.scenario.warmup,
    fixtureRoot: plan.fixtureRoot,
    verify: plan.verify,
    onEvent: emit,
    onReady: async (weights) => {
      const first = weights[0];
      if (!plan.probe || first === undefined || isRemoteWeights(first.source)) return;
      if (await limitsNeedProbe(first.files.map((f) => f.path))) {
        emit({ kind: "limits", outcome: "to-measure" });
      }
    },
    onSample: async (soFar) => {
      // A full disk mid-run: the run goes on, the journal written so far stays, the end says so.
      if (journal.due()) await journal.tryWrite(await profileOf(soFar, null));
    },
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
    ...(gate === undefined ? {} : { gate }),
  }).catch((error) => {
    // Stopped while preparing (a fixture, a download): nothing was measured, so nothing is written.
    if (error instanceof InterruptedError && error === hooks.signal?.reason) {
      return { ...emptyRun(), state: "interrupted" as const, interruption: error };
    }
    throw error;
  });
  if (result.state === "interrupted" && !journal.started) {
    const reason = result.interruption;
    throw reason instanceof InterruptedError
      ? new InterruptedError(
        reason.signal,
        `Interrupted by ${reason.signal} before the first sample: no profile written`,
      )
      : reason;
  }
  const first = result.weights[0]?.weights;
  const limits = plan.probe && result.state === "complete" && first !== undefined &&
      !isRemoteWeights(first.source)
    ? await measuredLimits(first, emit, hooks.signal).catch((error) => {
      // Interrupted while probing: the samples are all there; the limits wait for next time.
      if (hooks.signal?.aborted) return null;
      throw error;
    })
    : null;
  const profile = await profileOf(result, limits);
  let path: string;
  try {
    path = await journal.write(profile);
  } catch (error) {
    if (!(error instanceof EnvironmentError)) throw error;
    throw new ProfileWriteError(profile, journal.saved, error);
  }
  const environmentFailed = result.cases.some((c) =>
    c.outcome.state === "errored" && c.outcome.environment === true
  );
  return { profile, path, ...(environmentFailed ? { environmentFailed } : {}) };
}

/** The local folders holding the run's weights, for the environment's storage. */
function weightFolders(result: RunResult): string[] {
  const paths = result.weights.map(({ weights }) => weights.files[0]!.path)
    .filter((path) => !isRemoteWeights(path));
  return [...new Set(paths.map((path) => dirname(path)))];
}

/**
 * The longest a run goes without rewriting its profile: what a SIGKILL can
 * lose. Samples of a large model take longer than this, so each is written.
 *
 * @default 1000
 */
export const JOURNAL_INTERVAL_MS = 1000;

/**
 * One profile file rewritten as the run goes: created under a fresh name the
 * first time (never over another run's), replaced atomically after that.
 */
class ProfileJournal {
  #path: string | undefined;
  #writtenAt = -Infinity;
  /** The last profile on disk and its timed samples, or null before the first write. */
  saved: { path: string; samples: number } | null = null;

  constructor(readonly dir: string) {}

  /** Whether anything was written yet. */
  get started(): boolean {
    return this.#path !== undefined;
  }

  /** Whether the last write is {@link JOURNAL_INTERVAL_MS} old, or there was none. */
  due(): boolean {
    return performance.now() - this.#writtenAt >= JOURNAL_INTERVAL_MS;
  }

  /** Writes `profile`; returns its path. */
  async write(profile: Profile): Promise<string> {
    this.#writtenAt = performance.now();
    if (this.#path === undefined) {
      this.#path = await writeProfile(profile, this.dir);
    } else {
      await writeFileAtomic(this.#path, `${JSON.stringify(profile, null, 2)}\n`);
    }
    const samples = profile.cases.reduce(
      (n, c) => n + c.samples.filter((s) => !s.warmup).length,
      0,
    );
    this.saved = { path: this.#path, samples };
    return this.#path;
  }

  /** Writes `profile` unless the environment refuses (a full disk): then the last write stays. */
  async tryWrite(profile: Profile): Promise<void> {
    try {
      await this.write(profile);
    } catch (error) {
      if (!(error instanceof EnvironmentError)) throw error;
    }
  }
}

/** T0 of a herd: the time given, or when every member arrived at the barrier. */
function startOfHerd(
  sync: HerdSync,
  member: ShardSpec,
  host: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (sync.barrier === undefined) return Promise.resolve(sync.startAt!);
  return arriveAtBarrier(sync.barrier, member, {
    host,
    ...(signal === undefined ? {} : { signal }),
  });
}

/** Member 1 of a herd generates the fixtures; the others wait for it at the barrier. */
async function prepareFixturesOnce(
  plan: BenchPlan,
  herd: Extract<FleetPart, { mode: "herd" }>,
  host: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const fixtures = plan.cases.map((c) => c.weights).filter((w) => w.kind === "fixture");
  await prepareOnce(herd.sync!.barrier!, herd.part, async () => {
    for (const { layout, size, dtype, shards, format } of fixtures) {
      await ensureFixture({ layout, size, dtype, shards, format }, plan.fixtureRoot);
    }
  }, { host, ...(signal === undefined ? {} : { signal }) });
}

function emptyRun(): RunResult {
  return {
    startedAt: new Date().toISOString(),
    durationMs: 0,
    weights: [],
    targets: {},
    cases: [],
    state: "complete",
  };
}

/**
 * Fails before a run, not after it, when profiles cannot be written to `dir`;
 * returns the outermost folder it had to create, or null.
 */
async function ensureWritableDir(dir: string): Promise<string | null> {
  let created: string | null = null;
  for (let path = dir; !(await exists(path)); path = dirname(path)) created = path;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = await Deno.makeTempFile({ dir, prefix: ".write-check-" });
    await Deno.remove(probe);
    return created;
  } catch (error) {
    const reason =
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
        ? "permission denied"
        : error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory
        ? "not a folder"
        : (error as Error).message;
    throw new InputError(`Cannot write profiles to "${dir}": ${reason}`, { cause: error });
  }
}

/** The cached limits of the weights' storage, or a probe of it (once per machine and storage). */
async function measuredLimits(
  weights: WeightSet,
  emit: (event: BenchEvent) => void,
  signal: AbortSignal | undefined,
): Promise<MachineLimits | null> {
  const found = await limitsForFiles(weights.files.map((f) => f.path), {
    onStep: (step) => emit({ kind: "probe", step }),
    ...(signal === undefined ? {} : { signal }),
  });
  emit({
    kind: "limits",
    outcome: found === undefined ? "too-small" : found.cached ? "cached" : "measured",
  });
  return found?.limits ?? null;
}

/** Removes `dir` and the empty folders above it up to `top`, stopping at the first that is not empty. */
async function removeEmptyFolders(top: string, dir: string): Promise<void> {
  for (let path = dir;; path = dirname(path)) {
    try {
      await Deno.remove(path); // only an empty folder goes
    } catch {
      return;
    }
    if (path === top) return;
  }
}
