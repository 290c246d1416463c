/**
 * A pool of workers that dequantize native memory to FP16 in parallel: each
 * job's blocks are split into one contiguous share per worker, and the
 * workers read and write the memory in place through its address (no copy,
 * no transfer of buffers). Small jobs run on the calling thread, where a
 * message round trip would cost more than the work.
 *
 * The workers need the FFI permission the harness already has (they inherit
 * the process's permissions).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DequantPool } from "./pool.ts";
 * import { referenceDequantizeF16 } from "./reference.ts";
 * import { NativeMemory } from "../ffi/native_memory.ts";
 *
 * using pool = new DequantPool(2);
 * using source = NativeMemory.allocate(34 * 4096);
 * crypto.getRandomValues(source.view(0, 65536));
 * using output = NativeMemory.allocate(64 * 4096);
 * await pool.dequantize("Q8_0", source.pointer(), 34 * 4096, output.pointer());
 * const expected = referenceDequantizeF16("Q8_0", source.view(0, 34 * 4096));
 * assert.deepEqual(new Uint16Array(output.view(0, 64 * 4096).buffer), expected);
 * ```
 *
 * @module
 */

import { dequantizeF16Into } from "./fast.ts";
import { DEQUANT_BLOCKS, type DequantType } from "./reference.ts";
import type { DequantJob, DequantReply } from "./_dequant_worker.ts";

/** Workers in a pool. @default the number of CPU cores, at most 16 */
export const DEQUANT_WORKERS = Math.max(1, Math.min(16, navigator.hardwareConcurrency || 1));
/** Jobs with fewer source bytes run on the calling thread. @default 256 KiB */
export const DEQUANT_INLINE_BYTES = 256 << 10;
/** The smallest share of a job a worker gets, in source bytes. @default 128 KiB */
export const DEQUANT_MIN_SHARE = 128 << 10;

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/** Workers that dequantize; `close()` terminates them and is safe to call twice. */
export class DequantPool implements Disposable {
  readonly size: number;
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #owner = new Map<number, number>();
  #next = 0;
  #closed = false;
  #ready: Promise<void> | undefined;

  constructor(workers: number = DEQUANT_WORKERS) {
    if (!Number.isSafeInteger(workers) || workers < 1) {
      throw new RangeError(`A dequantization pool needs at least one worker, not ${workers}`);
    }
    this.size = workers;
  }

  /** Starts the workers (if not yet) and waits until each has loaded and answered. */
  ready(): Promise<void> {
    this.#start();
    this.#ready ??= Promise.all(this.#workers.map((_, w) => this.#post(w, "Q8_0", 0n, 0n, 0)))
      .then(() => {});
    return this.#ready;
  }

  /**
   * Dequantizes the whole blocks of `type` in `sourceBytes` bytes at `source`
   * to FP16 at `destination`, which must have room for them.
   */
  async dequantize(
    type: DequantType,
    source: Deno.PointerObject,
    sourceBytes: number,
    destination: Deno.PointerObject,
  ): Promise<void> {
    if (this.#closed) throw new Error("Dequantization pool used after close()");
    const { elements, bytes } = DEQUANT_BLOCKS[type];
    const blocks = sourceBytes / bytes;
    if (!Number.isSafeInteger(blocks) || blocks < 0) {
      throw new RangeError(`${sourceBytes} bytes are not whole ${type} blocks of ${bytes} bytes`);
    }
    if (blocks === 0) return;
    if (sourceBytes < DEQUANT_INLINE_BYTES || this.size === 1 && sourceBytes < DEQUANT_MIN_SHARE) {
      const src = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(source, sourceBytes));
      const dst = new Uint16Array(
        Deno.UnsafePointerView.getArrayBuffer(destination, blocks * elements * 2),
      );
      dequantizeF16Into(type, src, dst);
      return;
    }
    this.#start();
    const minShare = Math.max(1, Math.floor(DEQUANT_MIN_SHARE / bytes));
    const share = Math.max(minShare, Math.ceil(blocks / this.size));
    const jobs: Promise<void>[] = [];
    const base = Deno.UnsafePointer.value(source);
    const out = Deno.UnsafePointer.value(destination);
    for (let first = 0, w = 0; first < blocks; first += share, w++) {
      const count = Math.min(share, blocks - first);
      jobs.push(this.#post(
        w % this.size,
        type,
        BigInt(base) + BigInt(first * bytes),
        BigInt(out) + BigInt(first * elements * 2),
        count,
      ));
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const worker of this.#workers) worker.terminate();
    this.#workers = [];
    for (const pending of this.#pending.values()) {
      pending.reject(new Error("Dequantization pool closed with jobs in flight"));
    }
    this.#pending.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #start(): void {
    if (this.#closed) throw new Error("Dequantization pool used after close()");
    if (this.#workers.length > 0) return;
    for (let w = 0; w < this.size; w++) {
      const worker = new Worker(new URL("./_dequant_worker.ts", import.meta.url), {
        type: "module",
      });
      worker.onmessage = (event: MessageEvent<DequantReply>) => {
        const { id, error } = event.data;
        const pending = this.#pending.get(id);
        this.#pending.delete(id);
        this.#owner.delete(id);
        if (error === undefined) pending?.resolve();
        else pending?.reject(new Error(`Dequantization worker failed: ${error}`));
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        for (const [id, owner] of this.#owner) {
          if (owner !== w) continue;
          this.#pending.get(id)?.reject(
            new Error(`Dequantization worker ${w} crashed: ${event.message}`),
          );
          this.#pending.delete(id);
          this.#owner.delete(id);
        }
      };
      this.#workers.push(worker);
    }
  }

  #post(
    worker: number,
    type: DequantType,
    source: bigint,
    destination: bigint,
    blocks: number,
  ): Promise<void> {
    this.#start();
    const id = this.#next++;
    const job: DequantJob = { id, type, source, destination, blocks };
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#owner.set(id, worker);
      this.#workers[worker]!.postMessage(job);
    });
  }
}
