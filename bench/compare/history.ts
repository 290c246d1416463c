/**
 * The nightly history: every nightly profile, one JSON file each, in
 * `<history>/<fingerprint slug>/<profile id>.json` (default history folder
 * `profiles/history/`, git-ignored), so each machine's runs form their own
 * series. Plain profile files rather than a database: every tool that reads
 * a profile reads the history, a run is added by an atomic create that never
 * replaces, and a CI runner keeps the folder between runs by pointing
 * `--history` outside its checkout.
 *
 * {@linkcode levelShifts} runs the change-point search of `changepoint.ts`
 * over each case's per-run median load time (in logarithms, so a shift is a
 * ratio) and names the run, and so the commit, where the level changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyRun, levelShifts } from "./history.ts";
 * import { syntheticProfile } from "../../profiles/_synthetic.ts";
 *
 * // Twelve nightly runs of one profile: a flat history has no level shift.
 * const runs = Array.from({ length: 12 }, () => historyRun(syntheticProfile()));
 * assert.deepEqual(levelShifts(runs), []);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Profile } from "../../profiles/schema.ts";
import { readProfile, writeProfile } from "../../profiles/files.ts";
import { DEFAULT_THRESHOLD } from "./significance.ts";
import { changePoints, MAX_POINTS } from "./changepoint.ts";
import { fingerprintOf } from "./fingerprint.ts";

/** Where the history is kept unless `--history` says otherwise. */
export const DEFAULT_HISTORY_DIR = fileURLToPath(
  new URL("../../profiles/history/", import.meta.url),
);

/** Adds `profile` to the history of its machine; returns the path written. */
export function appendHistory(root: string, profile: Profile): Promise<string> {
  return writeProfile(profile, join(root, fingerprintOf(profile).slug));
}

/** What the change-point search needs of one run: its id, time, commit and each case's median. */
export interface HistoryRun {
  readonly id: string;
  readonly createdAt: string;
  readonly commit: string | null;
  /** Median load time (ms) of each case that completed with samples, by case id. */
  readonly medians: ReadonlyMap<string, number>;
}

/** The history of one machine, oldest first, with the files that could not be read. */
export interface History {
  readonly dir: string;
  readonly runs: readonly HistoryRun[];
  readonly unreadable: readonly string[];
}

/** The {@linkcode HistoryRun} of a profile. */
export function historyRun(profile: Profile): HistoryRun {
  const medians = new Map<string, number>();
  for (const c of profile.cases) {
    const median = c.stats?.durationMs.median;
    if (c.state === "completed" && typeof median === "number" && median > 0) {
      medians.set(c.id, median);
    }
  }
  return {
    id: profile.id,
    createdAt: profile.createdAt,
    commit: profile.environment.git.commit,
    medians,
  };
}

/**
 * Reads the last `limit` runs of `profile`'s machine from `root` (default
 * {@linkcode MAX_POINTS}), oldest first by `createdAt`. Each file is parsed
 * and reduced to its {@linkcode HistoryRun} at once, so a long history of
 * large profiles never sits in memory whole. A file that is not a profile of
 * this schema is listed in `unreadable`, not fatal.
 */
export async function loadHistory(
  root: string,
  profile: Profile,
  limit = MAX_POINTS,
): Promise<History> {
  const dir = join(root, fingerprintOf(profile).slug);
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json") && !entry.name.startsWith(".")) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { dir, runs: [], unreadable: [] };
    throw error;
  }
  // Profile ids start with their ISO creation time, so names sort by time.
  names.sort();
  const runs: HistoryRun[] = [];
  const unreadable: string[] = [];
  for (const name of names.slice(-limit)) {
    const run = await readRun(join(dir, name));
    if (run === null) unreadable.push(join(dir, name));
    else runs.push(run);
  }
  runs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return { dir, runs, unreadable };
}

/** A history file as a run, read through the profile schema; null if it is not a valid profile. */
async function readRun(path: string): Promise<HistoryRun | null> {
  try {
    return historyRun(await readProfile(path));
  } catch {
    return null;
  }
}

/** Where a case's level changed in a history. */
export interface LevelShift {
  readonly caseId: string;
  /** Index of the first run at the new level, into the history passed. */
  readonly run: number;
  /** How many runs of the case the search saw. */
  readonly runs: number;
  readonly profileId: string;
  readonly createdAt: string;
  /** The commit of the first run at the new level: the change is in it or since the run before. */
  readonly commit: string | null;
  /** The commit of the last run at the old level. */
  readonly previousCommit: string | null;
  /** Median load time of the old and the new level, ms. */
  readonly beforeMs: number;
  readonly afterMs: number;
  /** afterMs / beforeMs. */
  readonly ratio: number;
}

/**
 * The level shifts of every case across `runs` (oldest first) whose size is
 * at least `minChange` (a shift smaller than the comparison threshold is
 * noise to a reader; default {@linkcode DEFAULT_THRESHOLD}). A case enters a
 * run's series only where it completed with samples.
 */
export function levelShifts(
  runs: readonly HistoryRun[],
  options: { minChange?: number } = {},
): LevelShift[] {
  const minChange = options.minChange ?? DEFAULT_THRESHOLD;
  const series = new Map<string, { run: number; median: number }[]>();
  runs.forEach((r, run) => {
    for (const [id, median] of r.medians) {
      let points = series.get(id);
      if (points === undefined) series.set(id, points = []);
      points.push({ run, median });
    }
  });
  const shifts: LevelShift[] = [];
  for (const [caseId, points] of series) {
    for (const point of changePoints(points.map((p) => Math.log(p.median)))) {
      const ratio = Math.exp(point.after - point.before);
      if (Math.abs(Math.log(ratio)) < Math.log(1 + minChange)) continue;
      const at = points[point.index]!;
      const previous = points[point.index - 1]!;
      const run = runs[at.run]!;
      shifts.push({
        caseId,
        run: at.run,
        runs: points.length,
        profileId: run.id,
        createdAt: run.createdAt,
        commit: run.commit,
        previousCommit: runs[previous.run]!.commit,
        beforeMs: Math.exp(point.before),
        afterMs: Math.exp(point.after),
        ratio,
      });
    }
  }
  return shifts.sort((a, b) => a.run - b.run || a.caseId.localeCompare(b.caseId));
}
