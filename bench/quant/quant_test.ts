import assert from "node:assert/strict";
import { dequantize as ggmlDequantize, f32ToF16Bits } from "../formats/ggml.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { dequantizeF16Into } from "./fast.ts";
import { DequantPool } from "./pool.ts";
import { packScalesK4, quantizeBlocks } from "./quantize.ts";
import {
  CANONICAL_NAN_F16,
  DEQUANT_BLOCKS,
  DEQUANT_TYPES,
  dequantizedByteLength,
  type DequantType,
  referenceDequantizeF16,
  referenceDequantizeF32,
  scaleMinK4,
} from "./reference.ts";

/** Fresh random blocks: every byte random, so scales span every FP16 value, NaN and Inf included. */
function randomBlocks(type: DequantType, blocks: number): Uint8Array {
  const bytes = new Uint8Array(blocks * DEQUANT_BLOCKS[type].bytes);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(bytes.length, i + 65536)));
  }
  return bytes;
}

/** The first element where `actual` and `expected` differ, with its block's bytes, or nothing. */
function firstDifference(
  type: DequantType,
  source: Uint8Array,
  actual: Uint16Array,
  expected: Uint16Array,
): string | undefined {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      const { elements, bytes } = DEQUANT_BLOCKS[type];
      const block = Math.floor(i / elements);
      return `${type} element ${i} (block ${block}): 0x${
        actual[i]!.toString(16)
      } where the reference has 0x${expected[i]!.toString(16)}; block bytes ${
        [...source.subarray(block * bytes, (block + 1) * bytes)].join(",")
      }`;
    }
  }
  return undefined;
}

for (const type of DEQUANT_TYPES) {
  Deno.test(`${type}: the fast dequantizer equals the reference bit for bit on fresh random blocks`, () => {
    const source = randomBlocks(type, 3000);
    const out = new Uint16Array(
      source.length / DEQUANT_BLOCKS[type].bytes * DEQUANT_BLOCKS[type].elements,
    );
    dequantizeF16Into(type, source, out);
    assert.equal(
      firstDifference(type, source, out, referenceDequantizeF16(type, source)),
      undefined,
    );
  });

  Deno.test(`${type}: the worker pool equals the reference bit for bit on fresh random blocks`, async () => {
    const { elements, bytes } = DEQUANT_BLOCKS[type];
    const blocks = Math.ceil((3 << 20) / bytes) + 7; // past the inline limit, an uneven split
    using pool = new DequantPool(2);
    using source = NativeMemory.allocate(blocks * bytes);
    source.view(0, blocks * bytes).set(randomBlocks(type, blocks));
    using output = NativeMemory.allocate(blocks * elements * 2);
    await pool.dequantize(type, source.pointer(), blocks * bytes, output.pointer());
    const actual = new Uint16Array(output.view(0, blocks * elements * 2).buffer);
    const expected = referenceDequantizeF16(type, source.view(0, blocks * bytes));
    assert.equal(
      firstDifference(type, source.view(0, blocks * bytes), actual, expected),
      undefined,
    );
  });
}

Deno.test("Q8_0 and Q4_0: the reference agrees with ggml.ts's independent dequantizer", () => {
  for (const type of ["Q8_0", "Q4_0"] as const) {
    const source = randomBlocks(type, 500);
    const count = 500 * 32;
    const f32 = ggmlDequantize(type, source, count);
    const half = referenceDequantizeF16(type, source);
    for (let i = 0; i < count; i++) {
      const expected = Number.isNaN(f32[i]) ? CANONICAL_NAN_F16 : f32ToF16Bits(f32[i]!);
      assert.equal(half[i], expected, `${type} element ${i}`);
    }
  }
});

Deno.test("Q4_K: a block built by hand dequantizes to ggml's formula", () => {
  const block = new Uint8Array(144);
  const view = new DataView(block.buffer);
  view.setUint16(0, f32ToF16Bits(0.5), true); // d
  view.setUint16(2, f32ToF16Bits(0.25), true); // dmin
  const scales = [1, 2, 3, 4, 33, 40, 50, 63];
  const mins = [0, 1, 2, 63, 17, 5, 48, 9];
  block.set(packScalesK4(scales, mins), 4);
  for (let j = 0; j < 8; j++) {
    assert.deepEqual(scaleMinK4(j, block.subarray(4, 16)), [scales[j], mins[j]]);
  }
  for (let l = 0; l < 128; l++) block[16 + l] = (l % 16) | (((l * 7) % 16) << 4);
  const y = referenceDequantizeF32("Q4_K", block);
  for (let g = 0; g < 4; g++) {
    for (let l = 0; l < 32; l++) {
      const q = block[16 + g * 32 + l]!;
      assert.equal(y[g * 64 + l], 0.5 * scales[2 * g]! * (q & 15) - 0.25 * mins[2 * g]!);
      assert.equal(
        y[g * 64 + 32 + l],
        0.5 * scales[2 * g + 1]! * (q >> 4) - 0.25 * mins[2 * g + 1]!,
      );
    }
  }
});

Deno.test("Q4_K: the quantizer writes blocks that dequantize close to the input", () => {
  const x = Float32Array.from({ length: 256 * 8 }, () => (Math.random() - 0.5) * 4);
  const back = referenceDequantizeF32("Q4_K", quantizeBlocks("Q4_K", x));
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(back[i]! - x[i]!));
  assert.ok(worst < 0.3, `worst error ${worst}`);
});

Deno.test("dequantizedByteLength: whole blocks only", () => {
  assert.equal(dequantizedByteLength("Q8_0", 68), 128);
  assert.equal(dequantizedByteLength("Q4_0", 18), 64);
  assert.equal(dequantizedByteLength("Q4_K", 288), 1024);
  assert.throws(() => dequantizedByteLength("Q4_K", 100), /not whole Q4_K blocks/);
  assert.throws(
    () => dequantizeF16Into("Q8_0", new Uint8Array(34), new Uint16Array(31)),
    RangeError,
  );
});
