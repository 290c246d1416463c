/**
 * Synchronised starts for a thundering herd: every node of a fleet runs the
 * same cases (`--herd I/N`), and each load starts at the same wall-clock time
 * on every node, so the shared storage they load from sees them all at once.
 *
 * The start time `T0` comes from `--start-at` (an epoch in ms, an ISO 8601
 * time, or `+30s` from now), or from a barrier in a shared folder
 * (`--barrier DIR`): each member writes `member-I-of-N.json` with its arrival
 * time once its weights are open and digested, waits until all N have
 * arrived, and every member takes `T0` = the latest arrival +
 * {@linkcode BARRIER_MARGIN_MS}. The clocks of the nodes must agree (NTP);
 * each sample records its wall-clock start, so the merge shows the skew that
 * was left.
 *
 * After `T0`, samples follow a timetable: the sample of plan case `k` in
 * round `r` starts at `T0 + (r × cases + k) × slot`, the same slot on every
 * node whatever was skipped elsewhere. A load that overruns its slot makes
 * the next start late; each sample records how late it started.
 *
 * Fixtures are generated once: with a barrier, member 1 prepares the weights
 * and writes `prepared.json`; the others wait for it before opening them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration, parseStartAt } from "./herd_sync.ts";
 *
 * assert.equal(parseDuration("--slot", "1.5s"), 1500);
 * assert.equal(parseDuration("--slot", "2m"), 120_000);
 * assert.equal(parseStartAt("+30s", 1_000), 31_000);
 * assert.equal(parseStartAt("2030-01-01T00:00:00Z", 0), Date.UTC(2030, 0, 1));
 * assert.equal(parseStartAt("1900000000000", 0), 1_900_000_000_000);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { ShardSpec } from "./shard.ts";
import { exists } from "../util/fs.ts";

/** Time between the last arrival at a barrier and the first load. @default 5000 */
export const BARRIER_MARGIN_MS = 5_000;
/** How long a member waits at a barrier (or for the prepared weights). @default 15 min */
export const BARRIER_TIMEOUT_MS = 15 * 60_000;
/** How often a waiting member looks at the barrier folder. @default 200 */
export const BARRIER_POLL_MS = 200;
/** Time each sample of a herd gets. @default 30 s */
export const DEFAULT_SLOT_MS = 30_000;

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `1500ms`, `30s`, `2m`, `1h` (a bare number is seconds) in ms; an {@link InputError} otherwise. */
export function parseDuration(flag: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  const value = match ? Number(match[1]) * UNITS[match[2] ?? "s"]! : NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new InputError(`Invalid ${flag} "${text}": expected a duration such as 30s, 2m or 500ms`);
  }
  return Math.round(value);
}

/** `--start-at`: epoch ms, an ISO 8601 time with its zone, or `+DURATION` from `now`. */
export function parseStartAt(text: string, now: number): number {
  const trimmed = text.trim();
  if (trimmed.startsWith("+")) return now + parseDuration("--start-at", trimmed.slice(1));
  if (/^\d{12,}$/.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (Number.isFinite(at)) return at;
  }
  throw new InputError(
    `Invalid --start-at "${text}": expected epoch milliseconds, an ISO 8601 time with its zone (2030-01-01T12:00:00Z) or +DURATION (+2m)`,
  );
}

/** The clock and sleep the waits use; tests pass fakes. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The wall clock. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** Sleeps until the clock reads `at` (in steps, so a wrong clock or an abort is seen). */
export async function waitUntil(at: number, clock: Clock, signal?: AbortSignal): Promise<void> {
  for (let left = at - clock.now(); left > 0; left = at - clock.now()) {
    await clock.sleep(Math.min(left, 1_000), signal);
  }
}

/** Options of the barrier waits. */
export interface BarrierOptions {
  readonly host: string;
  readonly timeoutMs?: number;
  readonly marginMs?: number;
  readonly pollMs?: number;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
}

interface Arrival {
  readonly member: number;
  readonly count: number;
  readonly host: string;
  readonly arrivedAt: number;
}

/**
 * Arrives at the barrier in `dir` as `member`, waits for every member, and
 * returns `T0`: the latest arrival plus the margin, the same on every member.
 */
export async function arriveAtBarrier(
  dir: string,
  member: ShardSpec,
  options: BarrierOptions,
): Promise<number> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const timeoutMs = options.timeoutMs ?? BARRIER_TIMEOUT_MS;
  await ensureDir(dir);
  const arrival: Arrival = {
    member: member.index,
    count: member.count,
    host: options.host,
    arrivedAt: clock.now(),
  };
  await writeFileAtomic(
    join(dir, `member-${member.index}-of-${member.count}.json`),
    JSON.stringify(arrival),
  );
  const deadline = arrival.arrivedAt + timeoutMs;
  for (;;) {
    const arrivals = await readArrivals(dir, member.count);
    if (arrivals.size === member.count) {
      const times = [...arrivals.values()].map((a) => a.arrivedAt);
      // A member waits at most timeoutMs, so an older arrival is from another run.
      if (Math.min(...times) < clock.now() - timeoutMs) {
        throw new InputError(
          `Herd barrier "${dir}" is stale: an arrival in it is older than ${
            timeoutMs / 1000
          } s (give each run a fresh folder)`,
        );
      }
      return Math.max(...times) + (options.marginMs ?? BARRIER_MARGIN_MS);
    }
    if (clock.now() >= deadline) {
      const missing = Array.from({ length: member.count }, (_, i) => i + 1)
        .filter((i) => !arrivals.has(i));
      throw new InputError(
        `Herd barrier "${dir}": ${arrivals.size} of ${member.count} members arrived within ${
          timeoutMs / 1000
        } s; missing member ${missing.map((i) => `${i}/${member.count}`).join(", ")}`,
      );
    }
    await clock.sleep(options.pollMs ?? BARRIER_POLL_MS, options.signal);
  }
}

/**
 * Runs `prepare` on member 1 only, then lets the others go on: they wait for
 * `prepared.json` (or fail at once on `prepare-failed.json`), so the shared
 * weights are generated once, not by every node at the same time.
 */
export async function prepareOnce(
  dir: string,
  member: ShardSpec,
  prepare: () => Promise<void>,
  options: BarrierOptions,
): Promise<void> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  await ensureDir(dir);
  const done = join(dir, "prepared.json");
  const failed = join(dir, "prepare-failed.json");
  if (member.index === 1) {
    try {
      await prepare();
    } catch (error) {
      await writeFileAtomic(failed, JSON.stringify({ host: options.host, error: String(error) }))
        .catch(() => {});
      throw error;
    }
    await writeFileAtomic(done, JSON.stringify({ host: options.host, at: clock.now() }));
    return;
  }
  const deadline = clock.now() + (options.timeoutMs ?? BARRIER_TIMEOUT_MS);
  for (;;) {
    if (await exists(done)) return;
    if (await exists(failed)) {
      throw new InputError(
        `Herd member 1 could not prepare the weights (see its log, and "${failed}")`,
      );
    }
    if (clock.now() >= deadline) {
      throw new InputError(
        `Herd barrier "${dir}": member 1/${member.count} did not prepare the weights within ${
          (options.timeoutMs ?? BARRIER_TIMEOUT_MS) / 1000
        } s`,
      );
    }
    await clock.sleep(options.pollMs ?? BARRIER_POLL_MS, options.signal);
  }
}

/** Where a sample sits in the herd's timetable. */
export interface SampleSlot {
  /** The case's position in the whole plan. */
  readonly caseIndex: number;
  readonly round: number;
}

/** The herd's start and timetable. */
export interface HerdSchedule {
  /** T0, epoch ms: when the first slot starts. */
  readonly startAt: number;
  readonly slotMs: number;
  /** Cases in the plan: the timetable's row length. */
  readonly planCases: number;
}

/** When the sample in `slot` is due. */
export function slotStart(schedule: HerdSchedule, slot: SampleSlot): number {
  return schedule.startAt +
    (slot.round * schedule.planCases + slot.caseIndex) * schedule.slotMs;
}

/**
 * A gate for the runner: waits until the sample's slot, and says how late it
 * started (0 when on time). `start` gives T0 the first time it is needed (after
 * the weights are prepared), e.g. by arriving at a barrier.
 */
export function timetableGate(
  start: () => Promise<number>,
  slotMs: number,
  planCases: number,
  options: { clock?: Clock; signal?: AbortSignal; onStart?: (schedule: HerdSchedule) => void } = {},
): (slot: SampleSlot) => Promise<{ lateMs: number }> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  let schedule: HerdSchedule | undefined;
  return async (slot) => {
    if (schedule === undefined) {
      schedule = { startAt: await start(), slotMs, planCases };
      options.onStart?.(schedule);
    }
    const due = slotStart(schedule, slot);
    await waitUntil(due, clock, options.signal);
    return { lateMs: Math.max(0, clock.now() - due) };
  };
}

async function readArrivals(dir: string, count: number): Promise<Map<number, Arrival>> {
  const arrivals = new Map<number, Arrival>();
  for await (const entry of Deno.readDir(dir)) {
    const match = /^member-(\d+)-of-(\d+)\.json$/.exec(entry.name);
    if (!match) continue;
    if (Number(match[2]) !== count) {
      throw new InputError(
        `Herd barrier "${dir}" holds "${entry.name}", a member of a herd of ${
          match[2]
        }, not ${count} (give each run a fresh folder)`,
      );
    }
    try {
      const arrival = JSON.parse(await Deno.readTextFile(join(dir, entry.name))) as Arrival;
      if (typeof arrival.arrivedAt === "number") arrivals.set(Number(match[1]), arrival);
    } catch {
      // Being written (atomic renames make this rare on NFS): read again next time.
    }
  }
  return arrivals;
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new InputError(`Cannot use the herd barrier "${dir}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}
