/**
 * The fingerprint of the machine a profile was measured on: what decides its
 * load times. Two profiles with the same fingerprint come from the same kind
 * of machine, and their raw times compare; a baseline is kept per
 * fingerprint, as `profiles/baselines/<slug>.json`.
 *
 * The fingerprint holds the GPUs (model and driver, from the profile's CUDA
 * targets or its environment, when present), the CPU model and core count,
 * the memory (in whole GiB), and each storage the weights came from (file
 * system, device model or mount source, rotational). It leaves out the host
 * name, so identical runners share one baseline, and what changes without
 * changing the machine (kernel, Deno, the commit): those differences are
 * reported as notes by {@linkcode environmentNotes}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fingerprintOf } from "./fingerprint.ts";
 * import { syntheticProfile } from "../../profiles/_synthetic.ts";
 *
 * const fp = fingerprintOf(syntheticProfile());
 * assert.match(fp.slug, /^test-ext4-[0-9a-f]{12}$/);
 * assert.equal(fp.storage[0], "ext4 on /dev/vda (ssd)");
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Profile } from "../../profiles/schema.ts";
import { safeName } from "../../profiles/files.ts";

/** What identifies a machine, and a file-name slug for it. */
export interface Fingerprint {
  /** `<gpu or cpu>-<file system>-<hash>`: readable, and unique through the hash. */
  readonly slug: string;
  /** The hash over every field below (SHA-256, first 12 hex digits). */
  readonly hash: string;
  /** `NVIDIA H100 80GB HBM3 (driver 550.54.15)`, one per GPU; empty without one. */
  readonly gpus: readonly string[];
  /** `AMD EPYC 9654 96-Core Processor × 16`. */
  readonly cpu: string;
  readonly memoryGiB: number;
  /** `ext4 on Samsung SSD 990 PRO (ssd)`, one per storage measured. */
  readonly storage: readonly string[];
}

/** The fingerprint of the machine that measured `profile`. */
export function fingerprintOf(profile: Profile): Fingerprint {
  const env = profile.environment;
  const gpus = gpusOf(profile);
  const cpu = `${env.cpu.model} × ${env.cpu.cores}`;
  const memoryGiB = Math.round(env.memoryBytes / 1024 ** 3);
  const storage = [
    ...new Set(env.storage.map((s) => {
      const kind = s.rotational === null ? "" : s.rotational ? " (hdd)" : " (ssd)";
      return `${s.fileSystem} on ${s.deviceModel ?? s.source}${kind}`;
    })),
  ].sort();
  const hash = createHash("sha256")
    .update(JSON.stringify({ gpus, cpu, memoryGiB, storage }))
    .digest("hex")
    .slice(0, 12);
  const lead = gpus.length > 0 ? gpus[0]!.replace(/ \(driver .*\)$/, "") : env.cpu.model;
  const fileSystem = env.storage[0]?.fileSystem ?? "unknown";
  const slug = `${safeName(shorten(lead)).toLowerCase()}-${safeName(fileSystem)}-${hash}`;
  return { slug, hash, gpus, cpu, memoryGiB, storage };
}

/** The fields of two fingerprints that differ, as `field: a → b` lines; empty when they match. */
export function fingerprintDifferences(a: Fingerprint, b: Fingerprint): string[] {
  const lines: string[] = [];
  const field = (name: string, x: unknown, y: unknown) => {
    const left = Array.isArray(x) ? x.join(", ") || "none" : String(x);
    const right = Array.isArray(y) ? y.join(", ") || "none" : String(y);
    if (left !== right) lines.push(`${name}: ${left} → ${right}`);
  };
  field("GPU", a.gpus, b.gpus);
  field("CPU", a.cpu, b.cpu);
  field("memory", `${a.memoryGiB} GiB`, `${b.memoryGiB} GiB`);
  field("storage", a.storage, b.storage);
  return lines;
}

/** What differs between two environments outside the fingerprint (host, kernel, Deno, commit). */
export function environmentNotes(baseline: Profile, current: Profile): string[] {
  const a = baseline.environment;
  const b = current.environment;
  const notes: string[] = [];
  if (a.host !== b.host) notes.push(`host: ${a.host} → ${b.host}`);
  if (a.kernel !== b.kernel) notes.push(`kernel: ${a.kernel} → ${b.kernel}`);
  if (a.deno.deno !== b.deno.deno) notes.push(`Deno: ${a.deno.deno} → ${b.deno.deno}`);
  if (a.transparentHugePages !== b.transparentHugePages) {
    notes.push(`transparent huge pages: ${a.transparentHugePages} → ${b.transparentHugePages}`);
  }
  return notes;
}

/** GPU names with their drivers, from the CUDA targets a profile used or its environment. */
function gpusOf(profile: Profile): string[] {
  const found: string[] = [];
  const describe = (info: Readonly<Record<string, unknown>>) => {
    const name = firstString(info, ["name", "model", "deviceName", "gpu"]);
    if (name === undefined) return;
    const driver = firstString(info, ["driver", "driverVersion"]);
    found.push(driver === undefined ? name : `${name} (driver ${driver})`);
  };
  for (const [id, info] of Object.entries(profile.targets ?? {})) {
    if (id.startsWith("cuda") || info.kind === "cuda") describe(info);
  }
  // An environment that records its GPUs (a later schema) is read too, without depending on it.
  const listed = (profile.environment as unknown as { gpus?: unknown }).gpus;
  if (Array.isArray(listed)) {
    for (const gpu of listed) {
      if (gpu !== null && typeof gpu === "object") describe(gpu as Record<string, unknown>);
    }
  }
  return [...new Set(found)].sort();
}

function firstString(info: Readonly<Record<string, unknown>>, keys: string[]): string | undefined {
  for (const key of keys) {
    const value = info[key];
    if (typeof value === "string" && value.length > 0) return value;
    if (typeof value === "number") return String(value);
  }
  return undefined;
}

/** `NVIDIA H100 80GB HBM3` → `nvidia-h100-80gb-hbm3`; long CPU names lose their frequency tail. */
function shorten(name: string): string {
  return name.replace(/\(R\)|\(TM\)|CPU|Processor|@.*$/gi, " ").trim().split(/\s+/).slice(0, 5)
    .join("-");
}
