/**
 * The GPU side of dequantization as the strategies see it: which kernel of
 * `kernels/dequant.ptx` handles each type, how to launch it, and the small
 * interface a target implements to run kernels ({@link KernelLauncher}). A
 * CUDA target provides it by loading the PTX with `cuModuleLoadData` and
 * launching with `cuLaunchKernel` on the stream its copies use; the host
 * target does not, so the GPU path of the `quantized` strategy is skipped
 * there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEQUANT_KERNELS, launchGeometry } from "./kernels.ts";
 *
 * assert.equal(DEQUANT_KERNELS.Q4_K.name, "dequant_q4_k_f16");
 * assert.deepEqual(launchGeometry("Q8_0", 1000), { threads: 32000, grid: [125, 1, 1], block: [256, 1, 1] });
 * ```
 *
 * @module
 */

import type { DeviceBuffer, Target } from "../core/target.ts";
import type { DequantType } from "./reference.ts";

/** The committed PTX of the kernels. */
export const DEQUANT_PTX: URL = new URL("../../kernels/dequant.ptx", import.meta.url);
/** Threads per block of every dequantization launch. */
export const KERNEL_BLOCK_THREADS = 256;

/** Each type's kernel and the threads it needs per quantized block. */
export const DEQUANT_KERNELS: Readonly<
  Record<DequantType, { readonly name: string; readonly threadsPerBlock: number }>
> = Object.freeze({
  Q8_0: { name: "dequant_q8_0_f16", threadsPerBlock: 32 },
  Q4_0: { name: "dequant_q4_0_f16", threadsPerBlock: 16 },
  Q4_K: { name: "dequant_q4_k_f16", threadsPerBlock: 128 },
});

/** How to launch the kernel of `type` over `blocks` quantized blocks; its third argument is `threads`. */
export function launchGeometry(type: DequantType, blocks: number): {
  threads: number;
  grid: [number, number, number];
  block: [number, number, number];
} {
  const threads = blocks * DEQUANT_KERNELS[type].threadsPerBlock;
  return {
    threads,
    grid: [Math.max(1, Math.ceil(threads / KERNEL_BLOCK_THREADS)), 1, 1],
    block: [KERNEL_BLOCK_THREADS, 1, 1],
  };
}

/** The PTX text. */
export function readDequantPtx(): Promise<string> {
  return Deno.readTextFile(DEQUANT_PTX);
}

/** One kernel parameter: a device address or a 64-bit count. */
export type KernelParam =
  | { readonly kind: "address"; readonly buffer: DeviceBuffer; readonly offset: number }
  | { readonly kind: "u64"; readonly value: number };

/** A loaded module (`CUmodule`); `close()` unloads it and is safe to call twice. */
export interface KernelModule extends Disposable {
  close(): void;
}

/** What a target offers to run kernels: a CUDA target implements it, the host target does not. */
export interface KernelLauncher {
  /** Loads PTX text (`cuModuleLoadData`), for the target's device and context. */
  loadModule(ptx: string): KernelModule;
  /**
   * Launches kernel `name` of `module` (`cuLaunchKernel`) on the stream the
   * target's copies use, so it runs after every copy issued before it; the
   * promise settles when the kernel has finished (an event after it), so a
   * span around it is the kernel's time.
   */
  launch(
    module: KernelModule,
    name: string,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    params: readonly KernelParam[],
  ): Promise<void>;
}

/** A target that can run kernels. */
export interface KernelTarget extends Target {
  readonly kernels: KernelLauncher;
}

/** The target's kernel launcher, or `undefined` when it has none (the host target). */
export function kernelsOf(target: Target): KernelLauncher | undefined {
  const kernels = (target as Partial<KernelTarget>).kernels;
  return kernels !== undefined && typeof kernels.launch === "function" ? kernels : undefined;
}
