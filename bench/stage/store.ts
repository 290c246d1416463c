/**
 * A local staging store: copies of files from a slower source tier, kept in
 * a folder on fast local storage (NVMe), so later loads read the copy. Runs
 * may share one store: every change to it takes the entry's lock or is an
 * atomic rename into place, and no run deletes what another is writing or
 * reading.
 *
 * ```
 * ROOT/blobs/SHA256-SIZE        content-addressed copies, promoted only once verified
 * ROOT/refs/KEY.json            source identity → blob, and how the blob was verified
 * ROOT/tmp/KEY.part             a copy in progress, at its final size (sparse)
 * ROOT/tmp/KEY.part.json        the ranges of it already written, each with its SHA-256
 * ROOT/locks/KEY.lock           held while KEY is staged, re-staged or removed
 * ROOT/pins/PID-START/BLOB      hard links to the blobs a live process loads from
 * ```
 *
 * **Copying.** A source that takes range requests is read in `chunkSize`
 * ranges with `readers` in flight, each written in place and journaled with
 * its hash, so a transfer cut short (a dropped connection, a killed process)
 * resumes with the ranges still missing — after re-hashing the ones it keeps.
 * A server that ignores ranges is streamed whole, in order, hashed as it
 * comes (a retry starts again from the first byte not yet received). Free
 * space is checked before the first byte; a write that still fails (a full
 * disk) deletes the partial copy and says how much was needed.
 *
 * **Nothing enters unverified.** The finished copy's SHA-256 must match the
 * one the source publishes; where it publishes none, an HTTP source is read a
 * second time and must hash the same, and a local one must keep its size,
 * mtime and inode from before the copy to after. Only then is the copy
 * renamed into `blobs/` under its own digest. The digest is checked again
 * the first time a process uses a blob (a blob that fails is evicted and
 * staged anew); refs of blobs an older version staged without a check are
 * not trusted.
 *
 * **Sharing.** A lock per entry (`lock.ts`) keeps two runs from staging one
 * entry twice: the second waits (reported through `onWait`, so a caller can
 * time it as a wait), then finds the entry staged. A process loads from a
 * pin — a hard link to the blob in its own `pins/` folder — so another run
 * re-staging, removing or evicting that blob never pulls it from under a
 * load. Pins of processes that are gone, abandoned partial copies and stale
 * locks are swept by {@link StagingStore.collectGarbage} (`deno task stage
 * --gc`); {@link StagingStore.verifyAll} re-hashes every blob
 * (`deno task stage --verify`). After staging, the least recently used blobs
 * (by mtime, which every hit touches) are evicted until the store fits its
 * byte budget.
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
 * assert.match(first.verifiedBy, /unchanged while copied/);
 * const again = await store.stage(source);
 * assert.ok(again.hit && again.blob === first.blob && again.bytesFromSource === 0);
 * assert.deepEqual(await Deno.readFile(again.path), await Deno.readFile(`${dir}/w.bin`));
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { requireFreeSpace } from "../util/disk.ts";
import { EnvironmentError, isNoSpace } from "../util/errors.ts";
import { formatBytes } from "../util/size.ts";
import { acquireLock, isStale, type LockOptions, processAlive, processStartTime } from "./lock.ts";
import type { StageSource } from "./sources.ts";

/** Bytes per range read from the source. @default 16 MiB */
export const STAGE_CHUNK = 16 << 20;
/** Ranges in flight. @default 4 */
export const STAGE_READERS = 4;
/** Attempts after the first at a transient fault of a range. @default 3 */
export const STAGE_RETRIES = 3;
/** Wait before the first retry; doubled each time (local sources; HTTP has its own). @default 50 ms */
export const STAGE_RETRY_DELAY_MS = 50;
/** The layout of refs this version trusts; older refs are staged anew. */
const REF_VERSION = 2;

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
  readonly lock?: Omit<LockOptions, "check" | "signal" | "onWait">;
}

/** What one call may be given. */
export interface StageOptions {
  /** Stops a copy or a wait within a poll; its reason is thrown and a partial copy is kept. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Copy from the source even when the entry is staged (a cold start: what a
   * machine that never staged it pays); the new copy replaces the blob
   * atomically, and runs loading the old one keep it through their pins.
   */
  readonly fresh?: boolean;
  /** Told when the call starts waiting for another run's lock; the returned function when it stops. */
  readonly onWait?: () => () => void;
}

/** A staged copy. */
export interface StageResult {
  /** The copy to load from: this process's pin of the blob (the blob itself where links fail). */
  readonly path: string;
  /** The blob in the store. */
  readonly blob: string;
  readonly sha256: string;
  readonly size: number;
  /** Already staged before this call (by an earlier run, or by one this call waited for). */
  readonly hit: boolean;
  /** Bytes this call copied from the source. */
  readonly bytesFromSource: number;
  /** Bytes read from the source a second time to check the copy (sources with no SHA-256). */
  readonly checkBytesFromSource: number;
  /** Bytes of an interrupted earlier copy that this call kept, after re-hashing them. */
  readonly resumedBytes: number;
  /** How the copy was checked before it entered the store. */
  readonly verifiedBy: string;
}

/** Staging failed: the source's bytes were wrong, or the copy could not be written. Exits 3. */
export class StagingError extends EnvironmentError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StagingError";
  }
}

/** What {@link StagingStore.verifyAll} found. */
export interface VerifyReport {
  /** Blobs whose content matches their digest. */
  readonly good: number;
  /** Blobs that did not, evicted (with their refs). */
  readonly evicted: readonly string[];
  /** Refs whose blob is gone, removed. */
  readonly danglingRefs: number;
  /** Refs from a version that staged without checking, removed. */
  readonly untrustedRefs: number;
  readonly bytes: number;
}

/** What {@link StagingStore.collectGarbage} removed. */
export interface GarbageReport {
  /** Partial copies (and their journals) no live run was writing. */
  readonly partialCopies: number;
  readonly partialBytes: number;
  /** Locks whose owner is gone, or left half-made. */
  readonly staleLocks: number;
  /** Pin folders of processes that are gone, and other leftovers (drafts, temporary files). */
  readonly tempEntries: number;
}

interface Ref {
  readonly version: number;
  readonly identity: string;
  readonly location: string;
  readonly sha256: string;
  readonly size: number;
  readonly verifiedBy: string;
  readonly stagedAt: string;
}

interface Journal {
  readonly version: number;
  readonly identity: string;
  readonly size: number;
  readonly chunkSize: number;
  /** Range index → SHA-256 of the bytes written there. */
  readonly ranges: Readonly<Record<string, string>>;
}

interface Copy {
  readonly sha256: string;
  readonly bytesFromSource: number;
  readonly checkBytesFromSource: number;
  readonly resumedBytes: number;
  readonly verifiedBy: string;
}

/** Blobs checked against their digest in this process: path → inode (a re-staged blob is checked anew). */
const checkedBlobs = new Map<string, number | null>();
/** Stores whose dead processes' pins this process has swept. */
const sweptRoots = new Set<string>();

/** Staged copies of source files in a local folder. */
export class StagingStore {
  readonly root: string;
  readonly budgetBytes: number;
  readonly readers: number;
  readonly chunkSize: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly #writer: PartWriter;
  readonly #lock: Omit<LockOptions, "check" | "signal" | "onWait">;

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

  /**
   * The staged copy of `source` if there is one (marked used, and pinned for
   * this process), else `undefined`. The first use of a blob in a process
   * re-hashes it; one whose bytes no longer match its digest is evicted.
   */
  async lookup(source: StageSource): Promise<StageResult | undefined> {
    const key = StagingStore.key(source);
    const ref = await this.#readRef(key);
    if (ref === undefined || ref.identity !== source.identity || ref.size !== source.size) {
      return undefined;
    }
    const blob = this.#blobPath(ref.sha256, ref.size);
    const path = await this.#pin(blob);
    if (path === undefined) return undefined; // the blob is gone: stage it anew
    if (!(await this.#checkOnce(path, ref))) {
      await removeIfThere(blob);
      await removeIfThere(join(this.root, "refs", `${key}.json`));
      await removeIfThere(path);
      return undefined;
    }
    const now = new Date();
    await Deno.utime(blob, now, now).catch(() => {});
    return {
      path,
      blob,
      sha256: ref.sha256,
      size: ref.size,
      hit: true,
      bytesFromSource: 0,
      checkBytesFromSource: 0,
      resumedBytes: 0,
      verifiedBy: ref.verifiedBy,
    };
  }

  /** The copy of `source`: the staged one, or a new one staged now (always new with `fresh`). */
  async stage(source: StageSource, options: StageOptions = {}): Promise<StageResult> {
    const { signal, fresh = false } = options;
    await this.#sweepDeadPins();
    if (!fresh) {
      const hit = await this.lookup(source);
      if (hit !== undefined) return hit;
    }
    await this.#ensureFolders();
    const key = StagingStore.key(source);
    let found: StageResult | undefined;
    const lock = await acquireLock(this.#lockPath(key), {
      ...this.#lock,
      ...(signal === undefined ? {} : { signal }),
      ...(options.onWait === undefined ? {} : { onWait: options.onWait }),
      ...(fresh ? {} : { check: async () => (found = await this.lookup(source)) !== undefined }),
    });
    if (lock === undefined) return found!;
    try {
      if (!fresh) {
        const again = await this.lookup(source);
        if (again !== undefined) return again;
      }
      let copy: Copy;
      try {
        copy = await this.#copy(source, key, signal);
      } catch (error) {
        if (!(error instanceof CorruptCopy) || error.resumedBytes === 0) throw unwrapCorrupt(error);
        // Kept ranges may be what was wrong: start over once, from nothing.
        copy = await this.#copy(source, key, signal).catch((again) => {
          throw unwrapCorrupt(again);
        });
      }
      const blob = this.#blobPath(copy.sha256, source.size);
      await Deno.rename(this.#partPath(key), blob);
      // Pinned at once: from here on, no other run's eviction can take it from this load.
      const path = await this.#pin(blob);
      if (path === undefined) {
        throw new StagingError(
          `Cannot stage "${source.location}": another run evicted the copy as it was made (the store's budget is too small for the runs sharing it)`,
        );
      }
      await removeIfThere(this.#journalPath(key));
      checkedBlobs.set(blob, await inode(blob));
      const ref: Ref = {
        version: REF_VERSION,
        identity: source.identity,
        location: source.location,
        sha256: copy.sha256,
        size: source.size,
        verifiedBy: copy.verifiedBy,
        stagedAt: new Date().toISOString(),
      };
      await writeFileAtomic(join(this.root, "refs", `${key}.json`), JSON.stringify(ref) + "\n");
      await this.evict(new Set([blob]));
      return {
        path,
        blob,
        sha256: copy.sha256,
        size: source.size,
        hit: false,
        bytesFromSource: copy.bytesFromSource,
        checkBytesFromSource: copy.checkBytesFromSource,
        resumedBytes: copy.resumedBytes,
        verifiedBy: copy.verifiedBy,
      };
    } finally {
      await lock.release();
    }
  }

  /**
   * Empties the entry of `source`, as on a machine that never staged it —
   * its ref, any partial copy, its blob unless another ref shares it — under
   * the entry's lock, so a copy another run is making is waited for, never
   * deleted. Runs loading the blob keep it through their pins.
   */
  async remove(source: StageSource, options: StageOptions = {}): Promise<void> {
    const key = StagingStore.key(source);
    const ref = await this.#readRef(key);
    const locks = join(this.root, "locks");
    if (ref === undefined && !(await exists(this.#partPath(key)))) return;
    await Deno.mkdir(locks, { recursive: true });
    const lock = await acquireLock(this.#lockPath(key), {
      ...this.#lock,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onWait === undefined ? {} : { onWait: options.onWait }),
    });
    try {
      const current = (await this.#readRef(key)) ?? ref;
      await removeIfThere(join(this.root, "refs", `${key}.json`));
      await this.#discard(key);
      if (current === undefined) return;
      const blob = this.#blobPath(current.sha256, current.size);
      await removeIfThere(join(this.#pinFolder(), `${current.sha256}-${current.size}`));
      for (const other of await this.#refs()) {
        if (other.sha256 === current.sha256 && other.size === current.size) return;
      }
      await removeIfThere(blob);
    } finally {
      await lock!.release();
    }
  }

  /**
   * Removes the least recently used blobs (oldest mtime first), never those
   * in `keep`, until the blobs fit the budget; returns the paths removed.
   * Runs loading a removed blob keep it through their pins.
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
    const list: { path: string; size: number; mtime: number }[] = [];
    for (const name of await listNames(join(this.root, "blobs"))) {
      const path = join(this.root, "blobs", name);
      const info = await Deno.stat(path).catch(() => undefined);
      if (info?.isFile) list.push({ path, size: info.size, mtime: info.mtime?.getTime() ?? 0 });
    }
    return list;
  }

  /**
   * Re-hashes every blob against the digest in its name: one that fails is
   * evicted with its refs (the next run stages it anew); refs whose blob is
   * gone, or that an older version wrote without checking, are removed.
   */
  async verifyAll(signal?: AbortSignal): Promise<VerifyReport> {
    let good = 0;
    let bytes = 0;
    const evicted: string[] = [];
    const bad = new Set<string>();
    for (const name of await listNames(join(this.root, "blobs"))) {
      signal?.throwIfAborted();
      const match = /^([0-9a-f]{64})-(\d+)$/.exec(name);
      const path = join(this.root, "blobs", name);
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info?.isFile) continue;
      const ok = match !== null && info.size === Number(match[2]) &&
        (await hashFile(path, signal)) === match[1];
      bytes += info.size;
      if (ok) {
        good++;
        checkedBlobs.set(path, info.ino ?? null);
      } else {
        await removeIfThere(path);
        evicted.push(path);
        bad.add(name);
      }
    }
    let danglingRefs = 0;
    let untrustedRefs = 0;
    for (const name of await listNames(join(this.root, "refs"))) {
      if (!name.endsWith(".json")) continue;
      const path = join(this.root, "refs", name);
      const raw = await this.#readRef(name.slice(0, -5), { any: true });
      if (raw === undefined || raw.version !== REF_VERSION) {
        untrustedRefs++;
        await removeIfThere(path);
        continue;
      }
      const blobName = `${raw.sha256}-${raw.size}`;
      if (bad.has(blobName) || !(await exists(join(this.root, "blobs", blobName)))) {
        danglingRefs++;
        await removeIfThere(path);
      }
    }
    return { good, evicted, danglingRefs, untrustedRefs, bytes };
  }

  /**
   * Removes what no live run uses: partial copies whose entry is not locked
   * by a live run (and their journals), stale locks, pin folders of processes
   * that are gone, and leftover drafts and temporary files.
   */
  async collectGarbage(): Promise<GarbageReport> {
    let staleLocks = 0;
    for (const name of await listNames(join(this.root, "locks"))) {
      const path = join(this.root, "locks", name);
      if (name.endsWith(".lock")) {
        if (await isStale(path, this.#lock.staleMs).catch(() => false)) {
          await removeIfThere(path);
          staleLocks++;
        }
      } else if (/\.(draft|stale-[\w-]+)$/.test(name) && (await olderThan(path, 60_000))) {
        await removeIfThere(path);
      }
    }
    let partialCopies = 0;
    let partialBytes = 0;
    let tempEntries = 0;
    for (const name of await listNames(join(this.root, "tmp"))) {
      const path = join(this.root, "tmp", name);
      const key = /^([0-9a-f]{32})\.part/.exec(name)?.[1];
      if (key !== undefined && (await exists(this.#lockPath(key)))) continue; // a live run's copy
      if (name.endsWith(".part")) {
        partialCopies++;
        partialBytes += (await Deno.stat(path).catch(() => undefined))?.size ?? 0;
      } else {
        tempEntries++;
      }
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
    tempEntries += await this.#sweepDeadPins(true);
    return { partialCopies, partialBytes, staleLocks, tempEntries };
  }

  async #copy(source: StageSource, key: string, signal: AbortSignal | undefined): Promise<Copy> {
    const ranged = source.size === 0 ||
      (await source.acceptsRanges({ signal, retries: this.retries }));
    const copy = ranged
      ? await this.#copyRanges(source, key, signal)
      : await this.#copyStream(source, key, signal);
    const fail = async (detail: string): Promise<never> => {
      await this.#discard(key);
      throw new CorruptCopy(
        `Cannot stage "${source.location}": ${detail}; nothing was kept`,
        copy.resumedBytes,
      );
    };
    const expected = await source.published();
    if (expected !== undefined) {
      if (copy.sha256 !== expected.sha256) {
        await fail(
          `the copy's sha256 is ${copy.sha256}, but ${expected.from} says ${expected.sha256}`,
        );
      }
      return { ...copy, checkBytesFromSource: 0, verifiedBy: `sha256 from ${expected.from}` };
    }
    // No published hash: the copy must agree with a second look at the source.
    const now = await source.currentIdentity({ signal, retries: this.retries });
    if (now !== source.identity) {
      await fail("the source changed while it was copied");
    }
    if (source.kind === "local") {
      return {
        ...copy,
        checkBytesFromSource: 0,
        verifiedBy:
          "the source unchanged while copied (size, mtime, inode; it publishes no SHA-256)",
      };
    }
    const second = createHash("sha256");
    let checkBytes = 0;
    await source.readAll((bytes) => {
      second.update(bytes);
      checkBytes += bytes.length;
    }, { signal, retries: this.retries });
    const again = second.digest("hex");
    if (again !== copy.sha256) {
      await fail(
        `the copy's sha256 is ${copy.sha256}, but a second read of the source gives ${again} (it publishes no SHA-256)`,
      );
    }
    return {
      ...copy,
      checkBytesFromSource: checkBytes,
      verifiedBy: "sha256 of a second read of the source (it publishes none)",
    };
  }

  /** A copy by ranges, several in flight, resuming the verified ranges of an earlier one. */
  async #copyRanges(
    source: StageSource,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<Omit<Copy, "verifiedBy" | "checkBytesFromSource">> {
    const partPath = this.#partPath(key);
    const journalPath = this.#journalPath(key);
    const ranges = Math.ceil(source.size / this.chunkSize);
    const rangeLength = (i: number) => Math.min(this.chunkSize, source.size - i * this.chunkSize);
    const done = new Map<number, string>();
    const journal = await this.#readJournal(journalPath);
    if (
      journal !== undefined && journal.identity === source.identity &&
      journal.size === source.size && journal.chunkSize === this.chunkSize &&
      (await Deno.stat(partPath).then((i) => i.size === source.size, () => false))
    ) {
      // Keep only the ranges whose bytes on disk still hash as journaled.
      for (const [index, sha] of Object.entries(journal.ranges)) {
        const i = Number(index);
        if (!Number.isInteger(i) || i < 0 || i >= ranges || typeof sha !== "string") continue;
        signal?.throwIfAborted();
        const bytes = await readAt(partPath, i * this.chunkSize, rangeLength(i));
        if (sha256(bytes) === sha) done.set(i, sha);
      }
    }
    if (done.size === 0) await this.#discard(key);
    let resumedBytes = 0;
    for (const i of done.keys()) resumedBytes += rangeLength(i);
    await this.#requireSpace(source, source.size - resumedBytes);

    let part: PartFile;
    try {
      part = await this.#writer.open(partPath, source.size);
    } catch (error) {
      await this.#discard(key);
      throw this.#writeFailure(source, error, source.size - resumedBytes);
    }
    let bytesFromSource = 0;
    let journalWrite = Promise.resolve();
    const saveJournal = () => {
      const snapshot: Journal = {
        version: REF_VERSION,
        identity: source.identity,
        size: source.size,
        chunkSize: this.chunkSize,
        ranges: Object.fromEntries([...done].sort((a, b) => a[0] - b[0])),
      };
      journalWrite = journalWrite.then(() =>
        writeFileAtomic(journalPath, JSON.stringify(snapshot)).catch(() => {})
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
        done.set(i, sha256(bytes));
        await saveJournal();
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.readers, Math.max(1, todo.length)) }, lane),
    );
    await journalWrite;
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
        throw this.#writeFailure(source, failure.error, source.size - resumedBytes);
      }
      if (signal?.aborted) throw signal.reason; // interrupted: the journal keeps what was done
      const reason = describe(failure.error);
      throw new StagingError(
        `${
          reason.startsWith("Cannot ") ? reason : `Cannot stage "${source.location}": ${reason}`
        } (${done.size} of ${ranges} ranges copied; the next try resumes)`,
        { cause: failure.error },
      );
    }
    return { sha256: await hashFile(partPath, signal), bytesFromSource, resumedBytes };
  }

  /** A copy of a source that cannot serve ranges: its whole body, in order, hashed as it comes. */
  async #copyStream(
    source: StageSource,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<Omit<Copy, "verifiedBy" | "checkBytesFromSource">> {
    await this.#discard(key);
    await this.#requireSpace(source, source.size);
    const partPath = this.#partPath(key);
    const hash = createHash("sha256");
    let written = 0;
    try {
      using file = await Deno.open(partPath, { write: true, createNew: true, mode: 0o644 });
      await source.readAll(async (bytes) => {
        for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
        hash.update(bytes);
        written += bytes.length;
      }, { signal, retries: this.retries });
      await file.syncData();
    } catch (error) {
      await this.#discard(key);
      if (signal?.aborted) throw signal.reason;
      if (isNoSpace(error)) throw this.#writeFailure(source, error, source.size);
      throw error;
    }
    return { sha256: hash.digest("hex"), bytesFromSource: written, resumedBytes: 0 };
  }

  async #readWithRetries(
    source: StageSource,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    if (source.kind === "http") {
      // HTTP retries transient faults itself, resuming from the last byte received.
      return await source.readRange(offset, length, { signal, retries: this.retries });
    }
    for (let attempt = 0;; attempt++) {
      try {
        return await source.readRange(offset, length, { signal });
      } catch (error) {
        if (attempt >= this.retries || signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** attempt));
      }
    }
  }

  async #requireSpace(source: StageSource, bytes: number): Promise<void> {
    try {
      await requireFreeSpace(join(this.root, "tmp"), bytes, `a copy of "${source.location}"`);
    } catch (error) {
      throw new StagingError((error as Error).message, { cause: error });
    }
  }

  #writeFailure(source: StageSource, error: unknown, needed: number): StagingError {
    const full = isNoSpace(error);
    return new StagingError(
      `Cannot stage "${source.location}" into "${this.root}": ${
        full
          ? `no space left on the device (${formatBytes(needed)} needed)`
          : `writing the copy failed (${describe(error)})`
      }; the partial copy was removed`,
      { cause: error },
    );
  }

  /**
   * A hard link to `blob` in this process's pin folder, replacing an older
   * pin of an earlier inode: the path a load reads, which no other run's
   * eviction or re-staging can remove. `undefined` when the blob is gone;
   * the blob itself where the file system refuses hard links.
   */
  async #pin(blob: string): Promise<string | undefined> {
    const folder = this.#pinFolder();
    const pin = join(folder, blob.slice(blob.lastIndexOf("/") + 1));
    const [blobInfo, pinInfo] = await Promise.all([
      Deno.stat(blob).catch(() => undefined),
      Deno.stat(pin).catch(() => undefined),
    ]);
    if (blobInfo === undefined) return undefined;
    if (pinInfo !== undefined && pinInfo.ino !== null && pinInfo.ino === blobInfo.ino) return pin;
    const draft = `${pin}.${crypto.randomUUID()}.draft`;
    try {
      await Deno.mkdir(folder, { recursive: true });
      await Deno.link(blob, draft);
      await Deno.rename(draft, pin);
      return pin;
    } catch (error) {
      await removeIfThere(draft).catch(() => {});
      if (error instanceof Deno.errors.NotFound) return (await exists(blob)) ? blob : undefined;
      return blob; // no hard links here: load the blob itself
    }
  }

  #pinFolder(): string {
    return join(this.root, "pins", `${Deno.pid}-${processStartTime(Deno.pid) ?? "0"}`);
  }

  /** Removes the pin folders of processes that are gone (once per process, or every time with `always`). */
  async #sweepDeadPins(always = false): Promise<number> {
    if (!always && sweptRoots.has(this.root)) return 0;
    sweptRoots.add(this.root);
    let removed = 0;
    for (const name of await listNames(join(this.root, "pins"))) {
      const match = /^(\d+)-(\d+)$/.exec(name);
      if (match && processAlive(Number(match[1]), match[2] === "0" ? null : match[2])) continue;
      await Deno.remove(join(this.root, "pins", name), { recursive: true }).catch(() => {});
      removed++;
    }
    return removed;
  }

  /** Whether `path` (a pin or blob of `ref`) still hashes to its digest; re-hashed once per process. */
  async #checkOnce(path: string, ref: Ref): Promise<boolean> {
    const blob = this.#blobPath(ref.sha256, ref.size);
    const ino = await inode(path);
    if (checkedBlobs.has(blob) && checkedBlobs.get(blob) === ino) return true;
    const ok = (await Deno.stat(path).then((i) => i.size, () => -1)) === ref.size &&
      (await hashFile(path)) === ref.sha256;
    if (ok) checkedBlobs.set(blob, ino);
    return ok;
  }

  async #discard(key: string): Promise<void> {
    await removeIfThere(this.#partPath(key));
    await removeIfThere(this.#journalPath(key));
  }

  async #ensureFolders(): Promise<void> {
    for (const sub of ["blobs", "refs", "tmp", "locks"]) {
      await Deno.mkdir(join(this.root, sub), { recursive: true });
    }
  }

  async #readRef(key: string, options: { any?: boolean } = {}): Promise<Ref | undefined> {
    try {
      const ref = JSON.parse(await Deno.readTextFile(join(this.root, "refs", `${key}.json`)));
      const valid = typeof ref?.sha256 === "string" && /^[0-9a-f]{64}$/.test(ref.sha256) &&
        Number.isSafeInteger(ref.size) && typeof ref.identity === "string";
      if (!valid) return undefined;
      // A ref of an older version may name a blob that was never checked: not trusted.
      return options.any || ref.version === REF_VERSION ? ref as Ref : undefined;
    } catch {
      return undefined;
    }
  }

  async #refs(): Promise<Ref[]> {
    const refs: Ref[] = [];
    for (const name of await listNames(join(this.root, "refs"))) {
      if (!name.endsWith(".json")) continue;
      const ref = await this.#readRef(name.slice(0, -5), { any: true });
      if (ref) refs.push(ref);
    }
    return refs;
  }

  async #readJournal(path: string): Promise<Journal | undefined> {
    try {
      const journal = JSON.parse(await Deno.readTextFile(path)) as Journal;
      return journal?.version === REF_VERSION && typeof journal.ranges === "object" &&
          journal.ranges !== null
        ? journal
        : undefined;
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

  #lockPath(key: string): string {
    return join(this.root, "locks", `${key}.lock`);
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function inode(path: string): Promise<number | null> {
  return (await Deno.stat(path).catch(() => undefined))?.ino ?? null;
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  const info = await Deno.lstat(path).catch(() => undefined);
  return info !== undefined && Date.now() - (info.mtime?.getTime() ?? 0) > ms;
}

async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

async function readAt(path: string, offset: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  using file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < length;) {
    const got = await file.read(bytes.subarray(done));
    if (got === null || got === 0) break;
    done += got;
  }
  return bytes;
}

async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(8 << 20);
  for (;;) {
    signal?.throwIfAborted();
    const got = await file.read(buffer);
    if (got === null || got === 0) break;
    hash.update(buffer.subarray(0, got));
  }
  return hash.digest("hex");
}
