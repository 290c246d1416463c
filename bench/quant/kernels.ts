/**
 * The GPU side of dequantization as the strategies see it: which kernel of
 * `kernels/dequant.ptx` handles each type and how to launch it. A target runs
 * them through its `kernels` member (`KernelLauncher`, in
 * `bench/core/target.ts`): a CUDA target loads the PTX with
 * `cuModuleLoadData` and launches with `cuLaunchKernel` on the stream its
 * copies use; the host target has none, so the GPU path of the `quantized`
 * strategy is skipped there.
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
