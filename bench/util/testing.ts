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
