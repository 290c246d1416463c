import assert from "node:assert/strict";
import { seededRandom } from "../util/random.ts";
import {
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  CONFIDENCE,
  NOISY_CV,
  OUTLIER_SCORE,
  summarize,
} from "./summary.ts";

function assertClose(actual: number, expected: number, message: string, tolerance = 1e-12) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${message}: expected ${expected}, got ${actual}`,
  );
}

/** Standard normal draws by Box–Muller from a seeded uniform generator. */
function seededNormal(seed: number | string): () => number {
  const random = seededRandom(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    const u1 = 1 - random(); // (0, 1]: log stays finite
    const u2 = random();
    const radius = Math.sqrt(-2 * Math.log(u1));
    spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  };
}

Deno.test("defaults are the documented constants", () => {
  assert.equal(NOISY_CV, 0.10);
  assert.equal(OUTLIER_SCORE, 3.5);
  assert.equal(BOOTSTRAP_RESAMPLES, 2000);
  assert.equal(CONFIDENCE, 0.95);
  const values = [5, 3, 8, 1, 9, 4, 7];
  assert.deepEqual(
    summarize(values),
    summarize(values, { seed: BOOTSTRAP_SEED, resamples: 2000, confidence: 0.95 }),
  );
  assert.equal(summarize(values).ci.level, 0.95);
});

Deno.test("summarize: odd n, hand-computed", () => {
  // sorted: 1 1 2 3 4 5 9; type 7 quartiles at positions 1.5 and 4.5
  const input = [3, 1, 4, 1, 5, 9, 2];
  const s = summarize(input);
  assert.equal(s.n, 7);
  assert.equal(s.median, 3);
  assert.equal(s.q1, 1.5);
  assert.equal(s.q3, 4.5);
  assert.equal(s.iqr, 3);
  assert.equal(s.min, 1);
  assert.equal(s.max, 9);
  assertClose(s.mean, 25 / 7, "mean");
  // Σx² = 137, Σx = 25: SS = 137 − 625/7 = 334/7, variance = SS / 6
  assertClose(s.stddev, Math.sqrt(334 / 42), "stddev");
  assertClose(s.cv, Math.sqrt(334 / 42) / (25 / 7), "cv");
  // |x − 3| = 0 2 1 2 2 6 1 → median 2
  assert.equal(s.mad, 2);
  // 0.6745 · 6 / 2 ≈ 2.02 ≤ 3.5
  assert.deepEqual(s.outliers, []);
  assert.equal(s.noisy, true);
  assert.deepEqual(input, [3, 1, 4, 1, 5, 9, 2], "input is not modified");
});

Deno.test("summarize: even n, hand-computed", () => {
  // type 7: q1 at position 1.75 → 4, q3 at 5.25 → 5 + 0.25·(7 − 5) = 5.5
  const s = summarize([9, 4, 2, 5, 4, 7, 4, 5]);
  assert.equal(s.n, 8);
  assert.equal(s.median, 4.5);
  assert.equal(s.q1, 4);
  assert.equal(s.q3, 5.5);
  assert.equal(s.iqr, 1.5);
  assert.equal(s.min, 2);
  assert.equal(s.max, 9);
  assert.equal(s.mean, 5);
  // SS = 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32, variance 32/7
  assertClose(s.stddev, Math.sqrt(32 / 7), "stddev");
  assertClose(s.cv, Math.sqrt(32 / 7) / 5, "cv");
  // |x − 4.5| sorted: .5 .5 .5 .5 .5 2.5 2.5 4.5 → median .5
  assert.equal(s.mad, 0.5);
  // 9 scores 0.6745 · 4.5 / 0.5 ≈ 6.07; 2 and 7 score ≈ 3.37, under 3.5
  assert.deepEqual(s.outliers, [0]);
});

Deno.test("summarize: even n of four, interpolated quartiles", () => {
  const s = summarize([40, 10, 30, 20]);
  assert.equal(s.median, 25);
  assert.equal(s.q1, 17.5);
  assert.equal(s.q3, 32.5);
  assert.equal(s.mean, 25);
  assertClose(s.stddev, Math.sqrt(500 / 3), "stddev");
  assert.equal(s.mad, 10);
});

Deno.test("summarize: the same seed gives the same interval", () => {
  const values = Array.from({ length: 40 }, (_, i) => 100 + ((i * 37) % 23) * 0.7);
  const a = summarize(values, { seed: 7 });
  const b = summarize(values, { seed: 7 });
  assert.deepEqual(a.ci, b.ci);
  assert.deepEqual(summarize(values, { seed: "case" }).ci, summarize(values, { seed: "case" }).ci);
});

Deno.test("summarize: different seeds generally give different intervals", () => {
  const normal = seededNormal("different-seeds");
  const values = Array.from({ length: 60 }, () => 50 + 5 * normal());
  const reference = summarize(values, { seed: 1 }).ci;
  const differing = [2, 3, 4, 5, 6, 7, 8, 9].filter((seed) => {
    const ci = summarize(values, { seed }).ci;
    return ci.low !== reference.low || ci.high !== reference.high;
  });
  assert.ok(differing.length >= 4, `only ${differing.length} of 8 seeds changed the interval`);
});

Deno.test("summarize: the interval contains the median", () => {
  const normal = seededNormal("contains");
  const samples: number[][] = [
    [1, 2],
    [5, 3, 8, 1, 9, 4, 7],
    [10, 10.2, 9.9, 10.1, 10, 50],
    Array.from({ length: 30 }, () => Math.exp(normal())), // skewed
    Array.from({ length: 101 }, () => 20 + normal()),
  ];
  for (const values of samples) {
    for (const seed of [0, 1, 2, "x"]) {
      for (const confidence of [0.5, 0.95, 0.99]) {
        const { ci, median } = summarize(values, { seed, confidence });
        assert.ok(ci.low <= ci.high, `low ${ci.low} > high ${ci.high}`);
        assert.ok(
          ci.low <= median && median <= ci.high,
          `median ${median} outside [${ci.low}, ${ci.high}] (n=${values.length}, seed=${seed})`,
        );
        assert.equal(ci.level, confidence);
      }
    }
  }
});

Deno.test("summarize: a wider confidence gives a wider interval", () => {
  const normal = seededNormal("wider");
  const values = Array.from({ length: 50 }, () => 10 + normal());
  const narrow = summarize(values, { confidence: 0.5 }).ci;
  const wide = summarize(values, { confidence: 0.99 }).ci;
  assert.ok(wide.low < narrow.low && narrow.high < wide.high);
});

Deno.test("summarize: 95% interval covers the true median about 95% of the time", () => {
  const trueMedian = 100;
  const normal = seededNormal("coverage");
  const trials = 300;
  let covered = 0;
  for (let t = 0; t < trials; t++) {
    const values = Array.from({ length: 25 }, () => trueMedian + 10 * normal());
    const { ci } = summarize(values, { seed: t });
    if (ci.low <= trueMedian && trueMedian <= ci.high) covered++;
  }
  const coverage = covered / trials;
  assert.ok(coverage >= 0.88 && coverage <= 0.99, `coverage ${coverage}`);
});

Deno.test("summarize: a planted outlier is flagged by index", () => {
  const s = summarize([10, 10.2, 9.9, 10.1, 10, 50]);
  assertClose(s.median, 10.05, "median");
  assertClose(s.mad, 0.1, "mad");
  assert.deepEqual(s.outliers, [5]);
  assert.deepEqual(summarize([50, 10, 10.2, 9.9, 10.1, 10, 2]).outliers, [0, 6]);
});

Deno.test("summarize: a clean sample flags nothing", () => {
  assert.deepEqual(summarize([10, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98]).outliers, []);
  const normal = seededNormal("clean");
  // Within ±2σ every modified z-score stays under 3.5.
  const values = Array.from({ length: 200 }, () => Math.max(-2, Math.min(2, normal())));
  assert.deepEqual(summarize(values).outliers, []);
});

Deno.test("summarize: MAD of 0 flags the minority that differs from the median", () => {
  const s = summarize([5, 5, 7, 5, 5, 5]);
  assert.equal(s.mad, 0);
  assert.equal(s.median, 5);
  assert.deepEqual(s.outliers, [2]);
  assert.deepEqual(summarize([1, 2, 1, 1, 2]).outliers, [1, 4]);
  const constant = summarize([3, 3, 3, 3]);
  assert.equal(constant.mad, 0);
  assert.deepEqual(constant.outliers, []);
  assert.equal(constant.stddev, 0);
  assert.deepEqual(constant.ci, { low: 3, high: 3, level: 0.95 });
});

Deno.test("summarize: noisy above 10% CV", () => {
  // [80, 100, 120]: mean 100, sample stddev 20 → CV 20%
  const noisy = summarize([80, 100, 120]);
  assertClose(noisy.cv, 0.2, "cv");
  assert.equal(noisy.noisy, true);
  // [98, 100, 102]: CV 2%
  const quiet = summarize([98, 100, 102]);
  assertClose(quiet.cv, 0.02, "cv");
  assert.equal(quiet.noisy, false);
});

Deno.test("summarize: cv is 0 when the mean is 0", () => {
  const s = summarize([-1, 0, 1]);
  assert.equal(s.mean, 0);
  assert.equal(s.cv, 0);
  assert.equal(s.noisy, false);
});

Deno.test("summarize: a single value", () => {
  assert.deepEqual(summarize([7]), {
    n: 1,
    median: 7,
    q1: 7,
    q3: 7,
    iqr: 0,
    min: 7,
    max: 7,
    mean: 7,
    stddev: 0,
    cv: 0,
    mad: 0,
    ci: { low: 7, high: 7, level: 0.95 },
    outliers: [],
    noisy: false,
  });
});

Deno.test("summarize: rejects empty and non-finite input", () => {
  assert.throws(() => summarize([]), RangeError);
  assert.throws(() => summarize([1, NaN, 3]), RangeError);
  assert.throws(() => summarize([Infinity]), RangeError);
  assert.throws(() => summarize([1, -Infinity]), RangeError);
  assert.throws(() => summarize([1, NaN]), /index 1/);
});

Deno.test("summarize: rejects out-of-range options", () => {
  assert.throws(() => summarize([1, 2], { resamples: 0 }), RangeError);
  assert.throws(() => summarize([1, 2], { resamples: 1.5 }), RangeError);
  assert.throws(() => summarize([1, 2], { confidence: 1 }), RangeError);
  assert.throws(() => summarize([1, 2], { confidence: 0 }), RangeError);
  assert.throws(() => summarize([1, 2], { confidence: NaN }), RangeError);
});
