/**
 * The conformance suite every target runs: the contract of
 * `bench/core/target.ts` checked with real bytes. Seeded random bytes go in
 * at unaligned offsets and lengths and come back equal; buffers stay apart;
 * out-of-range copies, foreign buffers and used-after-free buffers are
 * refused; `free`, `freeAll` and `close` are safe twice and `using` closes;
 * allocation beyond the reservation does what the target declares; and each
 * optional extension is present exactly where declared, and then checked:
 * staging and queued copies (a staging's `close()` waits for them), the load
 * meter (copies, memory, a leak as {@link DeviceLeakError}), kernels (run
 * after the copies issued before) and device addresses.
 *
 * A target's test registers it in a few lines:
 *
 * ```ts ignore
 * import { targetConformance } from "./_conformance.ts";
 * import { HostTarget } from "./host.ts";
 *
 * targetConformance({
 *   name: "host",
 *   open: () => new HostTarget(),
 *   expect: { id: "host", kind: "host", transferPhase: "copy", beyondReservation: "refuses" },
 *   extensions: { staging: "pageable", metering: false, kernels: false, deviceAddress: false },
 * });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { NativeMemory } from "../ffi/native_memory.ts";
import { FILL_U32_PTX } from "../gpu/_test_kernels.ts";
import { fillRandomWords } from "../util/random.ts";
import { testUnless } from "../util/testing.ts";
import {
  type DeviceBuffer,
  DeviceLeakError,
  type HostStaging,
  type Target,
} from "../core/target.ts";

/** What the target under test must be. */
export interface TargetExpectations {
  /** The id it reports: `host`, `cuda:0`. */
  readonly id: string;
  /** Its `info.kind`. */
  readonly kind: string;
  readonly transferPhase: Target["transferPhase"];
  /**
   * What an allocation beyond the bytes given to `reserve` does: `refuses`
   * (the host arena holds only what was reserved) or `allocates` (device
   * memory, which `reserve` only checks).
   */
  readonly beyondReservation: "refuses" | "allocates";
}

/** The optional members the target must have; the suite checks that the others are absent. */
export interface TargetExtensions {
  /** `allocatePinned` and `copyInAsync`, and whether the staging is page-locked; `false`: neither. */
  readonly staging: "pinned" | "pageable" | false;
  /** `meterLoad`. */
  readonly metering: boolean;
  /** `kernels`. */
  readonly kernels: boolean;
  /** `deviceAddress`. */
  readonly deviceAddress: boolean;
}

/** A target under test. */
export interface TargetSubject {
  /** Names the test: `host`, `cuda:0 on the fake driver`. */
  readonly name: string;
  /**
   * Opens a fresh target; each step opens its own and closes it. Whatever
   * must be closed after the target (a driver) goes on `resources`.
   */
  readonly open: (resources: DisposableStack) => Target;
  /** Runs once before the first step (configuring a fake driver). */
  readonly before?: () => void;
  readonly expect: TargetExpectations;
  readonly extensions: TargetExtensions;
  /** Why the target cannot be opened here; the test is then skipped with the reason printed. */
  readonly skip?: string | undefined;
}

type Step = (
  target: Target,
  subject: TargetSubject,
  resources: DisposableStack,
) => void | Promise<void>;

/** Registers the conformance test of `subject`: one test, a step per part of the contract. */
export function targetConformance(subject: TargetSubject): void {
  const { staging, metering, kernels, deviceAddress } = subject.extensions;
  const steps: [string, Step][] = [
    ["id, transfer phase and info", checkIdentity],
    ["optional members present exactly as declared", checkExtensions],
    ["round trips at unaligned offsets and lengths, and of zero bytes", checkRoundTrips],
    ["buffers are independent of each other", checkIndependence],
    ["ranges outside a buffer and sizes that are no byte counts are RangeErrors", checkRanges],
    ["a buffer of another target is refused", checkForeignBuffers],
    ["free: freeing twice does nothing, a freed buffer is refused", checkFree],
    ["freeAll frees every buffer, twice is safe, and the target is usable after", checkFreeAll],
    ["allocation within and beyond the reservation", checkReservation],
    ["close() twice is safe and frees every buffer", checkClose],
    ["`using` closes the target at the end of its block", checkUsing],
    ["closing the target with copies in flight is safe", checkCloseInFlight],
  ];
  if (staging !== false) {
    steps.push(
      ["staging: size, pinned, pointer and view agree, close() twice", checkStaging],
      ["copyInAsync: round trips, zero bytes, ranges, many queued at once", checkCopyInAsync],
      ["a staging's close() waits for the copies queued from it", checkStagingCloseWaits],
    );
  }
  if (metering) {
    steps.push(
      ["meterLoad: copies, memory, and a leak found after release", checkMeterLeak],
      ["meterLoad: retained staging and buffers from before are no leak", checkMeterNoLeak],
    );
  }
  if (kernels) steps.push(["kernels: run after the copies issued before", checkKernels]);
  if (deviceAddress) steps.push(["deviceAddress: offsets, no overlap, ranges", checkAddresses]);

  testUnless(subject.skip, `${subject.name} target conformance`, async (t) => {
    subject.before?.();
    for (const [name, step] of steps) {
      await t.step(name, async () => {
        using resources = new DisposableStack();
        const target = resources.use(subject.open(resources));
        await step(target, subject, resources);
      });
    }
  });
}

// ---- the core contract ----

async function checkIdentity(target: Target, { expect }: TargetSubject): Promise<void> {
  assert.equal(target.id, expect.id);
  assert.equal(target.transferPhase, expect.transferPhase);
  target.reserve(1 << 16);
  const info = target.info;
  assert.equal(info.kind, expect.kind);
  for (const [key, value] of Object.entries(info)) {
    assert.ok(
      typeof value === "string" || typeof value === "boolean" ||
        (typeof value === "number" && Number.isFinite(value)),
      `info.${key} is ${String(value)}`,
    );
  }
  await target.synchronize();
}

function checkExtensions(target: Target, { extensions }: TargetSubject): void {
  const has = {
    allocatePinned: typeof target.allocatePinned === "function",
    copyInAsync: typeof target.copyInAsync === "function",
    meterLoad: typeof target.meterLoad === "function",
    kernels: typeof target.kernels?.loadModule === "function" &&
      typeof target.kernels.launch === "function",
    deviceAddress: typeof target.deviceAddress === "function",
  };
  assert.deepEqual(has, {
    allocatePinned: extensions.staging !== false,
    copyInAsync: extensions.staging !== false,
    meterLoad: extensions.metering,
    kernels: extensions.kernels,
    deviceAddress: extensions.deviceAddress,
  });
  if (!extensions.kernels) assert.equal(target.kernels, undefined);
  if (!extensions.deviceAddress) assert.equal(target.deviceAddress, undefined);
}

async function checkRoundTrips(target: Target): Promise<void> {
  const sizes = [1, 255, 4097, (9 << 20) + 5];
  target.reserve(room(sizes));
  using source = randomMemory((9 << 20) + 64, 1);
  using other = randomMemory(64 << 10, 2);
  for (const size of sizes) {
    const buffer = target.allocate(size);
    assert.equal(buffer.size, size);
    assert.equal(buffer.target, target.id);
    // the whole buffer from an unaligned source address
    const model = source.view(3, size).slice();
    await target.copyIn(buffer, 0, source.pointer(3), size);
    await target.synchronize();
    assertSameBytes(target.readBack(buffer, 0, size), model, `${size}-byte buffer`);
    // then pieces: first and last bytes, unaligned spans, nothing at either end
    const pieces: [number, number][] = [
      [0, 1],
      [size - 1, 1],
      [Math.min(1, size - 1), Math.min(7, size - 1)],
      [Math.floor(size / 3), Math.min(4093, size - Math.floor(size / 3))],
      [0, 0],
      [size, 0],
    ];
    for (const [i, [offset, length]] of pieces.entries()) {
      const from = 11 + 97 * i;
      await target.copyIn(buffer, offset, other.pointer(from), length);
      model.set(other.view(from, length), offset);
    }
    await target.synchronize();
    assertSameBytes(target.readBack(buffer, 0, size), model, `${size}-byte buffer after pieces`);
    assertSameBytes(
      target.readBack(buffer, size - 1, 1),
      model.subarray(size - 1),
      `last byte of ${size}`,
    );
    assert.equal(target.readBack(buffer, size, 0).length, 0);
    target.free(buffer);
  }
  // an empty buffer holds nothing, and copies of nothing into it succeed
  const empty = target.allocate(0);
  assert.equal(empty.size, 0);
  await target.copyIn(empty, 0, source.pointer(), 0);
  assert.equal(target.readBack(empty, 0, 0).length, 0);
  target.free(empty);
}

async function checkIndependence(target: Target): Promise<void> {
  const sizes = [4099, 1000, 5000];
  target.reserve(room([...sizes, 1000]));
  using source = randomMemory(1 << 16, 3);
  const [a, b, c] = sizes.map((size) => target.allocate(size)) as [
    DeviceBuffer,
    DeviceBuffer,
    DeviceBuffer,
  ];
  await target.copyIn(a, 0, source.pointer(0), a.size);
  await target.copyIn(b, 0, source.pointer(10_000), b.size);
  await target.copyIn(c, 0, source.pointer(20_000), c.size);
  await target.synchronize();
  const expectA = source.view(0, a.size);
  const expectC = source.view(20_000, c.size);
  // rewriting all of b leaves its neighbours alone
  await target.copyIn(b, 0, source.pointer(30_000), b.size);
  await target.synchronize();
  assertSameBytes(target.readBack(a, 0, a.size), expectA, "a after b was rewritten");
  assertSameBytes(target.readBack(b, 0, b.size), source.view(30_000, b.size), "b");
  assertSameBytes(target.readBack(c, 0, c.size), expectC, "c after b was rewritten");
  // so does a buffer allocated where a freed one was
  target.free(b);
  const d = target.allocate(1000);
  await target.copyIn(d, 0, source.pointer(40_000), d.size);
  await target.synchronize();
  assertSameBytes(target.readBack(d, 0, d.size), source.view(40_000, d.size), "d");
  assertSameBytes(target.readBack(a, 0, a.size), expectA, "a after d");
  assertSameBytes(target.readBack(c, 0, c.size), expectC, "c after d");
}

async function checkRanges(target: Target): Promise<void> {
  target.reserve(room([1024, 1024, 4096]));
  using source = randomMemory(4096, 4);
  const buffer = target.allocate(1024);
  const next = target.allocate(1024);
  await target.copyIn(next, 0, source.pointer(2048), 1024);
  const outside: [number, number][] = [
    [-1, 1],
    [0, -1],
    [0, 1025],
    [1024, 1],
    [1000, 100],
    [1.5, 1],
    [0, Number.NaN],
  ];
  for (const [offset, length] of outside) {
    await assert.rejects(
      () => target.copyIn(buffer, offset, source.pointer(), length),
      RangeError,
      `copyIn ${offset}+${length}`,
    );
    assert.throws(() => target.readBack(buffer, offset, length), RangeError, `readBack ${offset}`);
  }
  await target.synchronize();
  assertSameBytes(target.readBack(next, 0, 1024), source.view(2048, 1024), "the next buffer");
  for (const bytes of [-1, Number.NaN, 1.5, Infinity]) {
    assert.throws(() => target.allocate(bytes), RangeError, `allocate(${bytes})`);
  }
  // nothing was lost: the rest of the reservation is still there
  const whole = target.allocate(4096);
  await target.copyIn(whole, 0, source.pointer(), 4096);
  assertSameBytes(target.readBack(whole, 0, 4096), source.view(0, 4096), "after the refusals");
}

async function checkForeignBuffers(
  target: Target,
  subject: TargetSubject,
  resources: DisposableStack,
): Promise<void> {
  target.reserve(1 << 16);
  using source = randomMemory(4096, 5);
  const made: DeviceBuffer = { target: "elsewhere", size: 64 };
  await assert.rejects(() => target.copyIn(made, 0, source.pointer(), 64), /"elsewhere"/);
  assert.throws(() => target.readBack(made, 0, 1), /"elsewhere"/);
  assert.throws(() => target.free(made), /"elsewhere"/);

  // another target of the same kind has its own buffers, with the same id
  const other = resources.use(subject.open(resources));
  other.reserve(1 << 16);
  const theirs = other.allocate(64);
  assert.equal(theirs.target, target.id);
  await other.copyIn(theirs, 0, source.pointer(), 64);
  await assert.rejects(() => target.copyIn(theirs, 0, source.pointer(64), 64), Error);
  assert.throws(() => target.readBack(theirs, 0, 64), Error);
  assert.throws(() => target.free(theirs), Error);
  await other.synchronize();
  assertSameBytes(other.readBack(theirs, 0, 64), source.view(0, 64), "the other target's buffer");
}

async function checkFree(target: Target): Promise<void> {
  target.reserve(room([4096, 4096]));
  using source = randomMemory(8192, 6);
  const kept = target.allocate(4096);
  const freed = target.allocate(4096);
  await target.copyIn(kept, 0, source.pointer(), 4096);
  await target.copyIn(freed, 0, source.pointer(4096), 4096);
  target.free(freed);
  target.free(freed);
  await assert.rejects(() => target.copyIn(freed, 0, source.pointer(), 1), /after free\(\)/);
  assert.throws(() => target.readBack(freed, 0, 1), /after free\(\)/);
  await target.synchronize();
  assertSameBytes(target.readBack(kept, 0, 4096), source.view(0, 4096), "the buffer kept");
}

async function checkFreeAll(target: Target): Promise<void> {
  const sizes = [1000, 3000, 100];
  target.reserve(room(sizes));
  using source = randomMemory(room(sizes) + 64, 7);
  const buffers = sizes.map((size) => target.allocate(size));
  for (const buffer of buffers) await target.copyIn(buffer, 0, source.pointer(), buffer.size);
  target.freeAll();
  target.freeAll();
  for (const buffer of buffers) {
    assert.throws(() => target.readBack(buffer, 0, 1), /after free\(\)/);
    await assert.rejects(() => target.copyIn(buffer, 0, source.pointer(), 1), /after free\(\)/);
    target.free(buffer); // freed already: nothing happens
  }
  // the whole reservation is there again
  const whole = target.allocate(room(sizes));
  await target.copyIn(whole, 0, source.pointer(1), whole.size);
  await target.synchronize();
  assertSameBytes(target.readBack(whole, 0, whole.size), source.view(1, whole.size), "after");
}

async function checkReservation(
  target: Target,
  { expect, open }: TargetSubject,
  resources: DisposableStack,
): Promise<void> {
  const quarter = 16 << 10;
  target.reserve(4 * quarter);
  using source = randomMemory(8 * quarter, 8);
  const buffers = [0, 1, 2, 3].map(() => target.allocate(quarter));
  for (const [i, buffer] of buffers.entries()) {
    await target.copyIn(buffer, 0, source.pointer(i * quarter), quarter);
  }
  // reserving again what is reserved already changes nothing
  target.reserve(4 * quarter);
  target.reserve(quarter);
  const beyond = () => target.allocate(4 * quarter);
  if (expect.beyondReservation === "refuses") {
    assert.throws(beyond, Error, "an allocation beyond the reservation");
  } else {
    const extra = beyond();
    await target.copyIn(extra, 0, source.pointer(4 * quarter), 4 * quarter);
    await target.synchronize();
    assertSameBytes(
      target.readBack(extra, 0, 4 * quarter),
      source.view(4 * quarter, 4 * quarter),
      "the buffer beyond the reservation",
    );
  }
  await target.synchronize();
  for (const [i, buffer] of buffers.entries()) {
    assertSameBytes(
      target.readBack(buffer, 0, quarter),
      source.view(i * quarter, quarter),
      `buffer ${i} within the reservation`,
    );
  }
  // once every buffer is freed, the whole reservation is there again
  for (const buffer of buffers) target.free(buffer);
  const whole = target.allocate(4 * quarter);
  await target.copyIn(whole, 0, source.pointer(quarter), 4 * quarter);
  await target.synchronize();
  assertSameBytes(
    target.readBack(whole, 0, 4 * quarter),
    source.view(quarter, 4 * quarter),
    "the reservation reused",
  );
  // without any reservation
  const fresh = resources.use(open(resources));
  if (expect.beyondReservation === "refuses") {
    assert.throws(() => fresh.allocate(4096), Error, "an allocation before reserve()");
  } else {
    const buffer = fresh.allocate(4096);
    await fresh.copyIn(buffer, 0, source.pointer(), 4096);
    assertSameBytes(fresh.readBack(buffer, 0, 4096), source.view(0, 4096), "before reserve()");
  }
}

async function checkClose(target: Target): Promise<void> {
  target.reserve(1 << 16);
  using source = randomMemory(4096, 9);
  const buffer = target.allocate(4096);
  await target.copyIn(buffer, 0, source.pointer(), 4096);
  target.close();
  target.close();
  target[Symbol.dispose]();
  assert.throws(() => target.readBack(buffer, 0, 1), Error);
  await assert.rejects(() => target.copyIn(buffer, 0, source.pointer(), 1), Error);
}

async function checkUsing(
  _target: Target,
  { open }: TargetSubject,
  resources: DisposableStack,
): Promise<void> {
  using source = randomMemory(4096, 10);
  let closed: Target;
  let buffer: DeviceBuffer;
  {
    using target = open(resources);
    closed = target;
    target.reserve(1 << 16);
    buffer = target.allocate(4096);
    await target.copyIn(buffer, 0, source.pointer(), 4096);
    assertSameBytes(target.readBack(buffer, 0, 4096), source.view(0, 4096), "inside the block");
  }
  assert.throws(() => closed.readBack(buffer, 0, 1), Error, "a buffer outlived its target");
  closed.close(); // and closing again is safe
}

async function checkCloseInFlight(target: Target): Promise<void> {
  const size = 16 << 20;
  target.reserve(2 * size + (1 << 20));
  using source = randomMemory(size, 11);
  const buffer = target.allocate(size);
  const copies = [target.copyIn(buffer, 0, source.pointer(), size)];
  let staging: HostStaging | undefined;
  if (target.allocatePinned && target.copyInAsync) {
    staging = target.allocatePinned(size);
    staging.view(0, size).set(source.view(0, size));
    copies.push(target.copyInAsync(target.allocate(size), 0, staging, 0, size));
  }
  target.close();
  const settled = await Promise.allSettled(copies);
  assert.equal(settled.length, copies.length);
  assert.throws(() => target.readBack(buffer, 0, 1), Error);
  staging?.close();
  staging?.close();
}

// ---- staging ----

async function checkStaging(target: Target, { extensions }: TargetSubject): Promise<void> {
  const size = 8197;
  target.reserve(1 << 16);
  const staging = target.allocatePinned!(size);
  assert.equal(staging.size, size);
  assert.equal(staging.pinned, extensions.staging === "pinned");
  assert.equal(staging.closed, false);
  const words = new Uint32Array(Math.ceil(size / 4));
  fillRandomWords(words, 12);
  const bytes = new Uint8Array(words.buffer, 0, size);
  staging.view(0, size).set(bytes);
  const base = Deno.UnsafePointer.value(staging.pointer());
  assert.equal(Deno.UnsafePointer.value(staging.pointer(0)), base);
  for (const offset of [1, 17, 4096, size - 1]) {
    assert.equal(Deno.UnsafePointer.value(staging.pointer(offset)) - base, BigInt(offset));
  }
  // the pointer and the view are the same memory: a copy from one lands as the other reads
  const buffer = target.allocate(100);
  await target.copyIn(buffer, 0, staging.pointer(17), 100);
  assertSameBytes(target.readBack(buffer, 0, 100), bytes.subarray(17, 117), "from pointer(17)");
  assertSameBytes(staging.view(17, 100), bytes.subarray(17, 117), "view(17, 100)");
  staging.close();
  assert.equal(staging.closed, true);
  staging.close();
  staging[Symbol.dispose]();
  assert.throws(() => staging.view(0, 1), Error, "a view of a closed staging");
}

async function checkCopyInAsync(target: Target): Promise<void> {
  const allocatePinned = target.allocatePinned!.bind(target);
  const copyInAsync = target.copyInAsync!.bind(target);
  const size = (1 << 20) + 7;
  target.reserve(room([2 * size, 8 << 16]));
  using staging = allocatePinned(size);
  const words = new Uint32Array(Math.ceil(size / 4));
  fillRandomWords(words, 13);
  staging.view(0, size).set(new Uint8Array(words.buffer, 0, size));
  const buffer = target.allocate(2 * size);
  const model = new Uint8Array(2 * size);
  // disjoint copies queued together
  const copies: [number, number, number][] = [ // source offset, length, buffer offset
    [0, size, 0],
    [3, 4093, size + 11],
    [size, 0, 0],
    [5, 1, 2 * size - 1],
    [1000, 65_537, size + 8192],
  ];
  await Promise.all(copies.map(([from, length, at]) => {
    model.set(staging.view(from, length), at);
    return copyInAsync(buffer, at, staging, from, length);
  }));
  for (const [from, length, at] of copies) {
    assertSameBytes(
      target.readBack(buffer, at, length),
      model.subarray(at, at + length),
      `${length} bytes queued from ${from} to ${at}`,
    );
  }
  // once a copy resolves, the staging may be written again without changing what landed
  const landed = staging.view(0, 64).slice();
  staging.view(0, 64).fill(0xa5);
  assertSameBytes(target.readBack(buffer, 0, 64), landed, "bytes that landed");

  for (
    const [from, length, at] of [[size - 10, 11, 0], [-1, 1, 0], [0, -1, 0], [0, 10, 2 * size - 9]]
  ) {
    await assert.rejects(
      () => copyInAsync(buffer, at!, staging, from!, length!),
      RangeError,
      `copyInAsync from ${from}+${length} to ${at}`,
    );
  }

  // many stagings queued back to back, each its own bytes
  const many = Array.from({ length: 8 }, (_, i) => {
    const s = allocatePinned(1 << 16);
    s.view(0, 1 << 16).fill(i + 1);
    return s;
  });
  const lane = target.allocate(8 << 16);
  await Promise.all(many.map((s, i) => copyInAsync(lane, i << 16, s, 0, 1 << 16)));
  for (const s of many) s.close();
  await target.synchronize();
  for (let i = 0; i < 8; i++) {
    const got = target.readBack(lane, i << 16, 1 << 16);
    assert.ok(got.every((b) => b === i + 1), `staging ${i} did not land whole`);
  }
}

async function checkStagingCloseWaits(target: Target): Promise<void> {
  const size = 16 << 20;
  target.reserve(size + (1 << 20));
  const staging = target.allocatePinned!(size);
  const words = new Uint32Array(size / 4);
  fillRandomWords(words, 14);
  const bytes = new Uint8Array(words.buffer);
  staging.view(0, size).set(bytes);
  const buffer = target.allocate(size);
  const landed = target.copyInAsync!(buffer, 0, staging, 0, size);
  staging.close(); // while the copy is queued: the memory must stay until it lands
  assert.equal(staging.closed, true);
  await landed;
  await target.synchronize();
  assertSameBytes(target.readBack(buffer, 0, size), bytes, "a copy from a staging closed early");
  await assert.rejects(
    () => target.copyInAsync!(buffer, 0, staging, 0, 1),
    Error,
    "a copy from a closed staging",
  );
}

// ---- metering ----

async function checkMeterLeak(target: Target, { extensions }: TargetSubject): Promise<void> {
  const piece = 4 << 20;
  target.reserve(4 * piece);
  using source = randomMemory(piece, 15);
  const meter = target.meterLoad!(performance.now());
  const buffer = target.allocate(2 * piece);
  await target.copyIn(buffer, 0, source.pointer(), piece);
  let staging: HostStaging | undefined;
  if (extensions.staging !== false) {
    staging = target.allocatePinned!(piece);
    await target.copyInAsync!(buffer, piece, staging, 0, piece);
  }
  const copied = staging === undefined ? piece : 2 * piece;
  const loaded = meter.loaded();
  assert.equal(loaded.h2dBytes, copied);
  assert.ok(loaded.h2dEventMs !== null && loaded.h2dEventMs >= 0, `h2d ${loaded.h2dEventMs} ms`);
  assert.ok(
    loaded.memoryAfterBytes - loaded.memoryBeforeBytes >= 2 * piece,
    `${loaded.memoryAfterBytes - loaded.memoryBeforeBytes} more bytes in use after the load`,
  );
  assert.ok(loaded.gpuMemorySource.length > 0);
  assert.equal(
    loaded.peakMemoryBytes,
    loaded.gpuMemory.length === 0 ? null : Math.max(...loaded.gpuMemory.map((s) => s.usedBytes)),
  );
  for (const [i, sample] of loaded.gpuMemory.entries()) {
    assert.ok(sample.t >= 0 && sample.t >= (loaded.gpuMemory[i - 1]?.t ?? 0), `sample ${i}`);
  }
  const leak = thrown(() => meter.released());
  assert.ok(leak instanceof DeviceLeakError, `${leak.name}: ${leak.message}`);
  assert.match(leak.message, /device buffer\(s\) still allocated/);
  if (staging !== undefined) assert.match(leak.message, /pinned staging buffer\(s\) still/);
  target.free(buffer);
  staging?.close();
  const released = meter.released();
  assert.ok(
    released.memoryReleasedBytes < loaded.memoryAfterBytes,
    `${released.memoryReleasedBytes} bytes in use after release, ${loaded.memoryAfterBytes} before`,
  );
}

async function checkMeterNoLeak(target: Target, { extensions }: TargetSubject): Promise<void> {
  target.reserve(1 << 20);
  const before = target.allocate(4096); // the caller's, from before the load
  const meter = target.meterLoad!(performance.now());
  const pool = extensions.staging === false
    ? undefined
    : target.allocatePinned!(4096, { retained: true });
  const loaded = meter.loaded();
  assert.equal(loaded.h2dBytes, 0);
  assert.equal(loaded.h2dEventMs, null);
  assert.equal(typeof meter.released().memoryReleasedBytes, "number");
  pool?.close();
  target.free(before);
  await target.synchronize();
}

// ---- kernels and device addresses ----

async function checkKernels(target: Target, { extensions }: TargetSubject): Promise<void> {
  const kernels = target.kernels!;
  target.reserve(1 << 20);
  using source = randomMemory(8192, 16);
  const buffer = target.allocate(8192);
  const expected = source.view(0, 8192).slice();
  await target.copyIn(buffer, 0, source.pointer(), 8192);
  let queued: Promise<void> = Promise.resolve();
  let staging: HostStaging | undefined;
  if (extensions.staging !== false) {
    // a copy still queued when the kernel launches: the kernel must run after it
    staging = target.allocatePinned!(8192);
    staging.view(0, 8192).fill(0x5a);
    expected.fill(0x5a);
    queued = target.copyInAsync!(buffer, 0, staging, 0, 8192);
  }
  using module = kernels.loadModule(FILL_U32_PTX);
  // fill_u32(u32 *out, u32 value, u32 n): the low words of the u64 parameters are its arguments
  await kernels.launch(module, "fill_u32", [1, 1, 1], [256, 1, 1], [
    { kind: "address", buffer, offset: 256 },
    { kind: "u64", value: 0x01020304 },
    { kind: "u64", value: 16 },
  ]);
  await queued;
  staging?.close();
  for (let i = 256; i < 320; i += 4) expected.set([4, 3, 2, 1], i);
  assertSameBytes(target.readBack(buffer, 0, 8192), expected, "after fill_u32 at 256");
  const foreign = { close() {}, [Symbol.dispose]() {} };
  await assert.rejects(
    () => kernels.launch(foreign, "fill_u32", [1, 1, 1], [1, 1, 1], []),
    Error,
    "a module this target did not load",
  );
  module.close();
  module.close();
}

function checkAddresses(target: Target): void {
  const address = target.deviceAddress!.bind(target);
  target.reserve(1 << 20);
  const a = target.allocate(8192);
  const b = target.allocate(4096);
  const startA = address(a, 0);
  const startB = address(b, 0);
  assert.ok(startA > 0n && startB > 0n);
  for (const offset of [1, 255, 4096, 8191]) {
    assert.equal(address(a, offset) - startA, BigInt(offset));
  }
  assert.ok(startA + 8192n <= startB || startB + 4096n <= startA, "buffers overlap");
  for (const offset of [8193, -1]) assert.throws(() => address(a, offset), RangeError);
  target.free(b);
  assert.throws(() => address(b, 0), /after free\(\)/);
  assert.throws(() => address({ target: "elsewhere", size: 1 }, 0), /"elsewhere"/);
}

// ---- helpers ----

/** Reservation enough for buffers of `sizes`, whatever the target's alignment (up to 4 KiB). */
function room(sizes: readonly number[]): number {
  return sizes.reduce((n, size) => n + Math.ceil(Math.max(size, 1) / 4096) * 4096, 0);
}

/** `size` bytes of native memory, seeded random. */
function randomMemory(size: number, seed: number): NativeMemory {
  const memory = NativeMemory.allocate(Math.ceil(size / 4) * 4);
  fillRandomWords(new Uint32Array(memory.view(0, memory.size).buffer), seed);
  return memory;
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${what}: byte ${i} of ${expected.length} is ${actual[i]}, expected ${expected[i]}`,
      );
    }
  }
}

/** The error `fn` throws; fails the test when it throws nothing. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Error, String(error));
    return error;
  }
  assert.fail("threw nothing");
}
