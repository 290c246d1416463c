/**
 * A case's throughput set against the machine limit that bounds it: cold
 * loads against the storage's best O_DIRECT read, warm loads against the page
 * cache on `host` or the pinned host-to-device link on a GPU. The limits
 * themselves are measured by the probe (`bench/probe/`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitFor } from "./limits.ts";
 *
 * const limits = {
 *   measuredAt: "2026-01-01T00:00:00Z",
 *   key: "host|254:0|ext4|/dev/vda|no-gpu",
 *   storage: { path: "/models", cold: { gbps: 2, blockSize: 16 << 20, depth: 4 }, warm: { gbps: 10 } },
 *   memoryCopyGBps: 20,
 *   devices: [],
 * };
 * assert.deepEqual(limitFor("cold", "host", 1.5, limits), { fraction: 0.75, limit: "storage (O_DIRECT)", limitGBps: 2 });
 * assert.equal(limitFor("warm", "host", 5, limits)?.limit, "page cache");
 * ```
 *
 * @module
 */

import type { CacheState } from "../bench/core/cache_state.ts";
import type { MachineLimits, OfLimit } from "./schema.ts";

/** The limit that bounds a case, and how close its throughput came; null when not measured. */
export function limitFor(
  cache: CacheState,
  target: string,
  throughputGBps: number,
  limits: MachineLimits | null | undefined,
): OfLimit | null {
  if (!limits) return null;
  let limit: string;
  let limitGBps: number | undefined;
  if (cache === "cold") {
    limit = "storage (O_DIRECT)";
    limitGBps = limits.storage.cold?.gbps;
  } else if (target === "host") {
    limit = "page cache";
    limitGBps = limits.storage.warm.gbps;
  } else {
    const device = limits.devices.find((d) => d.id === target);
    limit = `${target} pinned h2d`;
    limitGBps = device?.pinnedH2DGBps;
  }
  if (limitGBps === undefined || !(limitGBps > 0)) return null;
  return { fraction: throughputGBps / limitGBps, limit, limitGBps };
}
