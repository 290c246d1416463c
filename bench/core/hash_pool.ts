/**
 * SHA-256 of many byte ranges at once, one Worker per core: the check of
 * every loaded byte after every sample costs a fraction of a single thread's
 * time (SHA-256 ran at about 1.2 GB/s a core on the machine this was built
 * on: a 16 GB model would take some 13 s a sample on one).
 *
 * Each job is read piece by piece on the calling thread (`read` may return a
 * view that the next `read` overwrites, as a target's `readBack` does), and
 * each piece is copied into a slot the job's Worker shares; two slots per
 * Worker, so a piece is copied while the last one is hashed. A job is hashed
 * whole by one Worker; jobs go to Workers largest first, each to the one with
 * the fewest bytes so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHash } from "node:crypto";
 * import { HashPool } from "./hash_pool.ts";
 *
 * const bytes = new TextEncoder().encode("abc");
 * using pool = new HashPool(2);
 * const [digest] = await pool.digest([{ length: 3, read: (start, n) => bytes.subarray(start, start + n) }]);
 * assert.equal(digest, createHash("sha256").update(bytes).digest("hex"));
 * ```
 *
 * @module
 */

import type { HashWorkerReply, HashWorkerRequest } from "./_hash_worker.ts";

/** Bytes of a range to hash, read in pieces on the calling thread. */
export interface HashJob {
  readonly length: number;
  /** `length` bytes from `start`; the view may be reused by the next call. */
  read(start: number, length: number): Uint8Array;
}

/** Bytes per piece copied to a Worker. @default 8 MiB */
export const HASH_PIECE = 8 << 20;

/** Most Workers a pool starts, whatever the cores. @default 16 */
export const HASH_POOL_MAX = 16;

interface PoolWorker {
  readonly worker: Worker;
  readonly slots: readonly Uint8Array[];
  readonly free: number[];
  readonly waiting: ((slot: number) => void)[];
  readonly digests: Map<number, (digest: string) => void>;
}

/** A pool of hashing Workers; close it (or `using`) when done. */
export class HashPool {
  readonly #workers: PoolWorker[];
  readonly #failures = new Set<(error: Error) => void>();
  #failure: Error | undefined;
  #nextJob = 0;

  /** Starts `threads` Workers (default: one per core, at most {@link HASH_POOL_MAX}). */
  constructor(threads = Math.min(HASH_POOL_MAX, navigator.hardwareConcurrency || 1)) {
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new RangeError(`A hash pool needs at least one thread, got ${threads}`);
    }
    this.#workers = Array.from({ length: threads }, () => this.#start());
  }

  /** Number of Workers. */
  get threads(): number {
    return this.#workers.length;
  }

  /** The hex SHA-256 of each job, in order. */
  async digest(jobs: readonly HashJob[]): Promise<string[]> {
    if (this.#failure) throw this.#failure;
    const assigned: number[][] = this.#workers.map(() => []);
    const load = this.#workers.map(() => 0);
    const order = jobs.map((_, i) => i).sort((a, b) => jobs[b]!.length - jobs[a]!.length);
    for (const i of order) {
      const least = load.indexOf(Math.min(...load));
      assigned[least]!.push(i);
      load[least]! += jobs[i]!.length;
    }
    const digests: Promise<string>[] = new Array(jobs.length);
    let reject!: (error: Error) => void;
    const failed = new Promise<never>((_, r) => this.#failures.add(reject = r));
    failed.catch(() => {}); // observed below, through the race
    const fed = Promise.all(assigned.map(async (list, w) => {
      for (const i of list) digests[i] = (await this.#feed(this.#workers[w]!, jobs[i]!)).digest;
    }));
    try {
      await Promise.race([fed, failed]);
      return await Promise.race([Promise.all(digests), failed]);
    } finally {
      this.#failures.delete(reject);
    }
  }

  /** Stops every Worker; a digest still running fails. */
  close(): void {
    this.#fail(new Error("The hash pool was closed"));
    for (const w of this.#workers) w.worker.terminate();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Copies `job` into `w`'s slots piece by piece; resolves once all are sent, with its digest to come. */
  async #feed(w: PoolWorker, job: HashJob): Promise<{ digest: Promise<string> }> {
    const id = this.#nextJob++;
    const digest = new Promise<string>((resolve) => w.digests.set(id, resolve));
    for (let start = 0;;) {
      const slot = await this.#slot(w);
      const length = Math.min(HASH_PIECE, job.length - start);
      try {
        if (length > 0) w.slots[slot]!.set(job.read(start, length));
      } catch (error) {
        w.free.push(slot);
        throw error;
      }
      start += length;
      const last = start >= job.length;
      const request: HashWorkerRequest = { kind: "piece", job: id, slot, length, last };
      w.worker.postMessage(request);
      if (last) return { digest };
    }
  }

  #slot(w: PoolWorker): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    const free = w.free.pop();
    return free !== undefined
      ? Promise.resolve(free)
      : new Promise((resolve) => w.waiting.push(resolve));
  }

  #start(): PoolWorker {
    const worker = new Worker(new URL("./_hash_worker.ts", import.meta.url), { type: "module" });
    const buffers = [new SharedArrayBuffer(HASH_PIECE), new SharedArrayBuffer(HASH_PIECE)];
    const w: PoolWorker = {
      worker,
      slots: buffers.map((b) => new Uint8Array(b)),
      free: [0, 1],
      waiting: [],
      digests: new Map(),
    };
    worker.onmessage = (event: MessageEvent<HashWorkerReply>) => {
      const { slot, job, digest } = event.data;
      if (digest !== undefined) {
        w.digests.get(job)?.(digest);
        w.digests.delete(job);
      }
      const next = w.waiting.shift();
      if (next) next(slot);
      else w.free.push(slot);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(new Error(`A hashing Worker failed: ${event.message}`));
    };
    const request: HashWorkerRequest = { kind: "slots", slots: buffers };
    worker.postMessage(request);
    return w;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const reject of this.#failures) reject(this.#failure);
  }
}
