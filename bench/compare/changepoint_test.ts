import assert from "node:assert/strict";
import { seededRandom } from "../util/random.ts";
import { changePoints, MAX_POINTS, noiseScale } from "./changepoint.ts";
import { normal } from "./simulate.ts";

/** `levels[i]` for `lengths[i]` points each, plus seeded normal noise of `sigma`. */
function series(levels: number[], lengths: number[], sigma: number, seed: number): number[] {
  const random = seededRandom(seed);
  return levels.flatMap((level, i) =>
    Array.from({ length: lengths[i]! }, () => level + sigma * normal(random))
  );
}

Deno.test("one level shift is found at the first run of the new level", () => {
  const x = series([0, 0.1], [25, 35], 0.01, 1);
  const found = changePoints(x);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.index, 25);
  assert.ok(Math.abs(found[0]!.before - 0) < 0.01);
  assert.ok(Math.abs(found[0]!.after - 0.1) < 0.01);
});

Deno.test("two shifts, up then down, are both found", () => {
  const x = series([0, 0.08, 0.02], [20, 15, 25], 0.01, 2);
  assert.deepEqual(changePoints(x).map((p) => p.index), [20, 35]);
});

Deno.test("noise alone, and a single outlier run, are not shifts", () => {
  assert.deepEqual(changePoints(series([0], [60], 0.01, 3)), []);
  const x = series([0], [60], 0.01, 4);
  x[30] = 0.2; // one terrible night
  assert.deepEqual(changePoints(x), []);
  // Two odd runs in a row are still too short a level (3 runs at least).
  x[31] = 0.2;
  assert.deepEqual(changePoints(x), []);
});

Deno.test("short, constant and long series", () => {
  assert.deepEqual(changePoints([]), []);
  assert.deepEqual(changePoints([1, 2, 3, 4, 5]), []);
  assert.deepEqual(changePoints(Array(40).fill(7)), []);
  const step = [...Array(20).fill(1), ...Array(20).fill(2)];
  assert.deepEqual(changePoints(step).map((p) => p.index), [20]);
  // Past MAX_POINTS only the last points are searched; indices still count from the start.
  const long = series([0, 0.1], [MAX_POINTS + 50, 30], 0.01, 5);
  assert.deepEqual(changePoints(long).map((p) => p.index), [MAX_POINTS + 50]);
});

Deno.test("noiseScale is robust to the shifts it must not count as noise", () => {
  const x = series([0, 1, 0], [20, 20, 20], 0.01, 6);
  const sigma = noiseScale(x);
  assert.ok(sigma > 0.007 && sigma < 0.015, String(sigma));
  assert.ok(noiseScale([5, 5, 5]) > 0);
});

Deno.test("bad input is a RangeError", () => {
  assert.throws(() => changePoints([1, NaN, 2]), /not finite/);
  assert.throws(() => changePoints([1, 2], { minSegment: 0 }), /minSegment/);
});
