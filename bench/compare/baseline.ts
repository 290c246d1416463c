/**
 * Baselines: one committed profile per machine fingerprint, as
 * `profiles/baselines/<slug>.json`, that nightly runs compare against.
 *
 * A baseline changes only when asked (`--update-baseline`), and then
 * atomically; without that, writing over an existing one is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findBaseline, writeBaseline } from "./baseline.ts";
 * import { syntheticProfile } from "../../profiles/_synthetic.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const profile = syntheticProfile();
 * assert.equal(await findBaseline(dir, profile), null);
 * const path = await writeBaseline(dir, profile, { replace: false });
 * assert.equal((await findBaseline(dir, profile))?.path, path);
 * await assert.rejects(() => writeBaseline(dir, profile, { replace: false }), /--update-baseline/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../util/errors.ts";
import { type Profile } from "../../profiles/schema.ts";
import { readProfile } from "../../profiles/files.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { fingerprintOf } from "./fingerprint.ts";

/** Where baselines are kept unless `--baselines` says otherwise. */
export const DEFAULT_BASELINE_DIR = fileURLToPath(
  new URL("../../profiles/baselines/", import.meta.url),
);

/** The path of the baseline for `profile`'s machine in `dir`. */
export function baselinePath(dir: string, profile: Profile): string {
  return join(dir, `${fingerprintOf(profile).slug}.json`);
}

/** The baseline for `profile`'s machine, or null when `dir` has none. */
export async function findBaseline(
  dir: string,
  profile: Profile,
): Promise<{ path: string; profile: Profile } | null> {
  const path = baselinePath(dir, profile);
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return { path, profile: await readProfile(path) };
}

/**
 * Writes `profile` as the baseline of its machine, atomically. With
 * `replace: false` an existing baseline is never overwritten: an
 * {@linkcode InputError} says to pass `--update-baseline`.
 */
export async function writeBaseline(
  dir: string,
  profile: Profile,
  options: { replace: boolean },
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = baselinePath(dir, profile);
  try {
    await writeFileAtomic(path, `${JSON.stringify(profile, null, 2)}\n`, {
      createNew: !options.replace,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new InputError(
        `Baseline "${path}" already exists: pass --update-baseline to replace it`,
        { cause: error },
      );
    }
    throw error;
  }
  return path;
}
