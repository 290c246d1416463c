/**
 * The cache of machine limits: measured once per machine and storage, kept
 * with the time they were measured under a key naming the host, the storage
 * and the GPUs, and measured again when stale or when the machine changes.
 * `profiles/limits.ts` rates each case against them.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { type MachineLimits, machineLimitsSchema } from "../../profiles/schema.ts";
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
    const parsed = machineLimitsSchema.safeParse(
      JSON.parse(await Deno.readTextFile(limitsPath(key, dir))),
    );
    if (!parsed.success) return undefined;
    const limits = parsed.data;
    if (limits.key !== key || !(now - Date.parse(limits.measuredAt) < LIMITS_MAX_AGE_MS)) {
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
