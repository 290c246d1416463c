/**
 * `gds`: GPUDirect Storage — cuFile reads each file's data straight into
 * device memory: the file and the destination buffer are registered with
 * cuFile, and `cuFileRead` moves `chunkSize` pieces with `depth` in flight,
 * each on a Worker that pushes the target's CUDA context around the call (as
 * kvikio does), so cuFile never runs on a thread without it.
 *
 * Every read is 4 KiB aligned in the file, in length and in device memory:
 * the buffer starts at the data span's first byte rounded down to 4 KiB and
 * ends at its last rounded up, so the descriptor opened with `O_DIRECT` is
 * never asked for an unaligned range (a few KiB of the header are read again;
 * the count of bytes read is the data span's, as `direct` counts it).
 *
 * With the `nvidia-fs` kernel module loaded the bytes go by DMA from NVMe to
 * the GPU (true GDS). Without it cuFile can only run in compatibility mode
 * (POSIX reads through a bounce buffer), which is not GPUDirect Storage: such
 * a case is skipped, saying so, unless `allowCompat` asks to measure it. Each
 * sample says which mode ran (`details.cufileMode`).
 *
 * Needs `libcufile.so` whose driver opens, and a target that exposes device
 * addresses and its context (a CUDA target); elsewhere the case is skipped
 * with the reason — cuFile's own, where its driver would not open.
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
import type { CudaContext } from "../ffi/cuda.ts";
import {
  Cufile,
  cufile,
  CufileBuffer,
  CufileError,
  CufileHandle,
  cufileMode,
  CufileReader,
  CufileUnavailableError,
} from "../ffi/cufile.ts";
import { countedSource } from "../io/counted_source.ts";
import { type StrategyDefinition } from "./strategy.ts";
import { dataSpan, type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

/** Bytes per cuFileRead. @default 16 MiB */
export const GDS_CHUNK = 16 << 20;
/** cuFileReads in flight. @default 4 */
export const GDS_DEPTH = 4;
/** Alignment of every read: offsets, lengths and device offsets (O_DIRECT's and GDS's). @default 4 KiB */
export const GDS_ALIGNMENT = 4096;

const options = z.strictObject({
  chunkSize: z.number().int().min(GDS_ALIGNMENT).max(1 << 30)
    .refine((n) => n % GDS_ALIGNMENT === 0, { message: `must be a multiple of ${GDS_ALIGNMENT}` })
    .default(GDS_CHUNK),
  depth: z.number().int().min(1).max(64).default(GDS_DEPTH),
  /** Measure cuFile's compatibility mode where true GDS is unavailable. @default false */
  allowCompat: z.boolean().default(false),
  /** The cuFile library to use. @default `WEIGHTBENCH_CUFILE`, then the usual names */
  library: z.string().min(1).optional(),
});

/**
 * `[begin, end)` widened to whole `alignment` blocks: where an aligned read of
 * it starts and stops. A pure function.
 */
export function alignedSpan(
  begin: number,
  end: number,
  alignment = GDS_ALIGNMENT,
): { start: number; stop: number } {
  return {
    start: Math.floor(begin / alignment) * alignment,
    stop: Math.max(Math.ceil(end / alignment) * alignment, alignment),
  };
}

/** Device bytes a load of `weights` allocates: each file's aligned data span. */
export function gdsFootprint(weights: WeightSet): number {
  let bytes = 0;
  for (const file of weights.files) {
    const { begin, end } = dataSpan(file.index.tensors);
    const { start, stop } = alignedSpan(begin, end);
    bytes += stop - start;
  }
  return bytes;
}

/**
 * Why cuFile cannot run here, or `undefined` where it can: the library is
 * missing, or its driver does not open (cuFile's own error, with the CUDA
 * driver's answer beside it).
 */
export function cufileUnavailable(library?: string, context?: CudaContext): string | undefined {
  return cufileProblem(
    () => library === undefined ? cufile() : Cufile.open({ paths: [library] }),
    context,
  );
}

function cufileProblem(open: () => Cufile, context?: CudaContext): string | undefined {
  let lib: Cufile;
  try {
    lib = open();
  } catch (error) {
    if (error instanceof CufileUnavailableError) {
      return `libcufile.so not found (tried ${
        error.tried.join(", ")
      }): GPUDirect Storage needs NVIDIA's cuFile library`;
    }
    throw error;
  }
  try {
    context?.makeCurrent();
    lib.openDriver();
    return undefined;
  } catch (error) {
    if (error instanceof CufileError) return `cuFile cannot open its driver: ${error.message}`;
    throw error;
  }
}

/** The `gds` strategy. */
export const gds: StrategyDefinition<z.infer<typeof options>> = {
  name: "gds",
  summary: "GPUDirect Storage: cuFile reads straight into device memory (true GDS or compat mode)",
  options,
  create: ({ chunkSize, depth, allowCompat, library }) => {
    let lib: Cufile | undefined;
    const readers = new Map<CudaContext, CufileReader>();
    const open = () => lib ??= library === undefined ? cufile() : Cufile.open({ paths: [library] });
    /** The context's reader, started outside the timing (in prepareSample) and kept. */
    const readerFor = (context: CudaContext) => {
      let reader = readers.get(context);
      if (!reader || context.closed) {
        reader?.close();
        reader = new CufileReader(open(), context, depth);
        readers.set(context, reader);
      }
      return reader;
    };
    return {
      name: "gds",
      footprint: gdsFootprint,
      unsupported(_weights: WeightSet, target: Target): string | undefined {
        if (target.deviceAddress === undefined || target.deviceContext === undefined) {
          return `GPUDirect Storage reads into GPU memory, which target "${target.id}" does not expose (use a cuda:N target)`;
        }
        const reason = cufileProblem(open, target.deviceContext);
        if (reason !== undefined) return reason;
        if (cufileMode() === "compat") {
          if (!allowCompat) {
            return "GPUDirect Storage is not available here (no nvidia-fs kernel module): cuFile would run in compatibility mode, reading through host memory (allowCompat: true measures that)";
          }
          if (!open().properties().compatModeAllowed) {
            return "GPUDirect Storage is not available here (no nvidia-fs kernel module), and cuFile's configuration forbids its compatibility mode (allow_compat_mode)";
          }
        }
        return undefined;
      },
      async prepareSample(_weights: WeightSet, target: Target): Promise<void> {
        if (target.deviceContext) await readerFor(target.deviceContext).ready();
      },
      async load(context: LoadContext): Promise<LoadResult> {
        const { weights, target, recorder } = context;
        const cuda = target.deviceContext;
        if (target.deviceAddress === undefined || cuda === undefined) {
          throw new Error(`Target "${target.id}" has no device addresses`);
        }
        const cufile = open();
        recorder.time("open", () => {
          cuda.makeCurrent();
          cufile.openDriver();
        }, "cuFile driver");
        const reader = readerFor(cuda);
        await reader.ready();
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
            const { start, stop } = alignedSpan(begin, end);
            const buffer = recorder.time("alloc", () => target.allocate(stop - start), path);
            buffers.push(buffer);
            const address = target.deviceAddress(buffer, 0);
            const device = Deno.UnsafePointer.create(address)!;
            cuda.makeCurrent();
            using handle = recorder.time("open", () => new CufileHandle(cufile, file.fd), path);
            using _registered = recorder.time(
              "alloc",
              () => new CufileBuffer(cufile, device, stop - start),
              path,
            );
            await recorder.timeAsync("read", async () => {
              await forEachChunk(stop - start, chunkSize, depth, async (offset, size) => {
                const at = start + offset;
                const got = await reader.read(handle, address, size, at, offset);
                const needed = Math.min(size, Math.max(0, end - at));
                if (got < needed) {
                  throw new Error(
                    `Cannot read "${path}": file ended at ${at + got}, before ${end}`,
                  );
                }
              });
            }, path);
            bytesRead += end - begin;
            await recorder.timeAsync(target.transferPhase, () => target.synchronize(), path);
            for (const tensor of index.tensors) {
              placements.push({ file: path, tensor, buffer, offset: tensor.offset - start });
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
      close(): void {
        for (const reader of readers.values()) reader.close();
        readers.clear();
      },
    };
  },
};
