/**
 * The claims of the comparison and the change-point search, on fewer trials
 * than `rates.ts` and a fixed seed, so the numbers are the same on every run.
 */

import assert from "node:assert/strict";
import { comparisonRates, historyRates, REALISTIC_NOISE } from "../bench/compare/simulate.ts";

const noise = REALISTIC_NOISE;

Deno.test("a planted 10% slowdown with 10 samples a side is a regression at least 95% of the time", () => {
  const rates = comparisonRates({ trials: 300, samples: 10, slowdown: 1.1, noise, seed: 11 });
  assert.ok(rates.regression >= 0.95, `detected ${rates.regression}`);
  assert.equal(rates.improvement, 0);
});

Deno.test("two profiles from one distribution are a regression at most 2% of the time", () => {
  const same = comparisonRates({ trials: 300, samples: 10, slowdown: 1, noise, seed: 12 });
  assert.ok(same.regression <= 0.02, `false positives ${same.regression}`);
  const nights = comparisonRates({
    trials: 300,
    samples: 10,
    slowdown: 1,
    noise,
    seed: 13,
    acrossRuns: true,
  });
  assert.ok(nights.regression <= 0.02, `false positives across nights ${nights.regression}`);
});

Deno.test("a planted level shift in a 60-run history is located within one run", () => {
  const shifted = historyRates({ trials: 100, runs: 60, samples: 10, shift: 1.1, noise, seed: 14 });
  assert.ok(shifted.locatedWithinOne >= 0.95, `located ${shifted.locatedWithinOne}`);
  assert.ok(shifted.anySpurious <= 0.05, `spurious ${shifted.anySpurious}`);
  const flat = historyRates({ trials: 100, runs: 60, samples: 10, shift: 1, noise, seed: 15 });
  assert.ok(flat.anySpurious <= 0.05, `spurious in flat histories ${flat.anySpurious}`);
});
