/**
 * A wait that an abort signal ends early, rejecting with the signal's reason:
 * retries, lock polls and backoffs must not outlive a Ctrl-C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./sleep.ts";
 *
 * await sleep(1, undefined);
 * const controller = new AbortController();
 * const waiting = sleep(60_000, controller.signal);
 * controller.abort(new Error("stop"));
 * await assert.rejects(waiting, /stop/);
 * ```
 *
 * @module
 */

/** Resolves after `ms`, or rejects with `signal`'s reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
