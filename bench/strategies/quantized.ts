/**
 * `quantized`: load GGUF quantized weights (Q8_0, Q4_0, Q4_K) as the FP16 a
 * model computes with, by one of two paths, each timed phase by phase:
 *
 * - `path: "cpu"` — read the quantized bytes, dequantize them on the CPU (a
 *   pool of workers, `bench/quant/pool.ts`) into FP16 staging buffers, and
 *   copy the FP16 to the target: 2–3.6× the bytes cross to the target. The
 *   only path on the `host` target.
 * - `path: "gpu"` — read the quantized bytes, copy them as they are to a
 *   device scratch buffer, and dequantize there with a kernel of ours
 *   (`kernels/dequant.cu`, committed as PTX, loaded with `cuModuleLoadData`)
 *   straight into the tensor's place. Needs a target that runs kernels (a
 *   CUDA target); elsewhere the case is skipped with the reason.
 *
 * Each file's tensors are cut into pieces of at most `chunkSize` source bytes
 * (whole blocks), and `depth` pieces are in flight on the streaming engine
 * (`bench/io/stream.ts`), each going read → dequantize → copy, so reading one
 * piece overlaps the others' work; the dequantization is the engine's sink. Tensors
 * of any other dtype (F32 norms, F16, and quantized types without a
 * dequantizer here) are copied as they are, so every weight file loads.
 *
 * Every dequantized placement declares its transform, and verification
 * compares the target's FP16 with the reference dequantizer's, bit for bit.
 *
 * @module
 */

import { z } from "zod";
import { NativeMemory } from "../ffi/native_memory.ts";
import type { TensorInfo } from "../formats/format.ts";
import type { WeightFile, WeightSet } from "../formats/weights.ts";
import { type Chunk, StagingRing, streamRanges } from "../io/stream.ts";
import { hostMemoryShortfall, loadNeeds } from "../io/host_memory.ts";
import { openForStream } from "../io/stream_load.ts";
import { DEQUANT_KERNELS, launchGeometry, readDequantPtx } from "../quant/kernels.ts";
import { DEQUANT_WORKERS, DequantPool } from "../quant/pool.ts";
import {
  DEQUANT_BLOCKS,
  dequantizedByteLength,
  type DequantType,
  isDequantType,
} from "../quant/reference.ts";
import type {
  DeviceBuffer,
  HostStaging,
  KernelLauncher,
  KernelModule,
  Target,
} from "../core/target.ts";
import type { Strategy, StrategyDefinition } from "./strategy.ts";
import type { LoadContext, LoadResult, Placement, PlacementTransform } from "../core/load.ts";

/** Source bytes per piece, rounded down to whole blocks. @default 8 MiB */
export const QUANTIZED_CHUNK = 8 << 20;
/** Pieces in flight. @default 2 */
export const QUANTIZED_DEPTH = 2;
/** Alignment of each tensor in the target buffer, as CUDA aligns allocations. @default 256 */
export const QUANTIZED_ALIGNMENT = 256;
/** FP16 bytes per quantized byte, at most (Q4_0 and Q4_K: 64/18 and 512/144). */
const MAX_EXPANSION = 4;

const options = z.strictObject({
  path: z.enum(["cpu", "gpu"]).default("cpu"),
  /** Dequantization workers of the cpu path. */
  workers: z.number().int().min(1).max(64).default(DEQUANT_WORKERS),
  chunkSize: z.number().int().min(4096).max(1 << 30).default(QUANTIZED_CHUNK),
  depth: z.number().int().min(1).max(16).default(QUANTIZED_DEPTH),
});

type Options = z.infer<typeof options>;

/** Where one tensor goes in its file's target buffer, and what becomes of it. */
interface Slot {
  readonly tensor: TensorInfo;
  readonly offset: number;
  /** The dequantized type, or undefined for a tensor copied as it is. */
  readonly type: DequantType | undefined;
  /** Bytes on the target. */
  readonly byteLength: number;
}

/** The target layout of a file's tensors: dequantized ones as FP16, each aligned. */
export function planSlots(tensors: readonly TensorInfo[]): { slots: Slot[]; size: number } {
  const slots: Slot[] = [];
  let size = 0;
  for (const tensor of tensors) {
    const type = dequantizable(tensor);
    const byteLength = type === undefined
      ? tensor.byteLength
      : dequantizedByteLength(type, tensor.byteLength);
    slots.push({ tensor, offset: size, type, byteLength });
    size = alignUp(size + byteLength, QUANTIZED_ALIGNMENT);
  }
  return { slots, size: Math.max(size, 1) };
}

function dequantizable(tensor: TensorInfo): DequantType | undefined {
  if (!isDequantType(tensor.dtype)) return undefined;
  return tensor.byteLength % DEQUANT_BLOCKS[tensor.dtype].bytes === 0 ? tensor.dtype : undefined;
}

/** One piece of work: source bytes of a tensor, and where their result goes. */
interface Piece {
  readonly slot: Slot;
  /** Offset of the piece in the file. */
  readonly offset: number;
  readonly length: number;
  /** Offset of its result in the target buffer. */
  readonly targetOffset: number;
}

function piecesOf(slots: readonly Slot[], chunkSize: number): Piece[] {
  const pieces: Piece[] = [];
  for (const slot of slots) {
    const { tensor, type } = slot;
    if (tensor.byteLength === 0) continue;
    const unit = type === undefined ? 1 : DEQUANT_BLOCKS[type].bytes;
    const step = Math.max(unit, chunkSize - (chunkSize % unit));
    for (let done = 0; done < tensor.byteLength; done += step) {
      const length = Math.min(step, tensor.byteLength - done);
      const targetOffset = type === undefined
        ? slot.offset + done
        : slot.offset + (done / unit) * DEQUANT_BLOCKS[type].elements * 2;
      pieces.push({ slot, offset: tensor.offset + done, length, targetOffset });
    }
  }
  return pieces;
}

/** The `quantized` strategy. */
export const quantized: StrategyDefinition<Options> = {
  name: "quantized",
  summary:
    "GGUF Q8_0/Q4_0/Q4_K to FP16: dequantize on the CPU and copy, or copy and dequantize on the GPU",
  options,
  create: (resolved) => new QuantizedStrategy(resolved),
};

/** Where a load's quantized pieces are dequantized: CPU workers, or a kernel on the target. */
type Dequantizer =
  | { readonly path: "cpu"; readonly pool: DequantPool }
  | { readonly path: "gpu"; readonly launcher: KernelLauncher; readonly module: KernelModule };

class QuantizedStrategy implements Strategy {
  readonly name = "quantized";
  readonly #options: Options;
  #pool: DequantPool | undefined;
  #module: { launcher: KernelLauncher; module: KernelModule } | undefined;

  constructor(options: Options) {
    this.#options = options;
  }

  unsupported(weights: WeightSet, target: Target): string | undefined {
    const { path, depth, chunkSize } = this.#options;
    if (path === "gpu" && target.kernels === undefined) {
      return `the gpu path dequantizes with CUDA kernels, which target "${target.id}" cannot run (use a cuda:N target, or path "cpu")`;
    }
    const staging = depth * chunkSize * (path === "cpu" ? 1 + MAX_EXPANSION : 1);
    return hostMemoryShortfall(loadNeeds(target, staging, this.footprint(weights)));
  }

  footprint(weights: WeightSet): number {
    let bytes = 0;
    for (const file of weights.files) bytes += planSlots(file.index.tensors).size + 4096;
    if (this.#options.path === "gpu") {
      bytes += this.#options.depth * (this.#options.chunkSize + 4096);
    }
    return bytes;
  }

  async prepareSample(_weights: WeightSet, target: Target): Promise<void> {
    if (this.#options.path === "cpu") await this.#workers().ready();
    else await this.#kernels(target);
  }

  async load(context: LoadContext): Promise<LoadResult> {
    const { path, chunkSize, depth } = this.#options;
    const dequantizer = await this.#dequantizer(context);
    const load = new QuantizedLoad(context, dequantizer, chunkSize, depth);
    try {
      for (const file of context.weights.files) await load.loadFile(file);
    } finally {
      load.freeLanes();
    }
    const { bytesRead, ...bytes } = load.tally;
    return {
      placements: load.placements,
      buffers: load.buffers,
      bytesRead,
      details: { path, ...bytes },
    };
  }

  close(): void {
    this.#pool?.close();
    this.#pool = undefined;
    this.#module?.module.close();
    this.#module = undefined;
  }

  /** The kernels of the gpu path, or the CPU workers, ready (the workers' start timed as `alloc`). */
  async #dequantizer({ target, recorder }: LoadContext): Promise<Dequantizer> {
    if (this.#options.path === "gpu") return { path: "gpu", ...await this.#kernels(target) };
    const pool = this.#workers();
    await recorder.timeAsync("alloc", () => pool.ready(), "dequant workers");
    return { path: "cpu", pool };
  }

  #workers(): DequantPool {
    this.#pool ??= new DequantPool(this.#options.workers);
    return this.#pool;
  }

  async #kernels(target: Target): Promise<{ launcher: KernelLauncher; module: KernelModule }> {
    const launcher = target.kernels;
    if (launcher === undefined) {
      throw new Error(`Target "${target.id}" cannot run the dequantization kernels`);
    }
    if (this.#module?.launcher !== launcher) {
      this.#module?.module.close();
      this.#module = { launcher, module: launcher.loadModule(await readDequantPtx()) };
    }
    return this.#module;
  }
}

/** What a staging buffer of the ring brings along for the piece it holds. */
interface LaneExtras {
  /** The CPU workers' FP16 output (the cpu path). */
  readonly fp16: NativeMemory | undefined;
  /** Device memory the quantized bytes are copied to for the kernel (the gpu path). */
  readonly scratch: DeviceBuffer | undefined;
}

/** What a load counts, for its result. */
interface Tally {
  bytesRead: number;
  /** Quantized bytes read that were dequantized. */
  quantizedBytes: number;
  /** FP16 bytes they became. */
  dequantizedBytes: number;
  /** Bytes copied to the target: FP16 on the cpu path, quantized on the gpu path. */
  bytesToTarget: number;
}

/**
 * One load, step by step: {@link QuantizedLoad.loadFile} parses a file,
 * allocates its buffer and streams its pieces through a ring of `depth`
 * staging buffers, each piece going read → dequantize → copy on the cpu path,
 * read → copy → kernel on the gpu path, read → copy for a tensor kept as it
 * is; then {@link QuantizedLoad.freeLanes} releases the staging.
 */
class QuantizedLoad {
  readonly placements: Placement[] = [];
  readonly buffers: DeviceBuffer[] = [];
  readonly tally: Tally = {
    bytesRead: 0,
    quantizedBytes: 0,
    dequantizedBytes: 0,
    bytesToTarget: 0,
  };
  readonly #context: LoadContext;
  readonly #dequantizer: Dequantizer;
  readonly #chunkSize: number;
  readonly #depth: number;
  readonly #ring: StagingRing;
  readonly #extras = new Map<HostStaging, LaneExtras>();

  /** Allocates the ring and each buffer's extras (timed as `alloc`). */
  constructor(context: LoadContext, dequantizer: Dequantizer, chunkSize: number, depth: number) {
    this.#context = context;
    this.#dequantizer = dequantizer;
    this.#chunkSize = chunkSize;
    this.#depth = depth;
    const cpu = dequantizer.path === "cpu";
    this.#ring = context.recorder.time("alloc", () => {
      const ring = StagingRing.allocate(depth, chunkSize, (bytes) => NativeMemory.allocate(bytes));
      try {
        for (const memory of ring.buffers) {
          this.#extras.set(memory, {
            fp16: cpu ? NativeMemory.allocate(chunkSize * MAX_EXPANSION) : undefined,
            scratch: cpu ? undefined : context.target.allocate(chunkSize),
          });
        }
      } catch (error) {
        this.#freeExtras();
        ring.close();
        throw error;
      }
      return ring;
    }, `${depth} × ${chunkSize} B staging`);
  }

  /** Loads one file: every tensor placed, dequantized ones as FP16. */
  async loadFile(weightFile: WeightFile): Promise<void> {
    const { target, recorder } = this.#context;
    using opened = openForStream(weightFile, recorder);
    const { path: file, index } = opened;
    this.tally.bytesRead += opened.headerBytes;
    const { slots, size } = planSlots(index.tensors);
    const buffer = recorder.time("alloc", () => target.allocate(size), file);
    this.buffers.push(buffer);
    this.tally.bytesRead += await streamRanges({
      file: opened.file,
      ranges: piecesOf(slots, this.#chunkSize),
      depth: this.#depth,
      staging: this.#ring,
      recorder,
      signal: this.#context.signal,
      sink: (chunk) => this.#sendPiece(chunk, buffer, file),
    });
    await recorder.timeAsync(target.transferPhase, () => target.synchronize(), file);
    for (const slot of slots) this.placements.push(placementOf(file, slot, buffer));
    opened.close();
  }

  /** Frees the ring and its extras (timed as `free`). */
  freeLanes(): void {
    this.#context.recorder.time("free", () => {
      this.#freeExtras();
      this.#ring.close();
    });
  }

  #freeExtras(): void {
    for (const extras of this.#extras.values()) {
      extras.fp16?.close();
      if (extras.scratch !== undefined) this.#context.target.free(extras.scratch);
    }
    this.#extras.clear();
  }

  /** Sends one piece, read into staging, on to the target by its tensor's way. */
  async #sendPiece(chunk: Chunk<Piece>, buffer: DeviceBuffer, file: string): Promise<void> {
    const piece = chunk.range;
    const extras = this.#extras.get(chunk.staging)!;
    const type = piece.slot.type;
    if (type === undefined) {
      await this.#copy(buffer, piece.targetOffset, chunk.pointer(), piece.length, file);
      return;
    }
    this.tally.quantizedBytes += piece.length;
    this.tally.dequantizedBytes += dequantizedByteLength(type, piece.length);
    if (this.#dequantizer.path === "cpu") {
      await this.#dequantizeOnCpu(this.#dequantizer.pool, type, chunk, extras, buffer, file);
    } else {
      await this.#dequantizeOnGpu(this.#dequantizer, type, chunk, extras, buffer, file);
    }
  }

  /** The cpu path: the workers write FP16 to the buffer's extras, which is copied into place. */
  async #dequantizeOnCpu(
    pool: DequantPool,
    type: DequantType,
    chunk: Chunk<Piece>,
    extras: LaneExtras,
    buffer: DeviceBuffer,
    file: string,
  ): Promise<void> {
    const piece = chunk.range;
    const fp16 = extras.fp16!; // the cpu path's buffers have it
    await this.#context.recorder.timeAsync(
      "dequant",
      () => pool.dequantize(type, chunk.pointer(), piece.length, fp16.pointer()),
      file,
    );
    const out = dequantizedByteLength(type, piece.length);
    await this.#copy(buffer, piece.targetOffset, fp16.pointer(), out, file);
  }

  /** The gpu path: the quantized bytes go to the scratch, and a kernel writes FP16 into place. */
  async #dequantizeOnGpu(
    { launcher, module }: { launcher: KernelLauncher; module: KernelModule },
    type: DequantType,
    chunk: Chunk<Piece>,
    extras: LaneExtras,
    buffer: DeviceBuffer,
    file: string,
  ): Promise<void> {
    const piece = chunk.range;
    const scratch = extras.scratch!; // the gpu path's buffers have it
    await this.#copy(scratch, 0, chunk.pointer(), piece.length, file);
    const blocks = piece.length / DEQUANT_BLOCKS[type].bytes;
    const { threads, grid, block } = launchGeometry(type, blocks);
    await this.#context.recorder.timeAsync(
      "dequant",
      () =>
        launcher.launch(module, DEQUANT_KERNELS[type].name, grid, block, [
          { kind: "address", buffer: scratch, offset: 0 },
          { kind: "address", buffer, offset: piece.targetOffset },
          { kind: "u64", value: threads },
        ]),
      file,
    );
  }

  /** Copies `length` bytes at `from` to `buffer` at `offset`, timed as the target's transfer. */
  async #copy(
    buffer: DeviceBuffer,
    offset: number,
    from: Deno.PointerObject,
    length: number,
    file: string,
  ): Promise<void> {
    const { target, recorder } = this.#context;
    await recorder.timeAsync(
      target.transferPhase,
      () => target.copyIn(buffer, offset, from, length),
      file,
    );
    this.tally.bytesToTarget += length;
  }
}

/** Where a slot's tensor is, and the transform it went through where it was dequantized. */
function placementOf(file: string, slot: Slot, buffer: DeviceBuffer): Placement {
  const transform: PlacementTransform | undefined = slot.type === undefined
    ? undefined
    : { kind: "dequantize", from: slot.type, to: "F16", byteLength: slot.byteLength };
  return {
    file,
    tensor: slot.tensor,
    buffer,
    offset: slot.offset,
    ...(transform === undefined ? {} : { transform }),
  };
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
