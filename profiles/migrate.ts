/**
 * Brings a profile written by an older weightbench up to the current layout,
 * one version step at a time, before the schema checks it. A profile from a
 * newer weightbench is refused: this tool cannot know what its fields mean.
 *
 * Version 1 → 2: a sample's `verified: true` (always true: a failed check
 * errors the case) became `verification`, how the bytes were checked; a
 * case's `verified: { passed, samples }` became `{ samples, mode }`; the run
 * says whether it is `complete` (version 1 wrote only complete runs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { migrateProfile } from "./migrate.ts";
 *
 * const v1 = {
 *   schemaVersion: 1,
 *   command: ["bench"],
 *   cases: [{ samples: [{ bytes: 64, verified: true }], stats: { verified: { passed: 1, samples: 1 } } }],
 * };
 * const v2 = migrateProfile(v1, "old.json") as typeof v1 & { schemaVersion: number };
 * assert.equal(v2.schemaVersion, 2);
 * assert.deepEqual(v2.cases[0]!.samples[0], { bytes: 64, verification: { mode: "all", checkedBytes: 64 } });
 * assert.throws(() => migrateProfile({ schemaVersion: 9 }, "new.json"), /newer than/);
 * ```
 *
 * @module
 */

import { InputError } from "../bench/util/errors.ts";

/** The newest layout; `schema.ts` describes it. */
const CURRENT = 2;

type Json = Record<string, unknown>;

/** Each step takes a profile of version `from` to `from + 1`. */
const STEPS: Readonly<Record<number, (profile: Json) => Json>> = {
  1: v1ToV2,
};

/** `json` in the current layout (not yet checked); throws for what no step can read. */
export function migrateProfile(json: unknown, file: string): unknown {
  if (!isObject(json) || typeof json.schemaVersion !== "number") {
    throw new InputError(
      `Cannot read profile "${file}": schemaVersion: missing, not a weightbench profile`,
    );
  }
  let profile: Json = json;
  let version = json.schemaVersion;
  if (version > CURRENT) {
    throw new InputError(
      `Cannot read profile "${file}": schemaVersion ${version} is newer than ${CURRENT}, ` +
        "the newest this weightbench reads: update weightbench",
    );
  }
  for (; version < CURRENT; version++) {
    const step = STEPS[version];
    if (step === undefined) {
      throw new InputError(
        `Cannot read profile "${file}": schemaVersion ${version} is not one this weightbench reads`,
      );
    }
    profile = { ...step(profile), schemaVersion: version + 1 };
  }
  return profile;
}

function v1ToV2(profile: Json): Json {
  const command = Array.isArray(profile.command) ? profile.command.map(String) : [];
  const sampled = command.includes("--verify=sampled") ||
    command.some((word, i) => word === "--verify" && command[i + 1] === "sampled");
  const mode = sampled ? "sampled" : "all";
  const cases = Array.isArray(profile.cases) ? profile.cases : [];
  const run = isObject(profile.run) ? { ...profile.run, state: "complete" } : profile.run;
  return {
    ...profile,
    run,
    cases: cases.map((c) => {
      if (!isObject(c)) return c;
      const samples = Array.isArray(c.samples) ? c.samples : [];
      const stats = isObject(c.stats) && isObject(c.stats.verified)
        ? {
          ...c.stats,
          verified: { samples: c.stats.verified.samples, mode },
        }
        : c.stats;
      return {
        ...c,
        samples: samples.map((s) => {
          if (!isObject(s) || !("verified" in s)) return s;
          const { verified: _, ...rest } = s;
          // Version 1 did not record how many bytes a sampled check read.
          return { ...rest, verification: { mode, checkedBytes: sampled ? null : s.bytes } };
        }),
        ...(stats === undefined ? {} : { stats }),
      };
    }),
  };
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
