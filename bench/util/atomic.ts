/**
 * Writes a file so that readers see either the old contents or the whole new
 * contents, never a part: write a temporary file beside it, flush it to disk,
 * then rename it over the target. With `createNew` the new name is taken
 * exclusively (a hard link of the finished temporary file, which fails when
 * the name exists), so of several writers of one name exactly one wins and
 * the others get `AlreadyExists`: nothing is ever renamed over another's file.
 *
 * A full disk is one {@link EnvironmentError} naming the path and the bytes
 * it needed; on any failure nothing is left behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./atomic.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/result.json`, '{"ok":true}');
 * assert.equal(await Deno.readTextFile(`${dir}/result.json`), '{"ok":true}');
 * await assert.rejects(
 *   writeFileAtomic(`${dir}/result.json`, "{}", { createNew: true }),
 *   Deno.errors.AlreadyExists,
 * );
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["result.json"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { isNoSpace, noSpaceError } from "./errors.ts";

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Refuse to replace an existing file (`AlreadyExists`), even one created a moment before. @default false */
  createNew?: boolean;
}

/** Writes `data` to `path` atomically; on failure nothing is left behind. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    {
      using file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o644 });
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    }
    if (options.createNew) await claimName(temporary, path);
    else await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    if (isNoSpace(error)) throw noSpaceError(path, bytes.length, error);
    throw error;
  }
}

/**
 * Gives the finished file `temporary` the name `path` only if no file has it:
 * a hard link fails atomically on an existing name. Where hard links are
 * refused (some network and FUSE file systems), the name is reserved with an
 * exclusive create first, then replaced by the rename.
 */
async function claimName(temporary: string, path: string): Promise<void> {
  try {
    await Deno.link(temporary, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists || isNoSpace(error)) throw error;
    (await Deno.open(path, { write: true, createNew: true, mode: 0o644 })).close();
    await Deno.rename(temporary, path);
    return;
  }
  await Deno.remove(temporary);
}
