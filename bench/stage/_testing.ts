/**
 * A real HTTP server on loopback for the staging tests: serves the files of
 * a folder with HEAD, ETag and range requests (`Deno.serve` on 127.0.0.1, a
 * port the system picks), and can misbehave on purpose — drop the
 * connection part-way through a body, or serve wrong bytes.
 *
 * @module
 */

import { join, normalize } from "node:path";

/** Why the loopback server cannot run here (no `--allow-net=127.0.0.1`), or `undefined`. */
export const LOOPBACK_SKIP: string | undefined =
  Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted"
    ? undefined
    : "needs --allow-net=127.0.0.1 for a loopback HTTP server";

/** One GET the server answered. */
export interface ServedRequest {
  readonly path: string;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  /** How many GETs of this path came before. */
  readonly index: number;
}

/** How to answer a GET: cut the body after `dropAfter` bytes, or flip bytes of it. */
export interface Misbehaviour {
  readonly dropAfter?: number;
  readonly corrupt?: boolean;
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
      const headers: Record<string, string> = {
        "accept-ranges": "bytes",
        etag: `"${info.size}-${info.mtime?.getTime() ?? 0}"`,
        ...options.headers?.(path),
      };
      if (request.method === "HEAD") {
        return new Response(null, { headers: { ...headers, "content-length": String(size) } });
      }
      let start = 0;
      let end = size;
      let status = 200;
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get("range") ?? "");
      if (range) {
        start = Number(range[1]);
        end = range[2] === "" ? size : Math.min(size, Number(range[2]) + 1);
        if (start >= end) return new Response(null, { status: 416 });
        status = 206;
        headers["content-range"] = `bytes ${start}-${end - 1}/${size}`;
      }
      const index = counts.get(path) ?? 0;
      counts.set(path, index + 1);
      const served: ServedRequest = { path, start, end, index };
      requests.push(served);
      const how = options.misbehave?.(served) ?? {};
      let body = await readRange(join(dir, path), start, end);
      if (how.corrupt) body = body.map((b, i) => (i % 4096 === 7 ? b ^ 0xff : b));
      const limit = Math.min(body.length, how.dropAfter ?? body.length);
      bytesServed.set(path, (bytesServed.get(path) ?? 0) + limit);
      headers["content-length"] = String(body.length);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= limit) {
            // Ending short of Content-Length: the server drops the connection.
            controller.close();
            return;
          }
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
