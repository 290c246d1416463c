/**
 * Small questions about the file system that several layers ask.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./fs.ts";
 *
 * assert.equal(await exists("/"), true);
 * assert.equal(await exists("/no/such/path/here"), false);
 * ```
 *
 * @module
 */

/** Whether anything — a file, a folder, a link even when broken — is at `path`; false when it cannot be told. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
