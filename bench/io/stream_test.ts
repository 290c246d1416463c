import assert from "node:assert/strict";
import { join } from "node:path";
import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { O_DIRECT } from "../ffi/libc.ts";
import { Recorder } from "../core/recorder.ts";
import { fileSystemOf, testUnless, withTempDir } from "../util/testing.ts";
import { DIRECT_ALIGNMENT } from "./align.ts";
import { planRanges, StagingImage, StagingRing, type StreamRange, streamRanges } from "./stream.ts";

/** A file of `size` bytes where byte i is `i % 251`, so any misplaced byte shows. */
async function patterned(dir: string, size: number): Promise<{ path: string; bytes: Uint8Array }> {
  const bytes = new Uint8Array(size).map((_, i) => i % 251);
  const path = join(dir, "data.bin");
  await Deno.writeFile(path, bytes);
  return { path, bytes };
}

const pageable = (bytes: number) => NativeMemory.allocate(bytes);

Deno.test("planRanges: covers the range exactly, each piece at most one chunk", () => {
  assert.deepEqual(planRanges(100, 9_000, 4096), [
    { offset: 100, length: 4096 },
    { offset: 4196, length: 4096 },
    { offset: 8292, length: 708 },
  ]);
  assert.deepEqual(planRanges(5, 5, 4096), []);
  // O_DIRECT: boundaries on multiples of the chunk from the aligned start, so each widened
  // read is at most one chunk.
  assert.deepEqual(planRanges(100, 9_000, 4096, true), [
    { offset: 100, length: 3996 },
    { offset: 4096, length: 4096 },
    { offset: 8192, length: 808 },
  ]);
  assert.throws(() => planRanges(0, 10, 1000, true), /not a multiple of 4096/);
  assert.throws(() => planRanges(0, 10, 0), /not a positive integer/);
});

for (
  const [name, depth, buffers, readers] of [
    ["one read at a time", 1, 1, 1],
    ["two in flight, two buffers", 2, 2, 1],
    ["two in flight, four buffers, three preads per chunk", 2, 4, 3],
  ] as const
) {
  Deno.test(`streamRanges: every byte once, in a ring (${name})`, async () => {
    await withTempDir(async (dir) => {
      const { path, bytes } = await patterned(dir, 100_003);
      using file = NativeFile.open(path);
      using ring = StagingRing.allocate(buffers, 7_000, pageable);
      const seen = new Uint8Array(bytes.length);
      const covered = new Uint8Array(bytes.length);
      const recorder = new Recorder();
      let inUse = 0;
      let mostInUse = 0;
      const total = await streamRanges({
        file,
        ranges: planRanges(13, 99_990, 7_000),
        depth,
        readers,
        staging: ring,
        recorder,
        sink: async (chunk) => {
          inUse++;
          mostInUse = Math.max(mostInUse, inUse);
          seen.set(chunk.view(), chunk.range.offset);
          for (let i = 0; i < chunk.range.length; i++) covered[chunk.range.offset + i]! += 1;
          await new Promise((resolve) => setTimeout(resolve, 1));
          inUse--;
        },
      });
      assert.equal(total, 99_990 - 13);
      assert.deepEqual(seen.subarray(13, 99_990), bytes.subarray(13, 99_990));
      assert.ok(covered.subarray(13, 99_990).every((n) => n === 1), "a byte was handed on twice");
      assert.ok(covered.subarray(0, 13).every((n) => n === 0));
      assert.ok(mostInUse <= buffers, `${mostInUse} chunks held at once with ${buffers} buffers`);
      const reads = recorder.spans.filter((s) => s.phase === "read");
      assert.equal(reads.length, Math.ceil((99_990 - 13) / 7_000));
      assert.ok(reads.every((s) => s.detail === path));
    });
  });
}

Deno.test("streamRanges: an image holds the range at its file offsets", async () => {
  await withTempDir(async (dir) => {
    const { path, bytes } = await patterned(dir, 50_000);
    using file = NativeFile.open(path);
    using memory = NativeMemory.allocate(40_000);
    const total = await streamRanges({
      file,
      ranges: planRanges(5_000, 45_000, 3_000),
      depth: 3,
      staging: new StagingImage(memory, 5_000),
    });
    assert.equal(total, 40_000);
    assert.deepEqual(memory.view(0, 40_000), bytes.subarray(5_000, 45_000));
    const outside = new StagingImage(memory, 5_000);
    assert.throws(() => outside.acquire(4_000, 10), /outside a 40000-byte image/);
  });
});

Deno.test("streamRanges: a file shorter than its ranges fails, naming it, after every read settles", async () => {
  await withTempDir(async (dir) => {
    const { path } = await patterned(dir, 20_000);
    using file = NativeFile.open(path);
    using ring = StagingRing.allocate(3, 4096, pageable);
    let sinking = 0;
    let settledAfter = true;
    await assert.rejects(
      streamRanges({
        file,
        ranges: planRanges(0, 30_000, 4096),
        depth: 3,
        staging: ring,
        sink: async () => {
          sinking++;
          await new Promise((resolve) => setTimeout(resolve, 5));
          sinking--;
        },
      }).finally(() => {
        settledAfter = sinking === 0;
      }),
      new RegExp(`^Error: Cannot read "${path}": file ended at \\d+, before \\d+$`),
    );
    assert.ok(settledAfter, "rejected while a sink still held a buffer");
  });
});

Deno.test("streamRanges: a sink that fails stops the reads and its error is thrown", async () => {
  await withTempDir(async (dir) => {
    const { path } = await patterned(dir, 200_000);
    using file = NativeFile.open(path);
    using ring = StagingRing.allocate(2, 4096, pageable);
    let calls = 0;
    await assert.rejects(
      streamRanges({
        file,
        ranges: planRanges(0, 200_000, 4096),
        depth: 2,
        staging: ring,
        sink: (chunk: { range: StreamRange }) => {
          calls++;
          if (chunk.range.offset >= 8192) throw new Error("sink refused");
        },
      }),
      /sink refused/,
    );
    assert.ok(calls < 10, `${calls} chunks handed on after the failure`);
  });
});

Deno.test("StagingRing: a read larger than its buffers is refused, and close is idempotent", () => {
  const ring = StagingRing.allocate(2, 4096, pageable);
  assert.throws(() => ring.acquire(0, 4097), /does not fit 4096-byte staging buffers/);
  ring.close();
  ring.close();
  assert.ok(ring.closed);
});

const DIRECT_DIR = Deno.cwd();
const directSkip = (await fileSystemOf(DIRECT_DIR))?.includes("tmpfs")
  ? "the working folder is on tmpfs, which has no page cache for O_DIRECT to bypass"
  : undefined;

testUnless(
  directSkip,
  "streamRanges: O_DIRECT widens reads to the alignment and hands on only the range",
  async () => {
    const dir = await Deno.makeTempDir({ dir: DIRECT_DIR, prefix: ".weightbench-direct-" });
    try {
      const { path, bytes } = await patterned(dir, 3 * DIRECT_ALIGNMENT + 123);
      using file = NativeFile.open(path, O_DIRECT);
      using ring = StagingRing.allocate(2, 2 * DIRECT_ALIGNMENT, pageable);
      const seen = new Uint8Array(bytes.length);
      const total = await streamRanges({
        file,
        ranges: planRanges(77, bytes.length - 5, 2 * DIRECT_ALIGNMENT, true),
        depth: 2,
        readers: 2,
        direct: true,
        staging: ring,
        sink: (chunk) => seen.set(chunk.view(), chunk.range.offset),
      });
      assert.equal(total, bytes.length - 5 - 77);
      assert.deepEqual(seen.subarray(77, bytes.length - 5), bytes.subarray(77, bytes.length - 5));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("streamRanges: an abort stops the reads between chunks with the signal's reason", async () => {
  await withTempDir(async (dir) => {
    const { path } = await patterned(dir, 100_000);
    using file = NativeFile.open(path);
    using ring = StagingRing.allocate(1, 4096, pageable);
    const controller = new AbortController();
    let chunks = 0;
    await assert.rejects(
      streamRanges({
        file,
        ranges: planRanges(0, 100_000, 4096),
        depth: 1,
        staging: ring,
        signal: controller.signal,
        sink: () => {
          if (++chunks === 3) controller.abort(new Error("interrupted by SIGINT"));
        },
      }),
      /interrupted by SIGINT/,
    );
    assert.equal(chunks, 3);
  });
});

Deno.test("streamRanges: partitioned, each reader reads a contiguous part in order", async () => {
  await withTempDir(async (dir) => {
    const { path } = await patterned(dir, 8 * 4096);
    using file = NativeFile.open(path);
    const order = async (partition: boolean) => {
      using ring = StagingRing.allocate(2, 4096, pageable);
      const asked: number[] = [];
      const seen: number[] = [];
      await streamRanges({
        file,
        ranges: planRanges(0, 8 * 4096, 4096),
        depth: 2,
        partition,
        // The order reads are asked for: each reader asks for its next range as it takes it.
        staging: {
          acquire: (start, length) => {
            asked.push(start / 4096);
            return ring.acquire(start, length);
          },
          release: (slot) => ring.release(slot),
        },
        sink: (chunk) => {
          seen.push(chunk.range.offset / 4096);
        },
      });
      return { asked, seen };
    };
    const partitioned = await order(true);
    assert.deepEqual(partitioned.asked.slice(0, 2), [0, 4]);
    assert.deepEqual(partitioned.seen.filter((i) => i < 4), [0, 1, 2, 3]);
    assert.deepEqual(partitioned.seen.filter((i) => i >= 4), [4, 5, 6, 7]);
    const dealt = await order(false);
    assert.deepEqual(dealt.asked.slice(0, 2), [0, 1]);
    assert.deepEqual([...dealt.seen].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
