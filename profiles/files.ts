/**
 * Profiles on disk: read and checked through the schema ({@link parseProfile}),
 * written atomically under a name no other writer can take.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readProfile, writeProfile } from "./files.ts";
 * import { syntheticProfile } from "./_synthetic.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const path = await writeProfile(syntheticProfile(), dir);
 * assert.equal((await readProfile(path)).id, syntheticProfile().id);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../bench/util/errors.ts";
import { writeFileAtomic } from "../bench/util/atomic.ts";
import { parseProfile, type Profile } from "./schema.ts";

/** Largest profile read. @default 512 MiB */
const MAX_PROFILE_BYTES = 512 << 20;

/** Reads and checks a profile; throws {@link InputError} naming the file and the problem. */
export async function readProfile(path: string): Promise<Profile> {
  let text: string;
  try {
    const { size } = await Deno.stat(path);
    if (size > MAX_PROFILE_BYTES) {
      throw new InputError(
        `Cannot read profile "${path}": ${size} bytes exceeds the ${MAX_PROFILE_BYTES}-byte limit`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read profile "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `Cannot read profile "${path}": not valid JSON (truncated?): ${(error as Error).message}`,
    );
  }
  return parseProfile(json, path);
}

/** Writes `profile` atomically as `<dir>/<id>.json` and returns the path. */
export async function writeProfile(profile: Profile, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(profile, null, 2)}\n`;
  for (let attempt = 0;; attempt++) {
    // Two runs finishing in the same millisecond get distinct names, never one over the other.
    const name = attempt === 0 ? profile.id : `${profile.id}-${attempt}`;
    const path = join(dir, `${name}.json`);
    try {
      await writeFileAtomic(path, text, { createNew: true });
      return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 99) throw error;
    }
  }
}

/** A name safe in file names: letters, digits, `.`, `_` and `-`. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80) || "run";
}
