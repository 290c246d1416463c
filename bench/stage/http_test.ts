import assert from "node:assert/strict";
import { join } from "node:path";
import { testUnless, withTempDir } from "../util/testing.ts";
import { EnvironmentError, InterruptedError } from "../util/errors.ts";
import { LOOPBACK_SKIP, type Misbehaviour, serveFolder } from "./_testing.ts";
import { acceptsRanges, fetchRange, headHttp, HttpError, readHttpAll } from "./http.ts";

const SIZE = 300_000;
const FAST = { retryDelayMs: 1 } as const;

async function withServer(
  misbehave: (r: { method: string; index: number; start: number }) => Misbehaviour | undefined,
  work: (url: string, bytes: Uint8Array, served: () => number) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const bytes = crypto.getRandomValues(new Uint8Array(SIZE > 65536 ? 65536 : SIZE));
    const file = new Uint8Array(SIZE);
    for (let i = 0; i < SIZE; i += bytes.length) file.set(bytes.subarray(0, SIZE - i), i);
    await Deno.writeFile(join(dir, "w.bin"), file);
    await using server = serveFolder(dir, { misbehave });
    await work(`${server.url}w.bin`, file, () => server.bytesServed.get("w.bin") ?? 0);
  });
}

async function readAll(url: string, options = {}): Promise<Uint8Array> {
  const out = new Uint8Array(SIZE);
  let at = 0;
  await readHttpAll(url, SIZE, (bytes) => {
    out.set(bytes, at);
    at += bytes.length;
  }, { ...FAST, ...options });
  assert.equal(at, SIZE);
  return out;
}

/** The failure's message, checked to be one clear line that names the URL. */
async function failure(work: Promise<unknown>, url: string): Promise<string> {
  const error = await work.then(() => undefined, (e) => e);
  assert.ok(error instanceof HttpError, `expected an HttpError, got ${error}`);
  assert.ok(error instanceof EnvironmentError && error.exitCode === 3);
  assert.ok(error.message.startsWith(`Cannot read "${url}": `), error.message);
  assert.ok(!error.message.includes("\n"), "one line");
  return error.message;
}

testUnless(
  LOOPBACK_SKIP,
  "http: a server that ignores ranges is read whole, and a range near the start from its body",
  async () => {
    await withServer(() => ({ noRanges: true }), async (url, file) => {
      const head = await headHttp(url);
      assert.equal(await acceptsRanges(url, head.headers), false);
      assert.deepEqual(await readAll(url), file);
      assert.deepEqual(await fetchRange(url, SIZE, 1000, 5000, FAST), file.subarray(1000, 6000));
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: a 500 is retried with backoff; one that stays is one line after every try",
  async () => {
    await withServer(
      (r) => (r.method === "GET" && r.index < 2 ? { status: 500 } : undefined),
      async (url, file) => {
        assert.deepEqual(await readAll(url), file);
      },
    );
    await withServer(() => ({ status: 503 }), async (url) => {
      const message = await failure(readAll(url, { retries: 2 }), url);
      assert.equal(message, `Cannot read "${url}": GET answered 503 (after 3 tries)`);
    });
    await withServer(() => ({ status: 404 }), async (url) => {
      // Not transient: no retries.
      assert.equal(
        await failure(headHttp(url, { retries: 5 }), url),
        `Cannot read "${url}": HEAD answered 404`,
      );
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: a body cut short is resumed from the last byte received, with or without ranges",
  async () => {
    for (const noRanges of [false, true]) {
      await withServer(
        (
          r,
        ) => (r.method === "GET" && r.index < 2 ? { dropAfter: 100_000, noRanges } : { noRanges }),
        async (url, file, served) => {
          assert.deepEqual(await readAll(url), file);
          if (!noRanges) assert.equal(served(), SIZE, "each byte was sent once");
        },
      );
    }
    await withServer(
      (r) => (r.method === "GET" && r.index < 1 ? { dropAfter: 1000 } : undefined),
      async (url, file, served) => {
        assert.deepEqual(
          await fetchRange(url, SIZE, 5000, 200_000, FAST),
          file.subarray(5000, 205_000),
        );
        assert.equal(served(), 200_000, "the retry asked only for what was missing");
      },
    );
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: a Content-Length longer or shorter than the file is refused at once, never taken",
  async () => {
    for (const contentLength of [SIZE + 10, SIZE - 10]) {
      await withServer(
        (r) => (r.method === "GET" ? { contentLength, noRanges: true } : undefined),
        async (url) => {
          const message = await failure(readAll(url), url);
          assert.match(
            message,
            new RegExp(`the server announced ${contentLength} bytes where ${SIZE} were due$`),
          );
        },
      );
    }
    await withServer(
      (r) => (r.method === "GET" ? { contentLength: 10 } : undefined),
      async (url) => {
        assert.match(
          await failure(fetchRange(url, SIZE, 0, 1000, FAST), url),
          /announced 10 bytes for a 1000-byte range$/,
        );
      },
    );
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: a stall fails after the idle time with one line, while a slow transfer is never cut",
  async () => {
    await withServer(
      (r) => (r.method === "GET" ? { stallAfter: 70_000 } : undefined),
      async (url) => {
        const start = performance.now();
        const message = await failure(readAll(url, { idleMs: 300, retries: 3 }), url);
        const ms = performance.now() - start;
        assert.match(
          message,
          /the server sent nothing for 0\.3 s after \d+ bytes \(--source-timeout\)$/,
        );
        assert.ok(ms < 2000, `gave up after ${ms.toFixed(0)} ms: a stall is not retried`);
      },
    );
    // Five pieces 150 ms apart: 750 ms in all, longer than the idle time, but never idle that long.
    await withServer(
      (r) => (r.method === "GET" ? { pieceDelayMs: 150 } : undefined),
      async (url, file) => {
        assert.deepEqual(await readAll(url, { idleMs: 400, retries: 0 }), file);
      },
    );
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: an abort (Ctrl-C) stops a stalled read at once with the signal's reason",
  async () => {
    await withServer(
      (r) => (r.method === "GET" ? { stallAfter: 1000 } : undefined),
      async (url) => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 100);
        const start = performance.now();
        await assert.rejects(readAll(url, { signal: controller.signal }), InterruptedError);
        assert.ok(performance.now() - start < 1000);
      },
    );
  },
);

testUnless(
  LOOPBACK_SKIP,
  "http: a connection refused is retried, then one line naming the URL",
  async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // nothing listens there now
    const url = `http://127.0.0.1:${port}/w.bin`;
    const message = await failure(headHttp(url, { ...FAST, retries: 1 }), url);
    assert.match(message, /the connection failed: .* \(after 2 tries\)$/);
  },
);
