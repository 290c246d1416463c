/**
 * Free space, checked before a write that needs it: staging a copy, generating
 * a fixture. The figure is what an unprivileged user may still write
 * (`statvfs`'s `f_bavail × f_frsize`) on the file system that holds the path,
 * or its nearest existing parent folder.
 *
 * Reading it needs `--allow-sys=statfs`; without that permission (or on a file
 * system that cannot say) the free space is unknown and the check passes: the
 * write itself still fails cleanly on a full disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EnvironmentError } from "./errors.ts";
 * import { freeSpace, requireFreeSpace } from "./disk.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const free = await freeSpace(`${dir}/not/yet/made`);
 * assert.ok(free === undefined || free >= 0);
 * await requireFreeSpace(dir, 1, "a test file"); // one byte fits
 * if (free !== undefined) {
 *   await assert.rejects(
 *     requireFreeSpace(dir, free + 2 ** 50, "a petabyte"),
 *     (e) => e instanceof EnvironmentError && /Not enough space for a petabyte in/.test(e.message),
 *   );
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { EnvironmentError } from "./errors.ts";
import { formatBytes } from "./size.ts";

/**
 * Bytes that may still be written on the file system holding `path` (or its
 * nearest existing parent), or `undefined` when that cannot be known here.
 */
export async function freeSpace(path: string): Promise<number | undefined> {
  if (Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state !== "granted") {
    return undefined;
  }
  for (let at = resolve(path);; at = dirname(at)) {
    try {
      const info = await statfs(at);
      const free = Number(info.bavail) * Number(info.bsize);
      return Number.isFinite(free) && free >= 0 ? free : undefined;
    } catch {
      if (dirname(at) === at) return undefined;
    }
  }
}

/**
 * Refuses up front, with the numbers, when `neededBytes` will not fit on the
 * file system holding `path`: an {@link EnvironmentError} (exit 3) naming
 * `what`, the folder, the bytes needed and the bytes free.
 */
export async function requireFreeSpace(
  path: string,
  neededBytes: number,
  what: string,
): Promise<void> {
  if (!(neededBytes > 0)) return;
  const free = await freeSpace(path);
  if (free === undefined || free >= neededBytes) return;
  throw new EnvironmentError(
    `Not enough space for ${what} in "${path}": ${formatBytes(neededBytes)} needed, ${
      formatBytes(free)
    } free`,
  );
}
