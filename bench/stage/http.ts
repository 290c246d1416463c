/**
 * HTTP reads that survive real servers: a stall bound, retries with backoff
 * that resume from the last byte received, and one clear line when they give
 * up.
 *
 * - A request that sends nothing — no headers, or no body bytes — for
 *   {@link HttpSettings.idleMs} (30 s unless `--source-timeout` says
 *   otherwise) is aborted: `the server sent nothing for 30 s`. A slow but
 *   moving transfer is never cut.
 * - Transient faults — a 5xx, 408 or 429, a refused or reset connection, a
 *   body that ends short — are retried {@link HttpSettings.retries} times
 *   with doubling delays, each retry asking only for the bytes still missing.
 * - A server that ignores `Range` (`python3 -m http.server`) is still read:
 *   {@link readHttpAll} streams the whole body (a retry starts over and skips
 *   what it already has), and {@link fetchRange} reads a range near the start
 *   from the whole body; {@link acceptsRanges} tells a stager which to use.
 * - A body longer than announced, a `Content-Range` that is not the range
 *   asked for, or a file whose size changed are never retried and never
 *   taken: they fail at once.
 *
 * Every failure is an {@link HttpError} (an `EnvironmentError`, exit 3) whose
 * message names the URL and what the server did; an abort by the caller's
 * signal (Ctrl-C) throws the signal's reason instead, at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fetchRange, readHttpAll } from "./http.ts";
 *
 * const body = new TextEncoder().encode("hello, world");
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response(body)); // answers every GET with the whole body: no range support
 * const url = `http://127.0.0.1:${server.addr.port}/file`;
 * assert.equal(new TextDecoder().decode(await fetchRange(url, body.length, 7, 5)), "world");
 * let text = "";
 * await readHttpAll(url, body.length, (bytes) => void (text += new TextDecoder().decode(bytes)));
 * assert.equal(text, "hello, world");
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { EnvironmentError } from "../util/errors.ts";
import { sleep } from "../util/sleep.ts";

/** How HTTP sources behave in this process. */
export interface HttpSettings {
  /** A request that sends nothing for this long fails. @default {@link HTTP_IDLE_MS} */
  readonly idleMs: number;
  /** Attempts after the first at a transient fault. @default {@link HTTP_RETRIES} */
  readonly retries: number;
  /** Wait before the first retry; doubled each time. @default {@link HTTP_RETRY_DELAY_MS} */
  readonly retryDelayMs: number;
}

/** No bytes for this long is a stall. @default 30 s */
export const HTTP_IDLE_MS = 30_000;
/** Retries of a transient fault. @default 3 */
export const HTTP_RETRIES = 3;
/** First retry delay. @default 200 ms */
export const HTTP_RETRY_DELAY_MS = 200;
/** Bytes of a body read and dropped to reach a range on a server that ignores `Range`. @default 64 MiB */
export const HTTP_SKIP_LIMIT = 64 << 20;

let settings: HttpSettings = {
  idleMs: HTTP_IDLE_MS,
  retries: HTTP_RETRIES,
  retryDelayMs: HTTP_RETRY_DELAY_MS,
};

/** This process's HTTP settings. */
export function httpSettings(): HttpSettings {
  return settings;
}

/** Changes this process's HTTP settings (the CLI's `--source-timeout`); returns the old ones. */
export function configureHttp(changes: Partial<HttpSettings>): HttpSettings {
  const old = settings;
  settings = { ...settings, ...changes };
  return old;
}

/** Per-call options; unset fields take {@link httpSettings}. */
export interface HttpOptions extends Partial<HttpSettings> {
  /** Stops the request at once; its reason is thrown. */
  readonly signal?: AbortSignal | undefined;
}

/** An HTTP source failed: the message names the URL and what the server did. Exits 3. */
export class HttpError extends EnvironmentError {
  /** Whether trying again may help (a 5xx, a dropped connection). */
  readonly transient: boolean;
  /** Body bytes received before the failure, kept by the caller. */
  readonly received: number;

  constructor(
    message: string,
    options: { transient?: boolean; received?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HttpError";
    this.transient = options.transient ?? false;
    this.received = options.received ?? 0;
  }
}

/** The server answered a range request with the whole file. */
export class RangesIgnoredError extends HttpError {
  constructor(url: string) {
    super(`Cannot read "${url}": the server ignores range requests`);
    this.name = "RangesIgnoredError";
  }
}

/** A request bounded by the idle timeout and the caller's signal. */
interface Guarded {
  readonly response: Response;
  /** Reads the body, resetting the idle timer on each chunk; `false` from `sink` stops. */
  body(sink: (bytes: Uint8Array) => boolean | void | Promise<boolean | void>): Promise<void>;
  /** Ends the request (cancels an unread body, stops the timer). */
  close(): Promise<void>;
}

async function guardedFetch(
  url: string,
  init: RequestInit,
  options: HttpOptions,
): Promise<Guarded> {
  const idleMs = options.idleMs ?? settings.idleMs;
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), idleMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), idleMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  const fail = (error: unknown, received: number, announced?: number): never => {
    clearTimeout(timer);
    options.signal?.throwIfAborted();
    if (idle.signal.aborted) {
      throw new HttpError(
        `Cannot read "${url}": the server sent nothing for ${idleMs / 1000} s${
          received > 0 ? ` after ${received} bytes` : ""
        } (--source-timeout)`,
        { received },
      );
    }
    if (error instanceof HttpError) throw error;
    if (announced !== undefined && received < announced) {
      throw new HttpError(
        `Cannot read "${url}": the connection closed after ${received} of the ${announced} bytes announced`,
        { transient: true, received, cause: error },
      );
    }
    throw new HttpError(
      `Cannot read "${url}": ${
        received > 0 ? `the connection failed after ${received} bytes` : "the connection failed"
      }: ${errorText(error)}`,
      { transient: true, received, cause: error },
    );
  };
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal });
  } catch (error) {
    return fail(error, 0);
  }
  touch();
  let read = false;
  return {
    response,
    async body(sink) {
      read = true;
      let received = 0;
      const reader = response.body?.getReader();
      if (reader === undefined) return;
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            await reader.cancel().catch(() => {});
            const announced = Number(response.headers.get("content-length") ?? NaN);
            return fail(error, received, Number.isSafeInteger(announced) ? announced : undefined);
          }
          if (chunk.done) break;
          touch();
          received += chunk.value.length;
          let more: boolean | void;
          try {
            more = await sink(chunk.value);
          } catch (error) {
            // The consumer's own failure (a full disk, a body too long): not the connection's.
            await reader.cancel().catch(() => {});
            throw error;
          }
          if (more === false) {
            await reader.cancel().catch(() => {});
            break;
          }
        }
      } finally {
        clearTimeout(timer);
        reader.releaseLock();
      }
    },
    async close() {
      clearTimeout(timer);
      if (!read) await response.body?.cancel().catch(() => {});
    },
  };
}

/** Retries `attempt` on transient faults, with doubling delays; `attempt` is told the try's number. */
async function withRetries<T>(
  options: HttpOptions,
  attempt: (tryNumber: number) => Promise<T>,
): Promise<T> {
  const retries = options.retries ?? settings.retries;
  const delay = options.retryDelayMs ?? settings.retryDelayMs;
  for (let tryNumber = 0;; tryNumber++) {
    try {
      return await attempt(tryNumber);
    } catch (error) {
      options.signal?.throwIfAborted();
      if (!(error instanceof HttpError) || !error.transient || tryNumber >= retries) {
        throw tryNumber > 0 && error instanceof HttpError
          ? new HttpError(`${error.message} (after ${tryNumber + 1} tries)`, { cause: error })
          : error;
      }
      await sleep(delay * 2 ** tryNumber, options.signal);
    }
  }
}

/** Whether a status is worth another try. */
function transientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function statusError(url: string, method: string, status: number): HttpError {
  return new HttpError(`Cannot read "${url}": ${method} answered ${status}`, {
    transient: transientStatus(status),
  });
}

/** The size and validators of `url` from a HEAD, retried like any read. */
export function headHttp(
  url: string,
  options: HttpOptions = {},
): Promise<{ size: number; headers: Headers }> {
  return withRetries(options, async () => {
    const request = await guardedFetch(url, { method: "HEAD" }, options);
    await request.close();
    const { response } = request;
    if (!response.ok) throw statusError(url, "HEAD", response.status);
    const size = Number(response.headers.get("content-length"));
    if (
      response.headers.get("content-length") === null || !Number.isSafeInteger(size) || size < 0
    ) {
      throw new HttpError(`Cannot read "${url}": no Content-Length in the answer to HEAD`);
    }
    return { size, headers: response.headers };
  });
}

/**
 * Whether `url` answers range requests: `Accept-Ranges: bytes` on `headers`
 * (a HEAD's), else a one-byte range request answered 206.
 */
export async function acceptsRanges(
  url: string,
  headers: Headers | undefined,
  options: HttpOptions = {},
): Promise<boolean> {
  if (headers?.get("accept-ranges")?.toLowerCase() === "bytes") return true;
  return await withRetries(options, async () => {
    const request = await guardedFetch(url, { headers: { range: "bytes=0-0" } }, options);
    await request.close();
    if (request.response.status === 206) return true;
    if (request.response.ok) return false;
    throw statusError(url, "GET", request.response.status);
  });
}

/**
 * The body of a small file at `url` (a manifest, an index), or `undefined`
 * when the server says it has none (404, 403, 410); more than `limit` bytes,
 * announced or sent, is refused without reading on.
 */
export function fetchSmall(
  url: string,
  limit: number,
  options: HttpOptions = {},
): Promise<Uint8Array | undefined> {
  return withRetries(options, async () => {
    const request = await guardedFetch(url, {}, options);
    const { response } = request;
    if (response.status === 404 || response.status === 403 || response.status === 410) {
      await request.close();
      return undefined;
    }
    if (!response.ok) {
      await request.close();
      throw statusError(url, "GET", response.status);
    }
    const tooLarge = () =>
      new HttpError(`Cannot read "${url}": larger than ${limit} bytes`, { transient: false });
    if (Number(response.headers.get("content-length") ?? 0) > limit) {
      await request.close();
      throw tooLarge();
    }
    const pieces: Uint8Array[] = [];
    let length = 0;
    await request.body((bytes) => {
      length += bytes.length;
      if (length > limit) throw tooLarge();
      pieces.push(bytes);
    });
    const out = new Uint8Array(length);
    let at = 0;
    for (const piece of pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  });
}

/**
 * Exactly `length` bytes at `offset` of the `size`-byte file at `url`, by a
 * range request; a transfer cut short is resumed from the last byte received.
 * From a server that ignores ranges, a range starting within
 * {@link HTTP_SKIP_LIMIT} bytes is read from the whole body; one further in
 * throws {@link RangesIgnoredError}.
 */
export async function fetchRange(
  url: string,
  size: number,
  offset: number,
  length: number,
  options: HttpOptions = {},
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  let done = 0;
  await withRetries(options, async () => {
    try {
      done += await fetchRangeOnce(url, size, offset + done, out.subarray(done), options);
    } catch (error) {
      if (error instanceof HttpError) done += error.received;
      throw error;
    }
  });
  return out;
}

/** One GET of the bytes `into` holds room for, at `offset`; returns the bytes put into `into`. */
async function fetchRangeOnce(
  url: string,
  size: number,
  offset: number,
  into: Uint8Array,
  options: HttpOptions,
): Promise<number> {
  const last = offset + into.length - 1;
  const request = await guardedFetch(
    url,
    { headers: { range: `bytes=${offset}-${last}` } },
    options,
  );
  const { response } = request;
  let skip = 0;
  if (response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== offset || Number(range[2]) !== last) {
      await request.close();
      throw new HttpError(
        `Cannot read "${url}": asked for bytes ${offset}-${last}, the server sent "${
          response.headers.get("content-range")
        }"`,
      );
    }
    if (range[3] !== "*" && Number(range[3]) !== size) {
      await request.close();
      throw new HttpError(
        `Cannot read "${url}": the file is now ${
          range[3]
        } bytes, not ${size}: it changed while being read`,
      );
    }
  } else if (response.ok) {
    if (offset > HTTP_SKIP_LIMIT) {
      await request.close();
      throw new RangesIgnoredError(url);
    }
    skip = offset; // the whole file: drop what comes before the range
  } else {
    await request.close();
    throw statusError(url, "GET", response.status);
  }
  const announced = response.headers.get("content-length");
  const expected = response.status === 206 ? into.length : size;
  if (announced !== null && Number(announced) !== expected) {
    await request.close();
    throw new HttpError(
      `Cannot read "${url}": the server announced ${announced} bytes for ${
        response.status === 206 ? `a ${into.length}-byte range` : `a ${size}-byte file`
      }`,
    );
  }
  let got = 0;
  let position = 0;
  try {
    await request.body((bytes) => {
      let piece = bytes;
      if (position < skip) {
        const drop = Math.min(skip - position, piece.length);
        position += drop;
        piece = piece.subarray(drop);
      }
      if (piece.length === 0) return;
      if (got + piece.length > into.length) {
        if (skip > 0 || response.status !== 206) {
          into.set(piece.subarray(0, into.length - got), got);
          got = into.length;
          return false; // the rest of a whole-file body is not needed
        }
        throw new HttpError(
          `Cannot read "${url}": the server sent more than the ${into.length} bytes asked for at ${offset}`,
        );
      }
      into.set(piece, got);
      got += piece.length;
      position += piece.length;
    });
  } catch (error) {
    if (error instanceof HttpError && error.transient) {
      throw new HttpError(error.message, { transient: true, received: got, cause: error });
    }
    throw error;
  }
  if (got < into.length) {
    throw new HttpError(
      `Cannot read "${url}": the connection closed after ${got} of ${into.length} bytes at ${offset}`,
      { transient: true, received: got },
    );
  }
  return got;
}

/**
 * Every byte of the `size`-byte file at `url` from `from` on, in order, to
 * `sink`: one GET, resumed after a transient fault from the last byte
 * received (by a range request where the server takes them, else by reading
 * the body again and skipping what was already given). A body longer than
 * `size` fails without its surplus reaching `sink`.
 */
export async function readHttpAll(
  url: string,
  size: number,
  sink: (bytes: Uint8Array) => void | Promise<void>,
  options: HttpOptions & { readonly from?: number } = {},
): Promise<void> {
  let position = options.from ?? 0;
  if (position >= size) return;
  let ranged: boolean | undefined;
  await withRetries(options, async () => {
    const start = position;
    const init: RequestInit = start > 0 && ranged !== false
      ? { headers: { range: `bytes=${start}-` } }
      : {};
    const request = await guardedFetch(url, init, options);
    const { response } = request;
    let skip = 0;
    if (response.status === 206) {
      ranged = true;
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
        response.headers.get("content-range") ?? "",
      );
      if (!range || Number(range[1]) !== start) {
        await request.close();
        throw new HttpError(
          `Cannot read "${url}": asked for bytes from ${start}, the server sent "${
            response.headers.get("content-range")
          }"`,
        );
      }
    } else if (response.ok) {
      if (start > 0) ranged = false;
      skip = start;
    } else {
      await request.close();
      throw statusError(url, "GET", response.status);
    }
    const announced = response.headers.get("content-length");
    const expected = size - start + skip;
    if (announced !== null && Number(announced) !== expected) {
      await request.close();
      throw new HttpError(
        `Cannot read "${url}": the server announced ${announced} bytes where ${expected} were due`,
      );
    }
    let dropped = 0;
    const before = position;
    try {
      await request.body(async (bytes) => {
        let piece = bytes;
        if (dropped < skip) {
          const drop = Math.min(skip - dropped, piece.length);
          dropped += drop;
          piece = piece.subarray(drop);
        }
        if (piece.length === 0) return;
        if (position + piece.length > size) {
          throw new HttpError(
            `Cannot read "${url}": the server sent more than the ${size} bytes it announced`,
          );
        }
        await sink(piece);
        position += piece.length;
      });
    } catch (error) {
      if (error instanceof HttpError && error.transient) {
        throw new HttpError(error.message, {
          transient: true,
          received: position - before,
          cause: error,
        });
      }
      throw error;
    }
    if (position < size) {
      throw new HttpError(
        `Cannot read "${url}": the connection closed after ${position} of ${size} bytes`,
        { transient: true, received: position - before },
      );
    }
  });
}

function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, " ").trim() || "unknown error";
}
