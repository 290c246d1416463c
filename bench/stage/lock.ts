/**
 * A lock file, so two runs (processes, or loads in one process) never stage
 * one entry twice: created complete and exclusively (written beside, then
 * hard-linked to its name, which fails when the name exists), holding the
 * owner's pid, host, process start time and creation time, and touched while
 * held (a heartbeat). A waiter polls until the lock goes, asking its caller
 * each time whether the work is already done (another run staged the entry),
 * and tells its caller when it starts waiting and when it stops, so the wait
 * can be timed as a wait, not as work.
 *
 * A lock is stale, and is broken at once, when its owner is on this host and
 * its process is gone (or is another process with the same pid: the start
 * time differs), when it is empty or unreadable for longer than
 * {@link LOCK_WRITE_GRACE_MS} (a lock left half-made by a full disk or an
 * older version), or when its heartbeat is older than `staleMs` (an owner on
 * another host sharing the folder). Breaking renames the lock to a unique
 * name first, so of two waiters breaking at once only one succeeds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acquireLock } from "./lock.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireLock(`${dir}/entry.lock`);
 * assert.ok(lock !== undefined);
 * const second = acquireLock(`${dir}/entry.lock`, { check: () => Promise.resolve(true) });
 * assert.equal(await second, undefined); // done by someone else: no need to wait
 * await lock.release();
 *
 * await Deno.writeTextFile(`${dir}/entry.lock`, ""); // left empty by a full disk
 * await Deno.utime(`${dir}/entry.lock`, 0, 0);
 * let waited = false;
 * const taken = await acquireLock(`${dir}/entry.lock`, { onWait: () => (waited = true, () => {}) });
 * assert.ok(taken !== undefined && !waited); // broken at once, not waited out
 * await taken.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { readProcText } from "../ffi/procfs.ts";
import { EnvironmentError, isNoSpace } from "../util/errors.ts";
import { sleep } from "../util/sleep.ts";

/** A heartbeat older than this marks a lock stale. @default 30 s */
export const LOCK_STALE_MS = 30_000;
/** How often a waiter looks again. @default 50 ms */
export const LOCK_POLL_MS = 50;
/** Give up waiting after this long. @default 30 min */
export const LOCK_TIMEOUT_MS = 30 * 60_000;
/** An empty or unreadable lock older than this was left half-made: stale. @default 500 ms */
export const LOCK_WRITE_GRACE_MS = 500;

/** What a lock file holds. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** The owner process's start time (field 22 of /proc/PID/stat), to tell a reused pid. */
  readonly startTime: string | null;
  /** Epoch ms when the lock was taken. */
  readonly createdAt: number;
}

/** Options of {@link acquireLock}. */
export interface LockOptions {
  /** @default {@link LOCK_STALE_MS} */
  readonly staleMs?: number;
  /** @default {@link LOCK_POLL_MS} */
  readonly pollMs?: number;
  /** @default {@link LOCK_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /**
   * Asked before each wait: true when what the lock guards has been done by
   * its holder, so the caller needs neither the lock nor to wait.
   */
  readonly check?: () => Promise<boolean>;
  /** Stops waiting; its reason is thrown. */
  readonly signal?: AbortSignal;
  /**
   * Called when the lock is held by another owner and waiting begins; the
   * function it returns is called when the wait ends (lock taken, work found
   * done, or given up).
   */
  readonly onWait?: () => () => void;
}

/** A held lock; `release()` removes it and is safe to call twice. */
export interface Lock extends AsyncDisposable {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes the lock at `path`, waiting while another owner holds it; returns
 * `undefined` without the lock when `check` says the work was done meanwhile.
 */
export async function acquireLock(
  path: string,
  options: LockOptions = {},
): Promise<Lock | undefined> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const pollMs = options.pollMs ?? LOCK_POLL_MS;
  const deadline = Date.now() + (options.timeoutMs ?? LOCK_TIMEOUT_MS);
  let endWait: (() => void) | undefined;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      if (await options.check?.()) return undefined;
      const lock = await tryCreate(path, staleMs);
      if (lock !== undefined) return lock;
      if (await isStale(path, staleMs)) {
        await breakLock(path);
        continue;
      }
      if (Date.now() > deadline) {
        throw new EnvironmentError(
          `Timed out waiting for the lock "${path}" held by ${await describe(path)}`,
        );
      }
      endWait ??= options.onWait?.() ?? (() => {});
      await sleep(pollMs, options.signal);
    }
  } finally {
    endWait?.();
  }
}

/** This process as a lock owner. */
export function currentOwner(): LockOwner {
  return {
    pid: Deno.pid,
    host: hostname(),
    startTime: processStartTime(Deno.pid),
    createdAt: Date.now(),
  };
}

/** Whether the lock at `path` is stale (its owner is gone, or its heartbeat too old). */
export async function isStale(path: string, staleMs: number = LOCK_STALE_MS): Promise<boolean> {
  let text: string;
  let mtime: number;
  try {
    text = await Deno.readTextFile(path);
    mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false; // released meanwhile: try again
    throw error;
  }
  let owner: LockOwner | undefined;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    owner = undefined;
  }
  if (owner === undefined || typeof owner !== "object" || owner === null) {
    // Empty or garbage: left half-made (a full disk, an older version); give a writer a moment.
    return Date.now() - mtime > LOCK_WRITE_GRACE_MS;
  }
  if (owner.host === hostname() && Number.isSafeInteger(owner.pid)) {
    const start = processStartTime(owner.pid);
    if (start === null) return true;
    if (owner.startTime !== null && start !== owner.startTime) return true;
  }
  return Date.now() - mtime > staleMs;
}

async function tryCreate(path: string, staleMs: number): Promise<Lock | undefined> {
  // Written in full beside the lock, then linked to its name: no one ever sees a partial lock.
  const draft = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.draft`);
  try {
    await Deno.writeTextFile(draft, JSON.stringify(currentOwner()), {
      createNew: true,
      mode: 0o644,
    });
    try {
      await Deno.link(draft, path);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return undefined;
      if (isNoSpace(error)) throw error;
      // No hard links here: an exclusive create, then the contents.
      const text = await Deno.readTextFile(draft);
      try {
        await Deno.writeTextFile(path, text, { createNew: true, mode: 0o644 });
      } catch (again) {
        if (again instanceof Deno.errors.AlreadyExists) return undefined;
        await Deno.remove(path).catch(() => {});
        throw again;
      }
    }
  } catch (error) {
    if (isNoSpace(error)) {
      throw new EnvironmentError(
        `Cannot take the lock "${path}": no space left on the device`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await Deno.remove(draft).catch(() => {});
  }
  const mine = await Deno.readTextFile(path).catch(() => "");
  const beat = setInterval(() => {
    const now = new Date();
    Deno.utime(path, now, now).catch(() => {});
  }, Math.max(10, Math.floor(staleMs / 3)));
  Deno.unrefTimer(beat);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    clearInterval(beat);
    // Broken as stale and taken by another owner meanwhile: that lock is theirs to remove.
    if ((await Deno.readTextFile(path).catch(() => mine)) !== mine) return;
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  };
  return { path, release, [Symbol.asyncDispose]: release };
}

async function breakLock(path: string): Promise<void> {
  const aside = `${path}.stale-${crypto.randomUUID()}`;
  try {
    await Deno.rename(path, aside);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // another waiter broke it first
    throw error;
  }
  await Deno.remove(aside).catch(() => {});
}

async function describe(path: string): Promise<string> {
  try {
    const owner = JSON.parse(await Deno.readTextFile(path)) as LockOwner;
    return `pid ${owner.pid} on "${owner.host}" since ${new Date(owner.createdAt).toISOString()}`;
  } catch {
    return "an unknown owner";
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Whether process `pid` runs on this host and, when `startTime` is given, is the one that started then. */
export function processAlive(pid: number, startTime?: string | null): boolean {
  const start = processStartTime(pid);
  if (start === null) return false;
  return startTime === undefined || startTime === null || start === startTime;
}

/** The start time of process `pid` in clock ticks since boot, or null when there is no such process. */
export function processStartTime(pid: number): string | null {
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === undefined) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null;
}
