/**
 * The machine a profile was measured on: host, CPU, memory, kernel, the file
 * system and block device holding the weights, Deno, and the commit of the
 * tool. Numbers from different machines only compare with this beside them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectEnvironment, storageOf } from "./environment.ts";
 *
 * const environment = await collectEnvironment([Deno.cwd()]);
 * assert.ok(environment.cpu.cores >= 1);
 * assert.equal(environment.storage.length, 1);
 * assert.ok((await storageOf(Deno.cwd())).fileSystem.length > 0);
 * ```
 *
 * @module
 */

import { readProcText } from "../ffi/procfs.ts";
import { gpuInventory } from "../gpu/inventory.ts";
import type { Environment, Storage } from "../../profiles/schema.ts";

const PROJECT_ROOT = new URL("../../", import.meta.url);

/** Collects the environment, with the storage of each of `paths`. */
export async function collectEnvironment(paths: readonly string[]): Promise<Environment> {
  const storage: Storage[] = [];
  for (const path of paths) storage.push(await storageOf(path));
  return {
    host: tryOr(() => Deno.hostname(), "unknown"),
    os: Deno.build.os,
    arch: Deno.build.arch,
    kernel: tryOr(() => Deno.osRelease(), "unknown"),
    cpu: { model: cpuModel(), cores: navigator.hardwareConcurrency || 1 },
    memoryBytes: tryOr(() => Deno.systemMemoryInfo().total, 0),
    transparentHugePages: /\[(\w+)\]/.exec(
      readProcText("/sys/kernel/mm/transparent_hugepage/enabled") ?? "",
    )?.[1] ?? null,
    deno: { ...Deno.version },
    git: await gitState(),
    storage,
    ...(await gpus()),
  };
}

/** The file system and block device holding `path`. */
export async function storageOf(path: string): Promise<Storage> {
  const real = await Deno.realPath(path);
  const info = await Deno.stat(real);
  const dev = info.dev;
  const major = Number((BigInt(dev) >> 8n) & 0xfffn | (BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn | (BigInt(dev) >> 12n) & ~0xffn);
  const device = `${major}:${minor}`;
  const mount = findMount(readProcText("/proc/self/mountinfo") ?? "", device, real);
  const block = `/sys/dev/block/${device}`;
  const model = readProcText(`${block}/device/model`) ?? readProcText(`${block}/../device/model`);
  const rotational = readProcText(`${block}/queue/rotational`) ??
    readProcText(`${block}/../queue/rotational`);
  return {
    path: real,
    fileSystem: mount?.fileSystem ?? "unknown",
    mountPoint: mount?.mountPoint ?? "unknown",
    source: mount?.source ?? "unknown",
    device,
    deviceModel: model?.trim() || null,
    rotational: rotational === undefined ? null : rotational.trim() === "1",
  };
}

/** The mountinfo entry for `device` whose mount point is the longest prefix of `path`. */
export function findMount(
  mountinfo: string,
  device: string,
  path: string,
): { mountPoint: string; fileSystem: string; source: string } | undefined {
  let best: { mountPoint: string; fileSystem: string; source: string } | undefined;
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-");
    if (separator < 0 || fields[2] !== device) continue;
    const mountPoint = unescapeMount(fields[4] ?? "");
    const inside = path === mountPoint || mountPoint === "/" ||
      path.startsWith(`${mountPoint}/`);
    if (!inside || (best && best.mountPoint.length >= mountPoint.length)) continue;
    best = {
      mountPoint,
      fileSystem: fields[separator + 1] ?? "unknown",
      source: unescapeMount(fields[separator + 2] ?? "unknown"),
    };
  }
  return best;
}

function unescapeMount(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

function cpuModel(): string {
  const cpuinfo = readProcText("/proc/cpuinfo") ?? "";
  const match = /^(?:model name|Model|Hardware|cpu model)\s*:\s*(.+)$/m.exec(cpuinfo);
  return match?.[1]?.trim() ?? "unknown";
}

async function gitState(): Promise<Environment["git"]> {
  const run = async (args: string[]) => {
    const output = await new Deno.Command("git", {
      args,
      cwd: PROJECT_ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  };
  try {
    const commit = await run(["rev-parse", "HEAD"]);
    if (commit === undefined) return { commit: null, dirty: null };
    const status = await run(["status", "--porcelain", "--untracked-files=no"]);
    return { commit, dirty: status === undefined ? null : status.length > 0 };
  } catch {
    return { commit: null, dirty: null };
  }
}

async function gpus(): Promise<Pick<Environment, "gpus" | "gpuInventory">> {
  const inventory = await gpuInventory();
  return {
    gpus: inventory.gpus,
    gpuInventory: inventory.reason === undefined
      ? { source: inventory.source }
      : { source: inventory.source, reason: inventory.reason },
  };
}

function tryOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
