import assert from "node:assert/strict";
import { NativeMemory } from "../ffi/native_memory.ts";
import { fillRandomWords } from "../util/random.ts";
import { targetConformance } from "./_conformance.ts";
import { HOST_ALIGNMENT, HOST_COPY_CHUNK, HOST_INLINE_COPY, HostTarget } from "./host.ts";

targetConformance({
  name: "host",
  open: () => new HostTarget(),
  expect: { id: "host", kind: "host", transferPhase: "copy", beyondReservation: "refuses" },
  extensions: { staging: "pageable", metering: false, kernels: false, deviceAddress: false },
});

/** Native memory of `size` bytes filled with seeded random bytes. */
function randomSource(size: number, seed: number): NativeMemory {
  const memory = NativeMemory.allocate(size);
  const words = new Uint32Array(memory.view(0, size - (size % 4)).buffer);
  fillRandomWords(words, seed);
  return memory;
}

/** The address of the first byte of `view`. */
function address(view: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(view));
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`byte ${i} of ${expected.length} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

Deno.test("host target: allocations are aligned to 256 bytes and do not overlap", () => {
  using target = new HostTarget();
  target.reserve(1 << 20);
  assert.equal(HOST_ALIGNMENT, 256);
  const sizes = [1, 100, 255, 256, 257, 4099, 3];
  const buffers = sizes.map((size) => target.allocate(size));
  const starts = buffers.map((b) => address(target.readBack(b, 0, 1)));
  for (let i = 0; i < buffers.length; i++) {
    assert.equal(starts[i]! % 256n, 0n, `buffer ${i} starts at ${starts[i]}`);
    if (i > 0) {
      assert.ok(starts[i]! >= starts[i - 1]! + BigInt(sizes[i - 1]!), `buffer ${i} overlaps`);
    }
  }
});

Deno.test("host target: allocation past the arena throws", () => {
  using target = new HostTarget();
  assert.throws(() => target.allocate(1), /reserve\(\) first/);
  target.reserve(4096);
  assert.throws(() => target.allocate(4097), /4097 more at 0 do not fit/);
  const whole = target.allocate(4096);
  assert.throws(() => target.allocate(1), /do not fit/);
  target.free(whole);
  const half = target.allocate(2048);
  target.allocate(2048);
  assert.throws(() => target.allocate(1), /do not fit/);
  // growing the arena under live buffers would move them
  assert.throws(() => target.reserve(8192), /buffers are live/);
  target.reserve(4096); // already big enough: nothing changes
  assert.equal(target.info.arenaBytes, 4096);
  target.free(half);
});

Deno.test("host target: a 64 MiB copy split across threads is byte-exact", async () => {
  const size = 64 << 20;
  assert.ok(size > HOST_INLINE_COPY && size > 2 * HOST_COPY_CHUNK);
  using target = new HostTarget({ copyThreads: 4 });
  target.reserve(size + 4096);
  using source = randomSource(size, 4);
  const buffer = target.allocate(size + 16);
  await target.copyIn(buffer, 0, source.pointer(), size);
  await target.synchronize();
  assertSameBytes(target.readBack(buffer, 0, size), source.view(0, size));
  // unaligned offsets and a length that is no multiple of the piece size
  const length = size - 4097;
  await target.copyIn(buffer, 13, source.pointer(7), length);
  assertSameBytes(target.readBack(buffer, 13, length), source.view(7, length));
  assertSameBytes(target.readBack(buffer, 0, 13), source.view(0, 13));
});

Deno.test("host target: a closed target holds no arena, and can be reserved again", () => {
  using target = new HostTarget();
  target.reserve(1 << 16);
  assert.equal(target.info.arenaBytes, 1 << 16);
  target.allocate(64);
  target.close();
  assert.equal(target.info.arenaBytes, 0);
  assert.throws(() => target.allocate(1), /reserve\(\) first/);
  target.reserve(4096);
  assert.equal(target.info.arenaBytes, 4096);
  target.allocate(4096);
});

Deno.test("host target: freeAll resets the arena to its start, and lets it grow", async () => {
  using target = new HostTarget();
  target.reserve(4096);
  using source = randomSource(4096, 5);
  const first = target.allocate(1000);
  target.allocate(3000);
  const start = address(target.readBack(first, 0, 1));
  assert.throws(() => target.allocate(1), /do not fit/);
  target.freeAll();
  const whole = target.allocate(4096);
  assert.equal(address(target.readBack(whole, 0, 1)), start);
  await target.copyIn(whole, 0, source.pointer(), 4096);
  assertSameBytes(target.readBack(whole, 0, 4096), source.view(0, 4096));
  // the arena may grow once every buffer is gone
  target.freeAll();
  target.reserve(8192);
  assert.equal(target.info.arenaBytes, 8192);
});
