/**
 * A lock file, so two runs (processes, or loads in one process) never stage
 * one entry twice: created with `O_EXCL` (`createNew`), holding the owner's
 * pid, host, process start time and creation time, and touched while held
 * (a heartbeat). A waiter polls until the lock goes, asking its caller each
 * time whether the work is already done (another run staged the entry).
 *
 * A lock is stale, and is broken, when its owner is on this host and its
 * process is gone (or is another process with the same pid: the start time
 * differs), or when its heartbeat is older than `staleMs` (an owner on
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
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { readProcText } from "../ffi/procfs.ts";

/** A heartbeat older than this marks a lock stale. @default 30 s */
export const LOCK_STALE_MS = 30_000;
/** How often a waiter looks again. @default 50 ms */
export const LOCK_POLL_MS = 50;
/** Give up waiting after this long. @default 30 min */
export const LOCK_TIMEOUT_MS = 30 * 60_000;

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
  /** Stops waiting. */
  readonly signal?: AbortSignal;
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
      throw new Error(`Timed out waiting for the lock "${path}" held by ${await describe(path)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
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
    owner = undefined; // being written, or garbage: judged by age alone
  }
  if (owner && owner.host === hostname() && Number.isSafeInteger(owner.pid)) {
    const start = processStartTime(owner.pid);
    if (start === null) return true;
    if (owner.startTime !== null && start !== owner.startTime) return true;
  }
  return Date.now() - mtime > staleMs;
}

async function tryCreate(path: string, staleMs: number): Promise<Lock | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return undefined;
    throw error;
  }
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(currentOwner())));
  } finally {
    file.close();
  }
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

/** The start time of process `pid` in clock ticks since boot, or null when there is no such process. */
export function processStartTime(pid: number): string | null {
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === undefined) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null;
}
