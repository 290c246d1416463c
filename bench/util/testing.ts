/**
 * Test helpers: tests that need something this machine may lack (a GPU, a
 * tmpfs, a Python package) register as ignored with the reason in their name,
 * so the reason is printed, never silently passed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileSystemOf } from "./testing.ts";
 *
 * const type = await fileSystemOf(".");
 * assert.ok(type === undefined || type.length > 0);
 * ```
 *
 * @module
 */

import { cString, libc, O_CREAT, O_TRUNC, O_WRONLY, unwrap } from "../ffi/libc.ts";
import { readProcText } from "../ffi/procfs.ts";

/** Registers `fn` as a test, or as an ignored test named with `skipReason` when one is given. */
export function testUnless(
  skipReason: string | undefined,
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  if (skipReason === undefined) {
    Deno.test(name, fn);
  } else {
    console.log(`skipping "${name}": ${skipReason}`);
    Deno.test({ name: `${name} (skipped: ${skipReason})`, ignore: true, fn });
  }
}

/** The file system type holding `path`, from /proc/self/mounts (longest matching mount point). */
export async function fileSystemOf(path: string): Promise<string | undefined> {
  const mounts = readProcText("/proc/self/mounts") ?? "";
  const real = await Deno.realPath(path);
  let best = { point: "", type: undefined as string | undefined };
  for (const line of mounts.split("\n")) {
    const [, point, type] = line.split(" ");
    if (
      point && type &&
      (real === point || real.startsWith(point.endsWith("/") ? point : `${point}/`)) &&
      point.length > best.point.length
    ) {
      best = { point, type };
    }
  }
  return best.type;
}

/**
 * Compares `actual` with the snapshot file at `url`; with `UPDATE_SNAPSHOTS=1`
 * in the environment it writes the file instead.
 */
export async function assertSnapshot(actual: string, url: URL): Promise<void> {
  if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
    await Deno.writeTextFile(url, actual);
    return;
  }
  const expected = await Deno.readTextFile(url).catch(() => undefined);
  if (expected === undefined) {
    throw new Error(
      `No snapshot at ${url.pathname}: run the test with UPDATE_SNAPSHOTS=1 to write it`,
    );
  }
  if (actual !== expected) {
    throw new Error(
      `Output differs from the snapshot ${url.pathname} (UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n${expected}\n--- actual\n${actual}`,
    );
  }
}

/** Runs `fn` with a new temporary folder, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "weightbench-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A tmpfs folder: Deno wants `--allow-all` for /dev, so tests use it through libc. */
export const SHM = "/dev/shm";

/** Whether {@link SHM} is a tmpfs mount here. */
export const SHM_IS_TMPFS: boolean =
  readProcText("/proc/self/mounts")?.split("\n").some((line) =>
    line.split(" ")[1] === SHM && line.split(" ")[2] === "tmpfs"
  ) ?? false;

/** Writes `bytes` to `path` through libc (for folders Deno will not open without `--allow-all`). */
export function writeFileThroughLibc(path: string, bytes: Uint8Array<ArrayBuffer>): void {
  const fd = unwrap(
    `open "${path}"`,
    libc().open(cString(path), O_WRONLY | O_CREAT | O_TRUNC, 0o600),
  );
  try {
    if (Number(libc().writeBuffer(fd, bytes, BigInt(bytes.length))) !== bytes.length) {
      throw new Error(`Short write to "${path}"`);
    }
  } finally {
    libc().close(fd);
  }
}

/** Removes `path` through libc. */
export function removeThroughLibc(path: string): void {
  libc().unlink(cString(path));
}
