/**
 * A local staging store: copies of files from a slower source tier, kept in
 * a folder on fast local storage (NVMe), so later loads read the copy.
 *
 * ```
 * ROOT/blobs/SHA256-SIZE    content-addressed copies, each verified once
 * ROOT/refs/KEY.json        source identity → blob (KEY: hash of the identity)
 * ROOT/tmp/KEY.part         a copy in progress, at its final size (sparse)
 * ROOT/tmp/KEY.part.json    the ranges of it already written, for resuming
 * ROOT/locks/KEY.lock       held while KEY is being staged
 * ```
 *
 * Staging a file reads it in `chunkSize` ranges with `readers` in flight
 * (parallel range requests over HTTP), each retried `retries` times, and
 * writes each range in place. Every finished range is journaled, so a
 * transfer cut short (a dropped connection, a killed process) resumes with
 * the ranges still missing. The finished copy is hashed: when the source
 * publishes a SHA-256 the copy must match it, or it is deleted and the
 * staging fails — nothing corrupt is ever renamed into `blobs/`. A write
 * that fails (a full disk) deletes the partial copy and its journal.
 *
 * A lock per entry (`lock.ts`) keeps two runs from staging one entry twice:
 * the second waits, then finds the entry staged. After staging, the least
 * recently used blobs (by mtime, which every hit touches) are evicted until
 * the store fits its byte budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StagingStore } from "./store.ts";
 * import { openStageSource } from "./sources.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/w.bin`, new Uint8Array(100_000).fill(7));
 * const store = new StagingStore({ root: `${dir}/staging`, chunkSize: 16384 });
 * const source = await openStageSource(`${dir}/w.bin`);
 * const first = await store.stage(source);
 * assert.equal(first.hit, false);
 * assert.equal(first.bytesFromSource, 100_000);
 * const again = await store.stage(source);
 * assert.ok(again.hit && again.path === first.path && again.bytesFromSource === 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { acquireLock, type LockOptions } from "./lock.ts";
import type { StageSource } from "./sources.ts";

/** Bytes per range read from the source. @default 16 MiB */
export const STAGE_CHUNK = 16 << 20;
/** Ranges in flight. @default 4 */
export const STAGE_READERS = 4;
/** Attempts after the first at each range. @default 3 */
export const STAGE_RETRIES = 3;
/** Wait before the first retry; doubled each time. @default 50 ms */
export const STAGE_RETRY_DELAY_MS = 50;

/** A partial copy being written. */
export interface PartFile {
  /** Writes all of `bytes` at `offset`. */
  writeAt(offset: number, bytes: Uint8Array): Promise<void>;
  /** Flushes the data to the device. */
  sync(): Promise<void>;
  close(): void;
}

/** How partial copies are written: files by default; tests inject failures (a full disk). */
export interface PartWriter {
  /** Opens (creating if needed) the partial copy at `path`, sized to `size` bytes. */
  open(path: string, size: number): Promise<PartFile>;
}

/** Writes partial copies as files, each range through its own handle. */
export const fileWriter: PartWriter = {
  async open(path, size) {
    {
      using file = await Deno.open(path, { write: true, create: true });
      await file.truncate(size);
    }
    return {
      async writeAt(offset, bytes) {
        using file = await Deno.open(path, { write: true });
        await file.seek(offset, Deno.SeekMode.Start);
        for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      },
      async sync() {
        using file = await Deno.open(path, { write: true });
        await file.syncData();
      },
      close() {},
    };
  },
};

/** Options of a {@link StagingStore}. */
export interface StagingStoreOptions {
  /** The staging folder. */
  readonly root: string;
  /** Largest total size of the blobs; 0 for no limit. @default 0 */
  readonly budgetBytes?: number;
  /** @default {@link STAGE_READERS} */
  readonly readers?: number;
  /** @default {@link STAGE_CHUNK} */
  readonly chunkSize?: number;
  /** @default {@link STAGE_RETRIES} */
  readonly retries?: number;
  /** @default {@link STAGE_RETRY_DELAY_MS} */
  readonly retryDelayMs?: number;
  /** @default {@link fileWriter} */
  readonly writer?: PartWriter;
  /** How to wait for and break entry locks. */
  readonly lock?: Omit<LockOptions, "check" | "signal">;
}

/** A staged copy. */
export interface StageResult {
  /** The copy to load from. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Already staged before this call (by an earlier run, or by one this call waited for). */
  readonly hit: boolean;
  /** Bytes this call read from the source. */
  readonly bytesFromSource: number;
  /** Bytes of an interrupted earlier copy that this call kept. */
  readonly resumedBytes: number;
  /** How the copy was checked: against a published SHA-256, or its size alone. */
  readonly verifiedBy: string;
}

/** Staging failed: the source's bytes were wrong, or the copy could not be written. */
export class StagingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StagingError";
  }
}

interface Ref {
  readonly identity: string;
  readonly location: string;
  readonly sha256: string;
  readonly size: number;
  readonly verifiedBy: string;
  readonly stagedAt: string;
}

interface Journal {
  readonly identity: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly done: readonly number[];
}

/** Staged copies of source files in a local folder. */
export class StagingStore {
  readonly root: string;
  readonly budgetBytes: number;
  readonly readers: number;
  readonly chunkSize: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly #writer: PartWriter;
  readonly #lock: Omit<LockOptions, "check" | "signal">;

  constructor(options: StagingStoreOptions) {
    this.root = options.root;
    this.budgetBytes = options.budgetBytes ?? 0;
    this.readers = Math.max(1, options.readers ?? STAGE_READERS);
    this.chunkSize = Math.max(1, options.chunkSize ?? STAGE_CHUNK);
    this.retries = Math.max(0, options.retries ?? STAGE_RETRIES);
    this.retryDelayMs = options.retryDelayMs ?? STAGE_RETRY_DELAY_MS;
    this.#writer = options.writer ?? fileWriter;
    this.#lock = options.lock ?? {};
  }

  /** The key of a source in `refs/`, `tmp/` and `locks/`. */
  static key(source: StageSource): string {
    return createHash("sha256").update(source.identity).digest("hex").slice(0, 32);
  }

  /** The staged copy of `source` if there is one (and marks it used), else `undefined`. */
  async lookup(source: StageSource): Promise<StageResult | undefined> {
    const key = StagingStore.key(source);
    const ref = await this.#readRef(key);
    if (ref === undefined || ref.identity !== source.identity || ref.size !== source.size) {
      return undefined;
    }
    const path = this.#blobPath(ref.sha256, ref.size);
    try {
      const info = await Deno.stat(path);
      if (info.size !== ref.size) throw new Deno.errors.NotFound();
      const now = new Date();
      await Deno.utime(path, now, now);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      await Deno.remove(join(this.root, "refs", `${key}.json`)).catch(() => {});
      return undefined;
    }
    return {
      path,
      sha256: ref.sha256,
      size: ref.size,
      hit: true,
      bytesFromSource: 0,
      resumedBytes: 0,
      verifiedBy: ref.verifiedBy,
    };
  }

  /** The copy of `source`: the staged one, or a new one staged now. */
  async stage(source: StageSource, signal?: AbortSignal): Promise<StageResult> {
    const hit = await this.lookup(source);
    if (hit !== undefined) return hit;
    await this.#ensureFolders();
    const key = StagingStore.key(source);
    let found: StageResult | undefined;
    const lock = await acquireLock(join(this.root, "locks", `${key}.lock`), {
      ...this.#lock,
      ...(signal === undefined ? {} : { signal }),
      check: async () => (found = await this.lookup(source)) !== undefined,
    });
    if (lock === undefined) return found!;
    try {
      const again = await this.lookup(source);
      if (again !== undefined) return again;
      let copy: { sha256: string; bytesFromSource: number; resumedBytes: number };
      try {
        copy = await this.#copy(source, key, signal);
      } catch (error) {
        if (!(error instanceof CorruptCopy) || error.resumedBytes === 0) throw unwrapCorrupt(error);
        // Kept ranges may be what was wrong: start over once, from nothing.
        copy = await this.#copy(source, key, signal).catch((again) => {
          throw unwrapCorrupt(again);
        });
      }
      const expected = await source.published();
      const verifiedBy = expected === undefined
        ? "size only (the source publishes no SHA-256)"
        : `sha256 from ${expected.from}`;
      const path = this.#blobPath(copy.sha256, source.size);
      await Deno.rename(this.#partPath(key), path);
      await Deno.remove(this.#journalPath(key)).catch(() => {});
      const ref: Ref = {
        identity: source.identity,
        location: source.location,
        sha256: copy.sha256,
        size: source.size,
        verifiedBy,
        stagedAt: new Date().toISOString(),
      };
      await writeFileAtomic(join(this.root, "refs", `${key}.json`), JSON.stringify(ref) + "\n");
      await this.evict(new Set([path]));
      return {
        path,
        sha256: copy.sha256,
        size: source.size,
        hit: false,
        bytesFromSource: copy.bytesFromSource,
        resumedBytes: copy.resumedBytes,
        verifiedBy,
      };
    } finally {
      await lock.release();
    }
  }

  /**
   * Empties the entry of `source`, as on a machine that never staged it: its
   * ref, its blob (unless another ref shares it) and any partial copy.
   */
  async remove(source: StageSource): Promise<void> {
    const key = StagingStore.key(source);
    const ref = await this.#readRef(key);
    await removeIfThere(join(this.root, "refs", `${key}.json`));
    await removeIfThere(this.#partPath(key));
    await removeIfThere(this.#journalPath(key));
    if (ref === undefined) return;
    for (const other of await this.#refs()) {
      if (other.sha256 === ref.sha256 && other.size === ref.size) return;
    }
    await removeIfThere(this.#blobPath(ref.sha256, ref.size));
  }

  /**
   * Removes the least recently used blobs (oldest mtime first), never those
   * in `keep`, until the blobs fit the budget; returns the paths removed.
   */
  async evict(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    if (this.budgetBytes <= 0) return [];
    const blobs = await this.blobs();
    let total = blobs.reduce((n, b) => n + b.size, 0);
    const removed: string[] = [];
    for (const blob of blobs.sort((a, b) => a.mtime - b.mtime)) {
      if (total <= this.budgetBytes) break;
      if (keep.has(blob.path)) continue;
      await removeIfThere(blob.path);
      total -= blob.size;
      removed.push(blob.path);
    }
    return removed;
  }

  /** Every blob with its size and last use. */
  async blobs(): Promise<{ path: string; size: number; mtime: number }[]> {
    const dir = join(this.root, "blobs");
    const list: { path: string; size: number; mtime: number }[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile) continue;
        const path = join(dir, entry.name);
        const info = await Deno.stat(path).catch(() => undefined);
        if (info) list.push({ path, size: info.size, mtime: info.mtime?.getTime() ?? 0 });
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return list;
  }

  async #copy(
    source: StageSource,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<{ sha256: string; bytesFromSource: number; resumedBytes: number }> {
    const partPath = this.#partPath(key);
    const journalPath = this.#journalPath(key);
    const ranges = Math.ceil(source.size / this.chunkSize);
    const journal = await this.#readJournal(journalPath);
    const kept = journal !== undefined && journal.identity === source.identity &&
        journal.size === source.size && journal.chunkSize === this.chunkSize &&
        (await Deno.stat(partPath).then((i) => i.size === source.size, () => false))
      ? new Set(journal.done.filter((i) => Number.isInteger(i) && i >= 0 && i < ranges))
      : new Set<number>();
    if (kept.size === 0) {
      await removeIfThere(partPath);
      await removeIfThere(journalPath);
    }
    const rangeLength = (i: number) => Math.min(this.chunkSize, source.size - i * this.chunkSize);
    let resumedBytes = 0;
    for (const i of kept) resumedBytes += rangeLength(i);

    let part: PartFile;
    try {
      part = await this.#writer.open(partPath, source.size);
    } catch (error) {
      await this.#discard(key);
      throw writeFailure(source, error);
    }
    const done = new Set(kept);
    let bytesFromSource = 0;
    let journalWrite = Promise.resolve();
    const saveJournal = () => {
      const snapshot: Journal = {
        identity: source.identity,
        size: source.size,
        chunkSize: this.chunkSize,
        done: [...done].sort((a, b) => a - b),
      };
      journalWrite = journalWrite.then(() =>
        Deno.writeTextFile(`${journalPath}.tmp`, JSON.stringify(snapshot)).then(() =>
          Deno.rename(`${journalPath}.tmp`, journalPath)
        )
      );
      return journalWrite;
    };
    const todo = Array.from({ length: ranges }, (_, i) => i).filter((i) => !done.has(i));
    let next = 0;
    let failure: { error: unknown; write: boolean } | undefined;
    const lane = async () => {
      while (failure === undefined && next < todo.length) {
        const i = todo[next++]!;
        let bytes: Uint8Array;
        try {
          bytes = await this.#readWithRetries(source, i * this.chunkSize, rangeLength(i), signal);
        } catch (error) {
          failure ??= { error, write: false };
          return;
        }
        try {
          await part.writeAt(i * this.chunkSize, bytes);
        } catch (error) {
          failure ??= { error, write: true };
          return;
        }
        bytesFromSource += bytes.length;
        done.add(i);
        await saveJournal().catch(() => {});
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.readers, Math.max(1, todo.length)) }, lane),
    );
    await journalWrite.catch(() => {});
    if (failure === undefined) {
      try {
        await part.sync();
      } catch (error) {
        failure = { error, write: true };
      }
    }
    part.close();
    if (failure !== undefined) {
      if (failure.write) {
        await this.#discard(key);
        throw writeFailure(source, failure.error);
      }
      throw new StagingError(
        `Cannot stage "${source.location}": ${
          describe(failure.error)
        } (${done.size} of ${ranges} ranges copied; the next try resumes)`,
        { cause: failure.error },
      );
    }
    const sha256 = await hashFile(partPath);
    const expected = await source.published();
    if (expected !== undefined && sha256 !== expected.sha256) {
      await this.#discard(key);
      throw new CorruptCopy(
        `Cannot stage "${source.location}": the copy's sha256 is ${sha256}, but ${expected.from} says ${expected.sha256}; nothing was kept`,
        resumedBytes,
      );
    }
    return { sha256, bytesFromSource, resumedBytes };
  }

  async #readWithRetries(
    source: StageSource,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    for (let attempt = 0;; attempt++) {
      try {
        return await source.readRange(offset, length, signal);
      } catch (error) {
        if (attempt >= this.retries || signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** attempt));
      }
    }
  }

  async #discard(key: string): Promise<void> {
    await removeIfThere(this.#partPath(key));
    await removeIfThere(this.#journalPath(key));
    await removeIfThere(`${this.#journalPath(key)}.tmp`);
  }

  async #ensureFolders(): Promise<void> {
    for (const sub of ["blobs", "refs", "tmp", "locks"]) {
      await Deno.mkdir(join(this.root, sub), { recursive: true });
    }
  }

  async #readRef(key: string): Promise<Ref | undefined> {
    try {
      const ref = JSON.parse(await Deno.readTextFile(join(this.root, "refs", `${key}.json`)));
      return typeof ref?.sha256 === "string" && /^[0-9a-f]{64}$/.test(ref.sha256) &&
          Number.isSafeInteger(ref.size)
        ? ref as Ref
        : undefined;
    } catch {
      return undefined;
    }
  }

  async #refs(): Promise<Ref[]> {
    const refs: Ref[] = [];
    try {
      for await (const entry of Deno.readDir(join(this.root, "refs"))) {
        if (!entry.name.endsWith(".json")) continue;
        const ref = await this.#readRef(entry.name.slice(0, -5));
        if (ref) refs.push(ref);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return refs;
  }

  async #readJournal(path: string): Promise<Journal | undefined> {
    try {
      const journal = JSON.parse(await Deno.readTextFile(path)) as Journal;
      return Array.isArray(journal.done) ? journal : undefined;
    } catch {
      return undefined;
    }
  }

  #blobPath(sha256: string, size: number): string {
    return join(this.root, "blobs", `${sha256}-${size}`);
  }

  #partPath(key: string): string {
    return join(this.root, "tmp", `${key}.part`);
  }

  #journalPath(key: string): string {
    return join(this.root, "tmp", `${key}.part.json`);
  }
}

class CorruptCopy extends StagingError {
  constructor(message: string, readonly resumedBytes: number) {
    super(message);
  }
}

function unwrapCorrupt(error: unknown): unknown {
  return error instanceof CorruptCopy ? new StagingError(error.message) : error;
}

function writeFailure(source: StageSource, error: unknown): StagingError {
  const code = (error as { code?: string } | null)?.code;
  const full = code === "ENOSPC" || /no space left/i.test(describe(error));
  return new StagingError(
    `Cannot stage "${source.location}": ${
      full ? "no space left on the staging device" : "writing the copy failed"
    } (${describe(error)}); the partial copy was removed`,
    { cause: error },
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(8 << 20);
  for (;;) {
    const got = await file.read(buffer);
    if (got === null || got === 0) break;
    hash.update(buffer.subarray(0, got));
  }
  return hash.digest("hex");
}
