/**
 * Reads and writes small `/proc` files through libc. Deno asks for
 * `--allow-all` before it reads `/proc/self/*` (and `/proc/mounts`, a link
 * into it); weightbench already holds `--allow-ffi`, so it reads them itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readProcText } from "./procfs.ts";
 *
 * const status = readProcText("/proc/self/status");
 * assert.ok(status === undefined || status.includes("VmRSS"));
 * ```
 *
 * @module
 */

import { cString, libc, O_CLOEXEC, O_RDONLY, O_WRONLY } from "./libc.ts";

/** Largest `/proc` file read. @default 4 MiB */
const MAX_PROC_BYTES = 4 << 20;
const CHUNK = 65536;
let scratch = new Uint8Array(CHUNK);

/** The text of a `/proc` (or `/sys`) file, or `undefined` when it cannot be opened. */
export function readProcText(path: string): string | undefined {
  const fd = libc().open(cString(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    let length = 0;
    while (length < MAX_PROC_BYTES) {
      if (scratch.length - length < CHUNK) {
        const grown = new Uint8Array(scratch.length * 2);
        grown.set(scratch.subarray(0, length));
        scratch = grown;
      }
      const got = Number(libc().readBuffer(fd, scratch.subarray(length), BigInt(CHUNK)));
      if (got < 0) return undefined;
      if (got === 0) break;
      length += got;
    }
    return new TextDecoder().decode(scratch.subarray(0, length));
  } finally {
    libc().close(fd);
  }
}

/** Writes `text` to a `/proc` file; false when it cannot. */
export function writeProcText(path: string, text: string): boolean {
  const fd = libc().open(cString(path), O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const bytes = new TextEncoder().encode(text);
    return Number(libc().writeBuffer(fd, bytes, BigInt(bytes.length))) === bytes.length;
  } finally {
    libc().close(fd);
  }
}
