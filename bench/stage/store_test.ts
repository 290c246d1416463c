import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { testUnless, withTempDir } from "../util/testing.ts";
import { LOOPBACK_SKIP, serveFolder } from "./_testing.ts";
import { currentOwner } from "./lock.ts";
import { openStageSource, writeManifest } from "./sources.ts";
import { type PartWriter, StagingError, StagingStore } from "./store.ts";

const CHUNK = 64 << 10;

/** A file of fresh random bytes (not a multiple of the chunk), and its SHA-256. */
async function randomFile(path: string, size = 5 * CHUNK + 1234): Promise<string> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
  }
  await Deno.writeFile(path, bytes);
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every file under `root`, relative, sorted. */
async function listTree(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(join(dir, entry.name), `${prefix}${entry.name}/`);
      else found.push(`${prefix}${entry.name}`);
    }
  };
  await walk(root, "").catch(() => {});
  return found.sort();
}

async function assertNothingStaged(root: string): Promise<void> {
  const left = (await listTree(root)).filter((p) => !p.startsWith("locks/"));
  assert.deepEqual(left, [], `left in the staging folder: ${left.join(", ")}`);
}

async function setup(dir: string) {
  const source = join(dir, "source");
  await Deno.mkdir(source);
  const sha256 = await randomFile(join(source, "model.safetensors"));
  await writeManifest(source);
  return { source, sha256, root: join(dir, "staging") };
}

Deno.test("stage: a local file is copied, verified against its manifest, then found staged", async () => {
  await withTempDir(async (dir) => {
    const { source, sha256, root } = await setup(dir);
    const store = new StagingStore({ root, chunkSize: CHUNK, readers: 3 });
    const file = await openStageSource(join(source, "model.safetensors"));
    const first = await store.stage(file);
    assert.equal(first.hit, false);
    assert.equal(first.sha256, sha256);
    assert.equal(first.bytesFromSource, file.size);
    assert.equal(first.verifiedBy, "sha256 from weights.manifest.json");
    assert.equal(first.blob, join(root, "blobs", `${sha256}-${file.size}`));
    assert.match(first.path, /\/pins\/\d+-\d+\//, "loads read this process's pin of the blob");
    assert.equal((await Deno.stat(first.path)).ino, (await Deno.stat(first.blob)).ino);
    assert.deepEqual(
      await Deno.readFile(first.path),
      await Deno.readFile(join(source, "model.safetensors")),
    );
    const second = await store.stage(file);
    assert.ok(second.hit && second.bytesFromSource === 0 && second.path === first.path);
    assert.deepEqual(await listTree(join(root, "tmp")), []);

    await store.remove(file);
    assert.equal(await store.lookup(file), undefined);
    assert.deepEqual(await listTree(join(root, "blobs")), []);
  });
});

testUnless(
  LOOPBACK_SKIP,
  "stage: an HTTP source is read with parallel range requests; a changed file is staged anew",
  async () => {
    await withTempDir(async (dir) => {
      const { source, sha256, root } = await setup(dir);
      await using server = serveFolder(source);
      const store = new StagingStore({ root, chunkSize: CHUNK, readers: 4 });
      const file = await openStageSource(`${server.url}model.safetensors`);
      assert.equal((await file.published())?.sha256, sha256);
      const first = await store.stage(file);
      assert.equal(first.sha256, sha256);
      const ranges = server.requests.filter((r) =>
        r.method === "GET" && r.path === "model.safetensors"
      );
      assert.equal(ranges.length, Math.ceil(file.size / CHUNK));
      assert.ok(ranges.every((r) => r.end - r.start <= CHUNK));
      assert.equal(server.bytesServed.get("model.safetensors"), file.size);
      assert.equal((await store.stage(file)).hit, true);
      assert.equal(server.bytesServed.get("model.safetensors"), file.size, "a hit reads nothing");

      // New content at the same URL: a new identity (ETag), a new entry.
      await new Promise((r) => setTimeout(r, 5));
      const newer = await randomFile(join(source, "model.safetensors"), 3 * CHUNK);
      await writeManifest(source);
      const changed = await openStageSource(`${server.url}model.safetensors`);
      assert.notEqual(changed.identity, file.identity);
      const restaged = await store.stage(changed);
      assert.equal(restaged.hit, false);
      assert.equal(restaged.sha256, newer);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: a connection dropped mid-transfer is retried, and the copy is intact",
  async () => {
    await withTempDir(async (dir) => {
      const { source, sha256, root } = await setup(dir);
      await using server = serveFolder(source, {
        // The first GET of every range dies half-way through its body.
        misbehave: (
          r,
        ) => (r.path === "model.safetensors" && r.index < 6
          ? { dropAfter: (r.end - r.start) >> 1 }
          : undefined),
      });
      const store = new StagingStore({ root, chunkSize: CHUNK, readers: 2, retryDelayMs: 1 });
      const staged = await store.stage(await openStageSource(`${server.url}model.safetensors`));
      assert.equal(staged.sha256, sha256);
      assert.ok(server.requests.length > 6);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: an interrupted transfer resumes with the ranges it lacks",
  async () => {
    await withTempDir(async (dir) => {
      const { source, sha256, root } = await setup(dir);
      let broken = true;
      await using server = serveFolder(source, {
        misbehave: (r) => (broken && r.start >= 3 * CHUNK ? { dropAfter: 100 } : undefined),
      });
      const store = new StagingStore({
        root,
        chunkSize: CHUNK,
        readers: 1,
        retries: 1,
        retryDelayMs: 1,
      });
      const file = await openStageSource(`${server.url}model.safetensors`);
      await assert.rejects(store.stage(file), (e: unknown) => {
        assert.ok(e instanceof StagingError);
        assert.match(e.message, /connection closed after 100 of|dropped|error/i);
        assert.match(e.message, /3 of 6 ranges copied; the next try resumes/);
        return true;
      });
      const tmp = await listTree(join(root, "tmp"));
      assert.equal(tmp.length, 2, `a partial copy and its journal: ${tmp.join(", ")}`);
      assert.deepEqual(await listTree(join(root, "blobs")), []);
      assert.deepEqual(await listTree(join(root, "refs")), []);

      broken = false;
      const before = server.bytesServed.get("model.safetensors")!;
      const staged = await store.stage(file);
      assert.equal(staged.sha256, sha256);
      assert.equal(staged.resumedBytes, 3 * CHUNK);
      assert.equal(staged.bytesFromSource, file.size - 3 * CHUNK);
      assert.equal(server.bytesServed.get("model.safetensors")! - before, file.size - 3 * CHUNK);
      assert.deepEqual(await listTree(join(root, "tmp")), []);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: wrong bytes from the server are caught, and nothing corrupt stays",
  async () => {
    await withTempDir(async (dir) => {
      const { source, root } = await setup(dir);
      await using server = serveFolder(source, {
        misbehave: (
          r,
        ) => (r.path === "model.safetensors" && r.start === 2 * CHUNK
          ? { corrupt: true }
          : undefined),
      });
      const store = new StagingStore({ root, chunkSize: CHUNK });
      await assert.rejects(
        store.stage(await openStageSource(`${server.url}model.safetensors`)),
        /the copy's sha256 is [0-9a-f]{64}, but weights\.manifest\.json says [0-9a-f]{64}; nothing was kept/,
      );
      await assertNothingStaged(root);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: a hub-style X-Linked-Etag is the published hash when there is no manifest",
  async () => {
    await withTempDir(async (dir) => {
      const source = join(dir, "source");
      await Deno.mkdir(source);
      const sha256 = await randomFile(join(source, "model.safetensors"));
      const root = join(dir, "staging");
      let corrupt = false;
      await using server = serveFolder(source, {
        headers: () => ({ "x-linked-etag": `"${sha256}"` }),
        misbehave: () => (corrupt ? { corrupt: true } : undefined),
      });
      const store = new StagingStore({ root, chunkSize: CHUNK });
      const file = await openStageSource(`${server.url}model.safetensors`);
      assert.deepEqual(await file.published(), { sha256, from: "x-linked-etag" });
      corrupt = true;
      await assert.rejects(store.stage(file), /but x-linked-etag says/);
      await assertNothingStaged(root);
      corrupt = false;
      assert.equal((await store.stage(file)).verifiedBy, "sha256 from x-linked-etag");
    });
  },
);

Deno.test("stage: a full disk during staging leaves no partial entry", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    let written = 0;
    const fullDisk: PartWriter = {
      async open(path, size) {
        await Deno.writeFile(path, new Uint8Array(0));
        await Deno.truncate(path, size);
        return {
          async writeAt(offset, bytes) {
            if (written + bytes.length > 2 * CHUNK) {
              throw Object.assign(new Error("No space left on device (os error 28)"), {
                code: "ENOSPC",
              });
            }
            written += bytes.length;
            using file = await Deno.open(path, { write: true });
            await file.seek(offset, Deno.SeekMode.Start);
            await file.write(bytes);
          },
          sync: () => Promise.resolve(),
          close() {},
        };
      },
    };
    const store = new StagingStore({ root, chunkSize: CHUNK, readers: 2, writer: fullDisk });
    await assert.rejects(
      store.stage(await openStageSource(join(source, "model.safetensors"))),
      /into ".*staging": no space left on the device \(321\.21 KiB needed\); the partial copy was removed/,
    );
    await assertNothingStaged(root);
  });
});

testUnless(LOOPBACK_SKIP, "stage: two runs staging one entry at once copy it once", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    await using server = serveFolder(source);
    const url = `${server.url}model.safetensors`;
    const a = new StagingStore({ root, chunkSize: CHUNK, lock: { pollMs: 5 } });
    const b = new StagingStore({ root, chunkSize: CHUNK, lock: { pollMs: 5 } });
    const [x, y] = await Promise.all([
      a.stage(await openStageSource(url)),
      b.stage(await openStageSource(url)),
    ]);
    assert.equal(x.path, y.path);
    assert.equal([x.hit, y.hit].filter(Boolean).length, 1);
    assert.equal(
      server.bytesServed.get("model.safetensors"),
      x.size,
      "the bytes were fetched once",
    );
  });
});

Deno.test("stage: a stale lock (its process is gone) is broken; a live one is waited for", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    await Deno.mkdir(join(root, "locks"), { recursive: true });
    const lockPath = join(root, "locks", `${StagingStore.key(file)}.lock`);

    // A lock of a process that no longer exists.
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    await child.status;
    await Deno.writeTextFile(lockPath, JSON.stringify({ ...currentOwner(), pid: child.pid }));
    const store = new StagingStore({ root, chunkSize: CHUNK, lock: { pollMs: 5 } });
    assert.equal((await store.stage(file)).hit, false);
    await store.remove(file);

    // A lock of this live process: waited for until it goes.
    await Deno.writeTextFile(lockPath, JSON.stringify(currentOwner()));
    let finished = false;
    const staging = store.stage(file).then((r) => (finished = true, r));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(finished, false, "staged while another owner held the lock");
    await Deno.remove(lockPath);
    assert.equal((await staging).hit, false);
  });
});

Deno.test("stage: eviction keeps the store within its budget, least recently used first", async () => {
  await withTempDir(async (dir) => {
    const source = join(dir, "source");
    await Deno.mkdir(source);
    for (const name of ["a", "b", "c"]) await randomFile(join(source, name), 100_000);
    const store = new StagingStore({
      root: join(dir, "staging"),
      budgetBytes: 250_000,
      chunkSize: CHUNK,
    });
    const open = (name: string) => openStageSource(join(source, name));
    const a = await store.stage(await open("a"));
    await new Promise((r) => setTimeout(r, 20));
    const b = await store.stage(await open("b"));
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(await store.lookup(await open("a")), "a is used again: b is now the oldest");
    await new Promise((r) => setTimeout(r, 20));
    const c = await store.stage(await open("c"));
    const left = (await store.blobs()).map((blob) => blob.path).sort();
    assert.deepEqual(left, [a.blob, c.blob].sort());
    assert.equal(await store.lookup(await open("b")), undefined);
    assert.notEqual(b.blob, a.blob);
    assert.ok((await Deno.stat(b.path)).isFile, "this process's pin keeps the evicted copy");
  });
});

testUnless(
  LOOPBACK_SKIP,
  "stage: a poisoned source with no hash (wrong bytes) is never cached; fixed, it stages",
  async () => {
    await withTempDir(async (dir) => {
      const source = join(dir, "source");
      await Deno.mkdir(source);
      const sha256 = await randomFile(join(source, "model.safetensors"));
      const root = join(dir, "staging");
      let poisoned = true;
      await using server = serveFolder(source, {
        // A flaky link: one flipped byte somewhere in each ranged body.
        misbehave: (r) => (poisoned && r.ranged ? { corrupt: "random" } : undefined),
      });
      const store = new StagingStore({ root, chunkSize: CHUNK });
      const file = await openStageSource(`${server.url}model.safetensors`);
      assert.equal(await file.published(), undefined, "no manifest, no hash header");
      await assert.rejects(
        store.stage(file),
        /but a second read of the source gives [0-9a-f]{64} \(it publishes no SHA-256\); nothing was kept/,
      );
      await assertNothingStaged(root);
      poisoned = false;
      const staged = await store.stage(file);
      assert.equal(staged.sha256, sha256);
      assert.equal(staged.verifiedBy, "sha256 of a second read of the source (it publishes none)");
      assert.equal(staged.checkBytesFromSource, file.size);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: a server that ignores ranges is copied as one stream, hashed as it comes",
  async () => {
    await withTempDir(async (dir) => {
      const { source, sha256, root } = await setup(dir);
      await using server = serveFolder(source, { misbehave: () => ({ noRanges: true }) });
      const store = new StagingStore({ root, chunkSize: CHUNK, readers: 4 });
      const staged = await store.stage(await openStageSource(`${server.url}model.safetensors`));
      assert.equal(staged.sha256, sha256);
      const gets = server.requests.filter((r) =>
        r.method === "GET" && r.path === "model.safetensors"
      );
      assert.equal(gets.length, 2, "a one-byte probe, then the whole body once");
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "stage: a partial copy is resumed only with the ranges whose bytes still hash as journaled",
  async () => {
    await withTempDir(async (dir) => {
      const { source, sha256, root } = await setup(dir);
      let broken = true;
      await using server = serveFolder(source, {
        misbehave: (r) => (broken && r.start >= 3 * CHUNK ? { dropAfter: 100 } : undefined),
      });
      const store = new StagingStore({ root, chunkSize: CHUNK, readers: 1, retries: 0 });
      const file = await openStageSource(`${server.url}model.safetensors`);
      await assert.rejects(store.stage(file), /3 of 6 ranges copied; the next try resumes/);
      // Damage range 1 of the partial copy on disk.
      const part = join(root, "tmp", `${StagingStore.key(file)}.part`);
      {
        using handle = await Deno.open(part, { write: true });
        await handle.seek(CHUNK + 10, Deno.SeekMode.Start);
        await handle.write(new Uint8Array(16).fill(0xee));
      }
      broken = false;
      const staged = await store.stage(file);
      assert.equal(staged.sha256, sha256);
      assert.equal(
        staged.resumedBytes,
        2 * CHUNK,
        "ranges 0 and 2 kept, the damaged 1 fetched again",
      );
    });
  },
);

Deno.test("stage: a 0-byte lock left by a full disk is broken at once, not waited out", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    await Deno.mkdir(join(root, "locks"), { recursive: true });
    const lockPath = join(root, "locks", `${StagingStore.key(file)}.lock`);
    await Deno.writeFile(lockPath, new Uint8Array(0));
    await Deno.utime(lockPath, new Date(Date.now() - 2000), new Date(Date.now() - 2000));
    let waits = 0;
    const start = performance.now();
    const staged = await new StagingStore({ root, chunkSize: CHUNK }).stage(file, {
      onWait: () => (waits++, () => {}),
    });
    assert.equal(staged.hit, false);
    assert.equal(waits, 0, "no wait was reported");
    assert.ok(performance.now() - start < 1000);
  });
});

Deno.test("stage: a wait for another run's lock is reported, then the entry it staged is a hit", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    await Deno.mkdir(join(root, "locks"), { recursive: true });
    const lockPath = join(root, "locks", `${StagingStore.key(file)}.lock`);
    await Deno.writeTextFile(lockPath, JSON.stringify(currentOwner())); // a live owner: us
    let waited = 0;
    const store = new StagingStore({ root, chunkSize: CHUNK, lock: { pollMs: 5 } });
    const staging = store.stage(file, {
      onWait: () => {
        const began = performance.now();
        return () => (waited = performance.now() - began);
      },
    });
    await new Promise((r) => setTimeout(r, 150));
    // The "other run" holding the lock finishes its copy: its blob and ref appear.
    const otherRoot = join(dir, "other");
    const copy = await new StagingStore({ root: otherRoot, chunkSize: CHUNK }).stage(file);
    for (const sub of ["blobs", "refs"]) {
      await Deno.mkdir(join(root, sub), { recursive: true });
      for (const name of await listTree(join(otherRoot, sub))) {
        await Deno.copyFile(join(otherRoot, sub, name), join(root, sub, name));
      }
    }
    const result = await staging;
    await Deno.remove(lockPath);
    assert.equal(result.blob, join(root, "blobs", copy.blob.split("/").pop()!));
    assert.ok(waited >= 100, `waited ${waited} ms`);
    assert.ok(result.hit && result.bytesFromSource === 0, "found staged by the other run");
  });
});

Deno.test("stage: a fresh (cold-start) copy replaces the blob; an earlier pin still reads", async () => {
  await withTempDir(async (dir) => {
    const { source, sha256, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    const store = new StagingStore({ root, chunkSize: CHUNK });
    const first = await store.stage(file);
    const held = await Deno.open(first.path, { read: true }); // a load in progress
    const again = await store.stage(file, { fresh: true });
    assert.equal(again.hit, false);
    assert.equal(again.bytesFromSource, file.size);
    assert.equal(again.sha256, sha256);
    const bytes = new Uint8Array(16);
    assert.equal(await held.read(bytes), 16, "the earlier copy is still readable");
    held.close();
  });
});

Deno.test("stage: remove() waits for a copy another run is making, never deletes it", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    const key = StagingStore.key(file);
    for (const sub of ["locks", "tmp"]) await Deno.mkdir(join(root, sub), { recursive: true });
    const part = join(root, "tmp", `${key}.part`);
    await Deno.writeFile(part, new Uint8Array(100));
    await Deno.writeTextFile(join(root, "locks", `${key}.lock`), JSON.stringify(currentOwner()));
    let done = false;
    const store = new StagingStore({ root, chunkSize: CHUNK, lock: { pollMs: 5 } });
    const removal = store.remove(file).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(done, false);
    assert.ok((await Deno.stat(part)).isFile, "the other run's partial copy is still there");
    await Deno.remove(join(root, "locks", `${key}.lock`));
    await removal;
    await assert.rejects(Deno.stat(part), Deno.errors.NotFound);
  });
});

Deno.test("stage: a blob whose bytes changed on disk is caught at first use, evicted and staged anew", async () => {
  await withTempDir(async (dir) => {
    const { source, sha256, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    const store = new StagingStore({ root, chunkSize: CHUNK });
    const first = await store.stage(file);
    // Rot: the blob is replaced by other bytes of the same size (a new inode, as a fresh process sees).
    const rotten = await Deno.readFile(first.blob);
    rotten[100]! ^= 0xff;
    await Deno.remove(first.blob);
    await Deno.writeFile(first.blob, rotten);
    assert.equal(await store.lookup(file), undefined);
    await assert.rejects(Deno.stat(first.blob), Deno.errors.NotFound);
    const again = await store.stage(file);
    assert.equal(again.hit, false);
    assert.equal(again.sha256, sha256);
  });
});

Deno.test("stage: refs an older version wrote without a check are not trusted", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    const store = new StagingStore({ root, chunkSize: CHUNK });
    await store.stage(file);
    const refPath = join(root, "refs", `${StagingStore.key(file)}.json`);
    const { version: _, ...old } = JSON.parse(await Deno.readTextFile(refPath));
    await Deno.writeTextFile(refPath, JSON.stringify({ ...old, verifiedBy: "size only" }));
    assert.equal(await store.lookup(file), undefined);
    assert.equal((await store.stage(file)).hit, false);
  });
});

Deno.test("stage: a local source that changes while it is copied is refused", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const path = join(source, "model.safetensors");
    const real = await openStageSource(path);
    const changing = { ...real, published: () => Promise.resolve(undefined) };
    changing.currentIdentity = async () => {
      await Deno.utime(path, new Date(), new Date(Date.now() + 5000)); // rewritten meanwhile
      return await real.currentIdentity();
    };
    await assert.rejects(
      new StagingStore({ root, chunkSize: CHUNK }).stage(changing),
      /the source changed while it was copied; nothing was kept/,
    );
    await assertNothingStaged(root);
  });
});

Deno.test("stage: verifyAll evicts a bad blob; collectGarbage removes what no live run uses", async () => {
  await withTempDir(async (dir) => {
    const { source, root } = await setup(dir);
    const file = await openStageSource(join(source, "model.safetensors"));
    const store = new StagingStore({ root, chunkSize: CHUNK });
    const staged = await store.stage(file);
    const bad = join(root, "blobs", `${"0".repeat(64)}-4`);
    await Deno.writeFile(bad, new Uint8Array([1, 2, 3, 4]));
    const report = await store.verifyAll();
    assert.equal(report.good, 1);
    assert.deepEqual(report.evicted, [bad]);
    assert.ok((await Deno.stat(staged.blob)).isFile);

    // Litter: an abandoned partial copy, a lock of a dead process, the pins of a dead process.
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    await child.status;
    await Deno.writeFile(join(root, "tmp", `${"a".repeat(32)}.part`), new Uint8Array(1000));
    await Deno.writeTextFile(join(root, "tmp", `${"a".repeat(32)}.part.json`), "{}");
    await Deno.writeTextFile(
      join(root, "locks", `${"b".repeat(32)}.lock`),
      JSON.stringify({ ...currentOwner(), pid: child.pid }),
    );
    await Deno.mkdir(join(root, "pins", `${child.pid}-1`), { recursive: true });
    const gc = await store.collectGarbage();
    assert.deepEqual(gc, { partialCopies: 1, partialBytes: 1000, staleLocks: 1, tempEntries: 2 });
    assert.deepEqual(await listTree(join(root, "tmp")), []);
    assert.deepEqual(await listTree(join(root, "locks")), []);
    assert.ok((await store.lookup(file))?.hit, "the good copy and this process's pin stay");
  });
});
