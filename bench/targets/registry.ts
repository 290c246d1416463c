/**
 * Opens targets by the ids users write, and decides what `auto` means on
 * this machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openTarget, resolveAutoTarget } from "./registry.ts";
 *
 * using host = openTarget("host");
 * assert.equal(host.id, "host");
 * assert.ok(resolveAutoTarget().reason.length > 0);
 * assert.throws(() => openTarget("tpu"), /Unknown target "tpu"/);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { HostTarget } from "./host.ts";
import type { Target } from "./target.ts";

/** The CUDA driver library a GPU target would load. */
export const CUDA_DRIVER_LIBRARY = "libcuda.so.1";

/** Opens the target `id`; throws {@link InputError} for one this build cannot open. */
export function openTarget(id: string): Target {
  if (id === "host") return new HostTarget();
  if (/^cuda:\d+$/.test(id)) {
    throw new InputError(
      `Target "${id}" is not available: this build has no CUDA target yet (use host)`,
    );
  }
  throw new InputError(`Unknown target "${id}" (expected host or cuda:N)`);
}

/** What `auto` resolves to, and why, in words for the user. */
export function resolveAutoTarget(): { id: string; reason: string } {
  try {
    Deno.dlopen(CUDA_DRIVER_LIBRARY, {}).close();
  } catch {
    return { id: "host", reason: `no CUDA driver (${CUDA_DRIVER_LIBRARY} not found)` };
  }
  return {
    id: "host",
    reason: `a CUDA driver is present, but this build has no CUDA target yet`,
  };
}
