/**
 * A real HTTP server on loopback for the staging and fault-injection tests:
 * serves the files of a folder with HEAD, ETag and range requests
 * (`Deno.serve` on 127.0.0.1, a port the system picks), and can misbehave on
 * purpose, per request — answer with an error status, ignore ranges (as
 * `python3 -m http.server` does), drop the connection part-way through a
 * body, announce a Content-Length longer or shorter than the body, stall, or
 * serve wrong bytes (the same wrong bytes every time, or different ones).
 *
 * @module
 */

import { join, normalize } from "node:path";

/** Why the loopback server cannot run here (no `--allow-net=127.0.0.1`), or `undefined`. */
export const LOOPBACK_SKIP: string | undefined =
  Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted"
    ? undefined
    : "needs --allow-net=127.0.0.1 for a loopback HTTP server";

/** One request the server answered. */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  /** How many GETs of this path came before (HEADs are counted apart). */
  readonly index: number;
  /** Whether the request asked for a range. */
  readonly ranged: boolean;
}

/** How to answer a request (HEAD or GET); several may combine. */
export interface Misbehaviour {
  /** Answer with this status and no body. */
  readonly status?: number;
  /** Answer a range request with the whole file (200), and never say `Accept-Ranges`. */
  readonly noRanges?: boolean;
  /** Cut the body after this many bytes: the server drops the connection. */
  readonly dropAfter?: number;
  /** Send this many bytes, then nothing more until the client gives up. */
  readonly stallAfter?: number;
  /** Wait this long before each 64 KiB piece of the body: slow, but moving. */
  readonly pieceDelayMs?: number;
  /** Announce this Content-Length, whatever the body's length. */
  readonly contentLength?: number;
  /**
   * Flip bytes: at every 4096th byte of the file (`true`: the same wrong bytes on
   * every read), or at one random place of each body (`"random"`: a flaky link).
   */
  readonly corrupt?: boolean | "random";
}

/** Options of {@link serveFolder}. */
export interface ServeOptions {
  readonly misbehave?: (request: ServedRequest) => Misbehaviour | undefined;
  /** Extra headers on every answer for a file (HEAD and GET). */
  readonly headers?: (path: string) => Record<string, string>;
}

/** A running server. */
export interface FolderServer extends AsyncDisposable {
  /** The folder's URL, ending with `/`. */
  readonly url: string;
  /** Body bytes sent (or started to be sent) per path. */
  readonly bytesServed: Map<string, number>;
  readonly requests: ServedRequest[];
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1 until closed. */
export function serveFolder(dir: string, options: ServeOptions = {}): FolderServer {
  const bytesServed = new Map<string, number>();
  const requests: ServedRequest[] = [];
  const counts = new Map<string, number>();
  const stalls = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname).replace(/^\/+/, "");
      if (path === "" || normalize(path).startsWith("..")) {
        return new Response(null, { status: 404 });
      }
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(join(dir, path));
        if (!info.isFile) return new Response(null, { status: 404 });
      } catch {
        return new Response(null, { status: 404 });
      }
      const size = info.size;
      const rangeHeader = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get("range") ?? "");
      const countKey = `${request.method} ${path}`;
      const index = counts.get(countKey) ?? 0;
      counts.set(countKey, index + 1);
      let start = 0;
      let end = size;
      if (rangeHeader) {
        start = Number(rangeHeader[1]);
        end = rangeHeader[2] === "" ? size : Math.min(size, Number(rangeHeader[2]) + 1);
      }
      const served: ServedRequest = {
        method: request.method,
        path,
        start,
        end,
        index,
        ranged: rangeHeader !== null,
      };
      requests.push(served);
      const how = options.misbehave?.(served) ?? {};
      if (how.status !== undefined) return new Response(null, { status: how.status });
      const headers: Record<string, string> = {
        ...(how.noRanges ? {} : { "accept-ranges": "bytes" }),
        etag: `"${info.size}-${info.mtime?.getTime() ?? 0}"`,
        ...options.headers?.(path),
      };
      if (request.method === "HEAD") {
        return new Response(null, {
          headers: { ...headers, "content-length": String(how.contentLength ?? size) },
        });
      }
      let status = 200;
      if (rangeHeader && !how.noRanges) {
        if (start >= end) return new Response(null, { status: 416 });
        status = 206;
        headers["content-range"] = `bytes ${start}-${end - 1}/${size}`;
      } else {
        start = 0;
        end = size;
      }
      let body = await readRange(join(dir, path), start, end);
      if (how.corrupt === "random") {
        const at = Math.floor(Math.random() * body.length);
        body = body.slice();
        if (body.length > 0) body[at]! ^= 0xff;
      } else if (how.corrupt) {
        body = body.map((b, i) => ((start + i) % 4096 === 7 ? b ^ 0xff : b));
      }
      const limit = Math.min(body.length, how.dropAfter ?? body.length, how.stallAfter ?? Infinity);
      bytesServed.set(path, (bytesServed.get(path) ?? 0) + limit);
      headers["content-length"] = String(how.contentLength ?? body.length);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent >= limit) {
            if (how.stallAfter !== undefined) {
              // Say nothing more until the client hangs up or the server closes.
              await new Promise((resolve) => stalls.signal.addEventListener("abort", resolve));
              controller.close();
              return;
            }
            // Ending short of Content-Length: the server drops the connection.
            controller.close();
            return;
          }
          if (how.pieceDelayMs) await new Promise((r) => setTimeout(r, how.pieceDelayMs));
          const piece = body.subarray(sent, Math.min(limit, sent + 65536));
          sent += piece.length;
          controller.enqueue(piece);
        },
      });
      return new Response(stream, { status, headers });
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  const close = async () => {
    stalls.abort();
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${port}/`,
    bytesServed,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function readRange(path: string, start: number, end: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(end - start);
  using file = await Deno.open(path, { read: true });
  await file.seek(start, Deno.SeekMode.Start);
  for (let done = 0; done < bytes.length;) {
    const got = await file.read(bytes.subarray(done));
    if (got === null || got === 0) break;
    done += got;
  }
  return bytes;
}
