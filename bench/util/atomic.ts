/**
 * Writes a file so that readers see either the old contents or the whole new
 * contents, never a part: write a temporary file beside it, flush it to disk,
 * then rename it over the target.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./atomic.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/result.json`, '{"ok":true}');
 * assert.equal(await Deno.readTextFile(`${dir}/result.json`), '{"ok":true}');
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["result.json"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Refuse to replace an existing file. @default false */
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
    if (options.createNew && (await exists(path))) {
      throw new Deno.errors.AlreadyExists(`"${path}" already exists`);
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
