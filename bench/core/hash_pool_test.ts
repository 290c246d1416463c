import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HASH_PIECE, type HashJob, HashPool } from "./hash_pool.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A job over `bytes` whose reads land in one reused buffer, as a target's readBack does. */
function reusedViewJob(bytes: Uint8Array, reads: number[]): HashJob {
  const view = new Uint8Array(HASH_PIECE);
  return {
    length: bytes.length,
    read(start, length) {
      reads.push(start);
      view.set(bytes.subarray(start, start + length));
      return view.subarray(0, length);
    },
  };
}

Deno.test("hash pool: every job's digest is its bytes' SHA-256, whatever its length and order", async () => {
  const lengths = [0, 1, 3, HASH_PIECE - 1, HASH_PIECE, 3 * HASH_PIECE + 5, 1000];
  const sources = lengths.map((length, i) => {
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j += 4096) bytes[j] = (i * 31 + j / 4096) & 255;
    return bytes;
  });
  for (const threads of [1, 2, 3]) {
    using pool = new HashPool(threads);
    assert.equal(pool.threads, threads);
    const reads: number[][] = sources.map(() => []);
    const digests = await pool.digest(sources.map((bytes, i) => reusedViewJob(bytes, reads[i]!)));
    assert.deepEqual(digests, sources.map(sha256), `${threads} threads`);
    // Each job was read in order, piece by piece, once.
    for (const [i, starts] of reads.entries()) {
      const pieces = Math.ceil(lengths[i]! / HASH_PIECE);
      assert.deepEqual(starts, Array.from({ length: pieces }, (_, k) => k * HASH_PIECE));
    }
    // The pool serves several rounds.
    assert.deepEqual(await pool.digest([reusedViewJob(sources[2]!, [])]), [sha256(sources[2]!)]);
    assert.deepEqual(await pool.digest([]), []);
  }
});

Deno.test("hash pool: a read that throws fails the digest; a closed pool refuses more", async () => {
  using pool = new HashPool(2);
  const broken: HashJob = {
    length: 10,
    read() {
      throw new Error("read back failed");
    },
  };
  await assert.rejects(pool.digest([broken]), /read back failed/);
  pool.close();
  await assert.rejects(pool.digest([reusedViewJob(new Uint8Array(4), [])]), /hash pool was closed/);
  assert.throws(() => new HashPool(0), /at least one thread/);
});
