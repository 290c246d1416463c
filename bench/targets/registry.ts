/**
 * Opens targets by the ids users write, and decides what `auto` means on
 * this machine: `cuda:0` when the CUDA driver loads and has a device, else
 * `host`, with the reason in words either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTarget, openTarget, resolveAutoTarget } from "./registry.ts";
 *
 * checkTarget("host");
 * assert.throws(() => checkTarget("cuda:99"), /Target "cuda:99" (is not available|does not exist)/);
 * using host = openTarget("host");
 * assert.equal(host.id, "host");
 * const auto = resolveAutoTarget();
 * assert.ok(auto.id === "host" || auto.id === "cuda:0");
 * assert.ok(auto.reason.length > 0);
 * assert.throws(() => openTarget("tpu"), /Unknown target "tpu"/);
 * ```
 *
 * @module
 */

import { InputError } from "../util/errors.ts";
import { checkCudaTarget, type CudaAvailability, cudaAvailability, CudaTarget } from "./cuda.ts";
import { HostTarget } from "./host.ts";
import type { Target } from "../core/target.ts";

export { CUDA_DRIVER_LIBRARY } from "./cuda.ts";

/**
 * Opens the target `id`; throws {@link InputError} (exit 2) for one this
 * machine cannot open: an unknown id, no CUDA driver, a driver that fails to
 * initialise (its CUDA error named), a device ordinal out of range.
 */
export function openTarget(id: string): Target {
  if (id === "host") return new HostTarget();
  const cuda = /^cuda:(\d+)$/.exec(id);
  if (cuda) return CudaTarget.open(Number(cuda[1]));
  throw new InputError(`Unknown target "${id}" (expected host or cuda:N)`);
}

/**
 * Checks that `id` names a target this machine can open, without opening it
 * (a plan, a dry run): `host`, `auto`, or `cuda:N` with a driver that has
 * device N. Throws {@link InputError} (exit 2) with one line otherwise.
 */
export function checkTarget(id: string): void {
  if (id === "host" || id === "auto") return;
  const cuda = /^cuda:(\d+)$/.exec(id);
  if (cuda) {
    checkCudaTarget(Number(cuda[1]));
    return;
  }
  throw new InputError(`Unknown target "${id}" (expected host or cuda:N)`);
}

/** What `auto` resolves to, and why, in words for the user. */
export function resolveAutoTarget(
  availability: () => CudaAvailability = cudaAvailability,
): { id: string; reason: string } {
  const cuda = availability();
  if (!cuda.available) return { id: "host", reason: cuda.reason };
  const version = `${Math.floor(cuda.version / 1000)}.${(cuda.version % 1000) / 10}`;
  const count = cuda.devices.length;
  return {
    id: "cuda:0",
    reason: `CUDA driver ${version}, ${count} device${count === 1 ? "" : "s"}: cuda:0 is ${
      cuda.devices[0]!.name
    }`,
  };
}
