/**
 * `gds`: GPUDirect Storage — cuFile reads each file's data straight into
 * device memory: the file and the destination buffer are registered with
 * cuFile, and `cuFileRead` moves `chunkSize` pieces with `depth` in flight.
 * With the `nvidia-fs` kernel module loaded and a supporting file system the
 * bytes go by DMA from NVMe to the GPU (true GDS); without it cuFile runs in
 * compatibility mode (POSIX reads through a bounce buffer). Each sample says
 * which (`details.cufileMode`), since the two differ several-fold.
 *
 * Needs `libcufile.so` and a target that exposes device addresses
 * ({@link Target.deviceAddress}: a CUDA target); elsewhere the case is
 * skipped with the reason.
 *
 * @module
 */

import { z } from "zod";
import { O_DIRECT } from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import type { WeightSet } from "../formats/weights.ts";
import { nativeFileSource } from "../io/sources.ts";
import type { DeviceBuffer, Target } from "../core/target.ts";
import { forEachChunk } from "../util/parallel.ts";
import {
  cufile,
  CufileBuffer,
  CufileHandle,
  cufileMode,
  CufileUnavailableError,
  openCufileDriver,
} from "../ffi/cufile.ts";
import { countedSource } from "../io/counted_source.ts";
import { type StrategyDefinition } from "./strategy.ts";
import { dataSpan, type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

/** Bytes per cuFileRead. @default 16 MiB */
export const GDS_CHUNK = 16 << 20;
/** cuFileReads in flight. @default 4 */
export const GDS_DEPTH = 4;

const options = z.strictObject({
  chunkSize: z.number().int().min(4096).max(1 << 30)
    .refine((n) => n % 4096 === 0, { message: "must be a multiple of 4096" })
    .default(GDS_CHUNK),
  depth: z.number().int().min(1).max(64).default(GDS_DEPTH),
});

/** Why cuFile cannot run here, or `undefined` when it can. */
export function cufileUnavailable(): string | undefined {
  try {
    cufile();
    return undefined;
  } catch (error) {
    if (error instanceof CufileUnavailableError) {
      return `libcufile.so not found (tried ${
        error.tried.join(", ")
      }): GPUDirect Storage needs NVIDIA's cuFile library`;
    }
    throw error;
  }
}

/** The `gds` strategy. */
export const gds: StrategyDefinition<z.infer<typeof options>> = {
  name: "gds",
  summary: "GPUDirect Storage: cuFile reads straight into device memory (true GDS or compat mode)",
  options,
  create: ({ chunkSize, depth }) => ({
    name: "gds",
    unsupported(_weights: WeightSet, target: Target): string | undefined {
      return cufileUnavailable() ??
        (target.deviceAddress === undefined
          ? `GPUDirect Storage reads into GPU memory, which target "${target.id}" does not expose (use a cuda:N target)`
          : undefined);
    },
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, target, recorder } = context;
      if (target.deviceAddress === undefined) {
        throw new Error(`Target "${target.id}" has no device addresses`);
      }
      recorder.time("open", () => openCufileDriver(), "cuFile driver");
      const mode = cufileMode();
      const placements: Placement[] = [];
      const buffers: DeviceBuffer[] = [];
      let bytesRead = 0;
      for (const { path, format } of weights.files) {
        let file: NativeFile;
        try {
          file = recorder.time("open", () => NativeFile.open(path, O_DIRECT), path);
        } catch {
          file = recorder.time("open", () => NativeFile.open(path), path);
        }
        try {
          const plain = NativeFile.open(path);
          let index;
          try {
            const source = countedSource(nativeFileSource(plain));
            index = recorder.time("parse", () => format.parse(source), path);
            bytesRead += source.bytesRead;
          } finally {
            plain.close();
          }
          const { begin, end } = dataSpan(index.tensors);
          const length = Math.max(end - begin, 1);
          const buffer = recorder.time("alloc", () => target.allocate(length), path);
          buffers.push(buffer);
          const device = Deno.UnsafePointer.create(target.deviceAddress(buffer, 0))!;
          using handle = recorder.time("open", () => new CufileHandle(file.fd), path);
          using _registered = recorder.time("alloc", () => new CufileBuffer(device, length), path);
          await recorder.timeAsync("read", async () => {
            await forEachChunk(end - begin, chunkSize, depth, async (offset, size) => {
              const got = await handle.read(device, size, begin + offset, offset);
              if (got < size) {
                throw new Error(`Cannot read "${path}": file ended at ${begin + offset + got}`);
              }
            });
          }, path);
          bytesRead += end - begin;
          await recorder.timeAsync(target.transferPhase, () => target.synchronize(), path);
          for (const tensor of index.tensors) {
            placements.push({ file: path, tensor, buffer, offset: tensor.offset - begin });
          }
        } finally {
          recorder.time("free", () => file.close(), path);
        }
      }
      return {
        placements,
        buffers,
        bytesRead,
        details: {
          cufileMode: mode,
          cufileModeNote: mode === "gds"
            ? "true GPUDirect Storage: nvidia-fs is loaded"
            : "compatibility mode: no nvidia-fs kernel module, cuFile reads through host memory",
        },
      };
    },
  }),
};
