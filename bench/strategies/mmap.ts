/**
 * `mmap`: map each file (libc `mmap`), parse the header from the mapping, and
 * copy the tensors from the mapping to the target. The page faults of the
 * copy are the reads, so they show in the transfer span; this is what
 * safetensors' `load_file` and `torch.load(mmap=True)` do.
 *
 * Options: `advice` passes `madvise` a hint (`sequential` read-ahead, or
 * `willneed` to start reading at once), and `populate` faults the whole file
 * in at map time (`MAP_POPULATE`), which moves the reads into a `read` span.
 *
 * @module
 */

import { z } from "zod";
import {
  errno,
  libc,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_POPULATE,
  MAP_PRIVATE,
  offsetPointer,
  PROT_READ,
  systemError,
} from "../ffi/libc.ts";
import { NativeFile } from "../ffi/native_file.ts";
import { hostMemoryShortfall, loadNeeds } from "../io/host_memory.ts";
import { bytesSource } from "../formats/format.ts";
import type { DeviceBuffer } from "../core/target.ts";
import { placeFile, type StrategyDefinition, transferOption } from "./strategy.ts";
import {
  type LoadContext,
  type LoadResult,
  type Placement,
  targetFootprint,
} from "../core/load.ts";

const MAP_FAILED = 0xffffffffffffffffn;
const ADVICE = { none: undefined, sequential: MADV_SEQUENTIAL, willneed: MADV_WILLNEED } as const;

const options = z.strictObject({
  advice: z.enum(["none", "sequential", "willneed"]).default("none"),
  populate: z.boolean().default(false),
  transfer: transferOption,
});

/** A read-only private mapping of a whole file; `close()` unmaps it and is safe to call twice. */
export class FileMapping implements Disposable {
  #pointer: Deno.PointerObject | null;
  readonly size: number;

  constructor(file: NativeFile, populate = false) {
    this.size = Math.max(file.size, 1);
    const flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0);
    const pointer = libc().mmap(null, BigInt(this.size), PROT_READ, flags, file.fd, 0n);
    if (pointer === null || Deno.UnsafePointer.value(pointer) === MAP_FAILED) {
      throw systemError(`mmap "${file.path}"`, errno());
    }
    this.#pointer = pointer;
  }

  /** The address of file byte `offset`. */
  pointer(offset = 0): Deno.PointerObject {
    if (this.#pointer === null) throw new Error("Mapping used after close()");
    return offsetPointer(this.#pointer, offset);
  }

  /** Passes `advice` to madvise for the whole mapping. */
  advise(advice: number): void {
    libc().madvise(this.pointer(), BigInt(this.size), advice);
  }

  /** The first `length` bytes, as a view. */
  view(length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.pointer(), length));
  }

  close(): void {
    if (this.#pointer === null) return;
    libc().munmap(this.#pointer, BigInt(this.size));
    this.#pointer = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The `mmap` strategy. */
export const mmap: StrategyDefinition<z.infer<typeof options>> = {
  name: "mmap",
  summary: "map files with mmap and copy tensors from the mapping; page faults are the reads",
  options,
  create: ({ advice, populate, transfer }) => ({
    name: "mmap",
    // The mapping is page cache, which the kernel reclaims: only the target's bytes count.
    unsupported: (weights, target) =>
      hostMemoryShortfall(loadNeeds(target, 0, targetFootprint(weights))),
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, recorder } = context;
      const placements: Placement[] = [];
      const buffers: DeviceBuffer[] = [];
      let bytesRead = 0;
      for (const { path, format } of weights.files) {
        using file = recorder.time("open", () => NativeFile.open(path), path);
        using mapping = recorder.time(
          populate ? "read" : "open",
          () => new FileMapping(file, populate),
          path,
        );
        const hint = ADVICE[advice];
        if (hint !== undefined) mapping.advise(hint);
        const index = recorder.time(
          "parse",
          () => format.parse(bytesSource(path, mapping.view(file.size))),
          path,
        );
        const placed = await placeFile(
          context,
          path,
          index.tensors,
          (o) => mapping.pointer(o),
          transfer,
        );
        buffers.push(placed.buffer);
        placements.push(...placed.placements);
        bytesRead += file.size;
        recorder.time("free", () => {
          mapping.close();
          file.close();
        }, path);
      }
      return { placements, buffers, bytesRead };
    },
  }),
};
