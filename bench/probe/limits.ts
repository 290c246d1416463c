/**
 * Machine limits: measured once per machine and storage, cached with the
 * time they were measured, embedded in every profile, and used to rate each
 * case's throughput against the limit that bounds it — cold: the storage;
 * warm: the page cache (or, on a GPU target, the host-to-device link).
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

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import type { MachineLimits, OfLimit } from "../../profiles/profile.ts";
import type { CacheState } from "../core/cache_state.ts";
import { storageOf } from "./environment.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { optionalEnv } from "../util/env.ts";

/** Where measured limits are cached (git-ignored); `WEIGHTBENCH_LIMITS` names another folder. */
export const LIMITS_DIR = optionalEnv("WEIGHTBENCH_LIMITS") ??
  fileURLToPath(new URL("../../profiles/limits/", import.meta.url));
/** Cached limits older than this are measured again. @default 30 days */
export const LIMITS_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** The cache key of a machine and the storage holding `path`. */
export async function limitsKey(path: string, gpus: readonly string[] = []): Promise<string> {
  const storage = await storageOf(path);
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch { /* not permitted: the storage still tells machines apart */ }
  return [host, storage.device, storage.fileSystem, storage.source, gpus.join(",") || "no-gpu"]
    .join("|");
}

/** The cache file of `key`. */
export function limitsPath(key: string, dir = LIMITS_DIR): string {
  const slug = key.split("|").slice(0, 2).join("-").replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 60);
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 12);
  return join(dir, `${slug}-${hash}.json`);
}

/** The cached limits for `key`, unless missing, unreadable, of another key, or too old. */
export async function readCachedLimits(
  key: string,
  dir = LIMITS_DIR,
  now = Date.now(),
): Promise<MachineLimits | undefined> {
  try {
    const limits = JSON.parse(await Deno.readTextFile(limitsPath(key, dir))) as MachineLimits;
    if (limits.key !== key || !(now - Date.parse(limits.measuredAt) < LIMITS_MAX_AGE_MS)) {
      return undefined;
    }
    if (
      typeof limits.storage?.warm?.gbps !== "number" || typeof limits.memoryCopyGBps !== "number"
    ) {
      return undefined;
    }
    return limits;
  } catch {
    return undefined;
  }
}

/** Caches `limits` atomically under its key; returns the file. */
export async function writeCachedLimits(limits: MachineLimits, dir = LIMITS_DIR): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = limitsPath(limits.key, dir);
  await writeFileAtomic(path, `${JSON.stringify(limits, null, 2)}\n`);
  return path;
}

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
