/**
 * The GPUs of this machine, for every profile's environment: from NVML where
 * it loads, else from `nvidia-smi` (which needs `--allow-run=nvidia-smi`),
 * else none, with the reason. Fields a source cannot give are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpuInventory } from "./inventory.ts";
 *
 * const inventory = await gpuInventory();
 * assert.ok(inventory.source === "none" ? inventory.reason!.length > 0 : inventory.gpus.length > 0);
 * ```
 *
 * @module
 */

import { Nvml } from "../ffi/nvml.ts";
import { queryGpus } from "./nvidia_smi.ts";

/** One GPU in a profile's environment. */
export interface GpuInfo {
  readonly index: number;
  readonly name: string;
  readonly uuid?: string | undefined;
  readonly pciBusId?: string | undefined;
  /** The display driver's version: `580.159.04`. */
  readonly driver?: string | undefined;
  readonly memoryTotalBytes?: number | undefined;
  readonly pcieLinkGeneration?: number | undefined;
  readonly pcieLinkWidth?: number | undefined;
  readonly pcieLinkMaxGeneration?: number | undefined;
  readonly pcieLinkMaxWidth?: number | undefined;
}

/** The inventory and where it came from. */
export interface GpuInventory {
  readonly gpus: readonly GpuInfo[];
  readonly source: "nvml" | "nvidia-smi" | "none";
  /** Why the inventory is empty or came from the fallback. */
  readonly reason?: string;
}

/** Options of {@link gpuInventory}. */
export interface InventoryOptions {
  /** NVML paths to try in place of the usual ones. */
  readonly nvmlPaths?: readonly string[];
  /** Ask nvidia-smi where NVML fails. @default true */
  readonly nvidiaSmi?: boolean;
}

/** Lists the GPUs; never throws. */
export async function gpuInventory(options: InventoryOptions = {}): Promise<GpuInventory> {
  let nvmlReason: string;
  try {
    using nvml = Nvml.open(options.nvmlPaths ? { paths: options.nvmlPaths } : {});
    const driver = nvml.driverVersion();
    const gpus: GpuInfo[] = [];
    for (let index = 0; index < nvml.deviceCount(); index++) {
      const device = nvml.device(index);
      const link = device.pcieLink();
      gpus.push(compact({
        index,
        name: device.name(),
        uuid: device.uuid(),
        driver,
        memoryTotalBytes: device.memory().total,
        pcieLinkGeneration: link.generation,
        pcieLinkWidth: link.width,
        pcieLinkMaxGeneration: link.maxGeneration,
        pcieLinkMaxWidth: link.maxWidth,
      }));
    }
    return { gpus, source: "nvml" };
  } catch (error) {
    nvmlReason = (error as Error).message;
  }
  if (options.nvidiaSmi === false) return { gpus: [], source: "none", reason: nvmlReason };
  const { state } = await Deno.permissions.query({ name: "run", command: "nvidia-smi" });
  if (state !== "granted") {
    return { gpus: [], source: "none", reason: `${nvmlReason}; nvidia-smi not permitted` };
  }
  const smi = await queryGpus();
  if ("reason" in smi) return { gpus: [], source: "none", reason: `${nvmlReason}; ${smi.reason}` };
  return {
    gpus: smi.gpus.map((gpu, i) =>
      compact({
        index: gpu.index ?? i,
        name: gpu.name ?? "unknown",
        uuid: gpu.uuid,
        pciBusId: gpu.pciBusId,
        driver: gpu.driverVersion,
        memoryTotalBytes: gpu.memoryTotalBytes,
        pcieLinkGeneration: gpu.pcieGeneration,
        pcieLinkWidth: gpu.pcieWidth,
        pcieLinkMaxGeneration: gpu.pcieGenerationMax,
        pcieLinkMaxWidth: gpu.pcieWidthMax,
      })
    ),
    source: "nvidia-smi",
    reason: nvmlReason,
  };
}

/** `info` without its null and undefined fields. */
function compact(info: { index: number; name: string } & Record<string, unknown>): GpuInfo {
  return Object.fromEntries(
    Object.entries(info).filter(([, v]) => v !== null && v !== undefined),
  ) as unknown as GpuInfo;
}
