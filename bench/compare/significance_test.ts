import assert from "node:assert/strict";
import { compareSamples, mannWhitneyU, normalUpperTail } from "./significance.ts";

const close = (actual: number, expected: number, tolerance: number) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `expected ${expected} ± ${tolerance}, got ${actual}`,
  );

Deno.test("mannWhitneyU matches R's wilcox.test, exact, no ties", () => {
  // ?wilcox.test: x <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46)
  // y <- c(1.15, 0.88, 0.90, 0.74, 1.21); wilcox.test(x, y, alternative = "g")
  // gives W = 35, p-value = 0.1272; the two-sided p is twice that, 0.2544.
  const x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
  const y = [1.15, 0.88, 0.90, 0.74, 1.21];
  const r = mannWhitneyU(x, y);
  assert.equal(r.u, 35);
  assert.equal(r.method, "exact");
  close(r.pValue, 0.2544, 5e-5);
  // Swapping the samples gives U' = n₁n₂ − U and the same two-sided p.
  const swapped = mannWhitneyU(y, x);
  assert.equal(swapped.u, 15);
  close(swapped.pValue, r.pValue, 1e-15);
});

Deno.test("mannWhitneyU matches SciPy's mannwhitneyu, exact and asymptotic", () => {
  // scipy.stats.mannwhitneyu docs: males = [19, 22, 16, 29, 24], females = [20, 11, 17, 12]
  // method="exact": U1 = 17.0, pvalue = 0.1111111111111111
  // method="asymptotic": pvalue = 0.11134688653314041 (continuity correction on)
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];
  const exact = mannWhitneyU(males, females);
  assert.equal(exact.u, 17);
  assert.equal(exact.method, "exact");
  close(exact.pValue, 0.1111111111111111, 1e-15);
  const normal = mannWhitneyU(males, females, { method: "normal" });
  assert.equal(normal.method, "normal");
  close(normal.pValue, 0.11134688653314041, 1e-12);
});

Deno.test("mannWhitneyU matches R with ties: normal approximation, tie-corrected", () => {
  // ?wilcox.test's depression data, unpaired: wilcox.test(x, y) gives
  // W = 58, p-value = 0.1329 ("cannot compute exact p-value with ties").
  const x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
  const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
  const r = mannWhitneyU(x, y);
  assert.equal(r.u, 58);
  assert.equal(r.method, "normal");
  close(r.pValue, 0.1329, 5e-5);
  assert.throws(() => mannWhitneyU(x, y, { method: "exact" }), /needs no ties/);
});

Deno.test("mannWhitneyU: exact p-values of complete separation are 2 / C(n₁+n₂, n₁)", () => {
  close(mannWhitneyU([1, 2, 3], [4, 5, 6]).pValue, 2 / 20, 1e-15);
  const a = Array.from({ length: 10 }, (_, i) => i);
  const b = Array.from({ length: 10 }, (_, i) => 100 + i);
  close(mannWhitneyU(a, b).pValue, 2 / 184756, 1e-18);
  // Identical samples: U sits at its mean, p = 1 (tied everywhere: all ties, variance > 0).
  assert.equal(mannWhitneyU([5, 6, 7], [5, 6, 7]).pValue, 1);
  // Every value equal: no variance, p = 1.
  assert.equal(mannWhitneyU([5, 5, 5], [5, 5, 5]).pValue, 1);
});

Deno.test("mannWhitneyU: exact and normal agree on large samples", () => {
  const x = Array.from({ length: 40 }, (_, i) => i * 1.013 + 0.1);
  const y = Array.from({ length: 45 }, (_, i) => i * 0.997 + 3.3);
  const exact = mannWhitneyU(x, y, { method: "exact" });
  const normal = mannWhitneyU(x, y, { method: "normal" });
  close(exact.pValue, normal.pValue, 0.005);
  // Past EXACT_MAX, auto picks the normal approximation.
  const big = Array.from({ length: 60 }, (_, i) => i + 0.25);
  assert.equal(mannWhitneyU(big, x).method, "normal");
});

Deno.test("normalUpperTail matches published values, tails included", () => {
  close(normalUpperTail(0), 0.5, 1e-16);
  close(normalUpperTail(1), 0.15865525393145707, 1e-15);
  close(normalUpperTail(1.959963984540054), 0.025, 1e-15);
  close(normalUpperTail(-1.959963984540054), 0.975, 1e-15);
  close(normalUpperTail(3), 0.0013498980316301, 1e-15);
  // Relative precision deep in the tail (R: pnorm(8, lower.tail = FALSE)).
  close(normalUpperTail(8) / 6.220960574271785e-16, 1, 1e-12);
});

const baseline = [100, 101, 99, 102, 98, 100, 101, 99, 100, 103];

Deno.test("compareSamples: a clear 20% slowdown is a regression, the reverse an improvement", () => {
  const slower = baseline.map((x) => x * 1.2);
  const r = compareSamples(baseline, slower);
  assert.equal(r.verdict, "regression");
  close(r.ratio, 1.2, 1e-12);
  assert.ok(r.ci.low > 1.15 && r.ci.high < 1.25, JSON.stringify(r.ci));
  assert.equal(r.ci.level, 0.95);
  assert.ok(r.pValue < 0.001);
  const back = compareSamples(slower, baseline);
  assert.equal(back.verdict, "improvement");
  close(back.ratio, 1 / 1.2, 1e-12);
  close(back.pValue, r.pValue, 1e-15);
});

Deno.test("compareSamples: a significant change within the threshold is unchanged", () => {
  const r = compareSamples(baseline, baseline.map((x) => x * 1.03 + 0.01));
  assert.ok(r.pValue < 0.01);
  assert.equal(r.verdict, "unchanged");
  assert.match(r.reason!, /within the 5\.0% threshold/);
  // The same change with a 2% threshold is a regression.
  assert.equal(
    compareSamples(baseline, baseline.map((x) => x * 1.03 + 0.01), { threshold: 0.02 }).verdict,
    "regression",
  );
});

Deno.test("compareSamples: too few samples, or too noisy, is inconclusive", () => {
  const few = compareSamples([100, 101], [200, 202]);
  assert.equal(few.verdict, "inconclusive");
  assert.match(few.reason!, /too few samples \(2 and 2; need 3 a side\)/);
  const noisy = compareSamples(
    [100, 60, 140, 90, 180, 75, 120, 55, 130, 95],
    [110, 70, 150, 85, 200, 80, 125, 60, 140, 100],
  );
  assert.equal(noisy.verdict, "inconclusive");
  assert.match(noisy.reason!, /too noisy/);
  // Quiet and equal: unchanged.
  const same = compareSamples(baseline, [...baseline].reverse());
  assert.equal(same.verdict, "unchanged");
  assert.equal(same.ratio, 1);
});

Deno.test("compareSamples: an outlier neither makes nor hides a regression", () => {
  const withOutlier = [...baseline.slice(0, 9), 400];
  assert.equal(compareSamples(baseline, withOutlier).verdict, "unchanged");
  const slowerWithOutlier = [...baseline.slice(0, 9).map((x) => x * 1.15), 40];
  assert.equal(compareSamples(baseline, slowerWithOutlier).verdict, "regression");
});

Deno.test("compareSamples: the interval is reproducible and follows the seed", () => {
  const current = baseline.map((x, i) => x * (1.05 + (i % 3) * 0.02));
  const a = compareSamples(baseline, current, { seed: 7 });
  assert.deepEqual(compareSamples(baseline, current, { seed: 7 }), a);
  assert.notDeepEqual(compareSamples(baseline, current, { seed: 8 }).ci, a.ci);
  assert.deepEqual(compareSamples(baseline, current), compareSamples(baseline, current));
});

Deno.test("compareSamples rejects bad input with a RangeError", () => {
  assert.throws(() => compareSamples([], [1]), /baseline has no values/);
  assert.throws(() => compareSamples([1, 2], [1, NaN]), /current value at index 1 is "NaN"/);
  assert.throws(() => compareSamples([1, 0], [1]), /baseline value at index 1 is "0"/);
  assert.throws(() => compareSamples([1], [1], { alpha: 0 }), /alpha must be between 0 and 1/);
  assert.throws(() => compareSamples([1], [1], { threshold: -1 }), /threshold must be ≥ 0/);
  assert.throws(() => compareSamples([1], [1], { resamples: 1.5 }), /resamples/);
});

Deno.test("mannWhitneyU's exact p-values equal a brute-force enumeration", () => {
  for (const [m, n] of [[1, 4], [3, 4], [4, 5], [5, 5], [6, 3]] as const) {
    // Every way to choose which m of the ranks 1..m+n belong to x, and the U of each.
    const us: number[] = [];
    const choose = (start: number, chosen: number[]) => {
      if (chosen.length === m) {
        us.push(chosen.reduce((a, b) => a + b, 0) - (m * (m + 1)) / 2);
        return;
      }
      for (let r = start; r <= m + n; r++) choose(r + 1, [...chosen, r]);
    };
    choose(1, []);
    for (let trial = 0; trial < us.length; trial += 7) {
      // Rebuild arrangement `trial`: x takes the ranks whose U is us[trial] (any one will do).
      const ranks: number[] = [];
      const pick = (start: number, chosen: number[]): boolean => {
        if (chosen.length === m) {
          const u = chosen.reduce((a, b) => a + b, 0) - (m * (m + 1)) / 2;
          if (u === us[trial]) {
            ranks.push(...chosen);
            return true;
          }
          return false;
        }
        for (let r = start; r <= m + n; r++) if (pick(r + 1, [...chosen, r])) return true;
        return false;
      };
      pick(1, []);
      const x = ranks;
      const y = Array.from({ length: m + n }, (_, i) => i + 1).filter((r) => !ranks.includes(r));
      const u = us[trial]!;
      const below = us.filter((v) => v <= u).length / us.length;
      const above = us.filter((v) => v >= u).length / us.length;
      const expected = Math.min(1, 2 * Math.min(below, above));
      const r = mannWhitneyU(x, y);
      assert.equal(r.method, "exact");
      assert.equal(r.u, u);
      close(r.pValue, expected, 1e-12);
    }
  }
});
