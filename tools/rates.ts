/**
 * The rates benchmark of the comparison and the change-point search, over
 * many seeded trials on synthetic load times (see `simulate.ts` for the
 * noise model):
 *
 * - detection: a planted 10% slowdown, 10 samples a side, flagged as a
 *   regression;
 * - false positives: two profiles from the same distribution flagged as a
 *   regression (also across nights, each side with its own run-to-run drift);
 * - change points: a planted level shift in a 60-run history located within
 *   one run, and spurious change points in flat histories;
 * - the same detection and false-positive rates over a grid of noise levels,
 *   to show where the claims stop holding.
 *
 * Run it with `deno run tools/rates.ts [--trials N] [--seed S]`
 * (defaults 2000 and 1; about 30 s on 2 cores). `rates_test.ts` checks the
 * thresholds on fewer trials with a fixed seed.
 *
 * @module
 */

import { nonNegativeInteger, positiveInteger } from "../bench/cli/args.ts";
import { runScript } from "./_script.ts";
import { DEFAULT_ALPHA, DEFAULT_THRESHOLD } from "../bench/compare/significance.ts";
import { PENALTY_FACTOR } from "../bench/compare/changepoint.ts";
import {
  comparisonRates,
  historyRates,
  type NoiseModel,
  REALISTIC_NOISE,
} from "../bench/compare/simulate.ts";

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;

function describe(noise: NoiseModel): string {
  return `log-normal σ ${noise.sigma}, ${
    pct(noise.outlierRate)
  } outliers ×${noise.outlierLow}–${noise.outlierHigh}` +
    `, run-to-run σ ${noise.runSigma}`;
}

/** Prints the rates; `trials` per measurement, seeds derived from `seed`. */
export function printRates(trials: number, seed: number): void {
  const started = performance.now();
  const noise = REALISTIC_NOISE;
  console.log(
    `compareSamples defaults: threshold ${pct(DEFAULT_THRESHOLD)}, alpha ${DEFAULT_ALPHA}; ` +
      `change points: L1 cost, penalty ${PENALTY_FACTOR}·σ̂·ln n`,
  );
  console.log(`noise: ${describe(noise)}; ${trials} trials each, seed ${seed}\n`);

  const detection = comparisonRates({ trials, samples: 10, slowdown: 1.1, noise, seed });
  const same = comparisonRates({ trials, samples: 10, slowdown: 1, noise, seed: seed + 1 });
  const nights = comparisonRates({
    trials,
    samples: 10,
    slowdown: 1,
    noise,
    seed: seed + 2,
    acrossRuns: true,
  });
  console.log(
    `planted 10% slowdown, 10 samples a side: regression ${pct(detection.regression)}` +
      ` (inconclusive ${pct(detection.inconclusive)}, unchanged ${pct(detection.unchanged)})`,
  );
  console.log(
    `same distribution: regression ${pct(same.regression)}, improvement ${
      pct(same.improvement)
    }, inconclusive ${pct(same.inconclusive)}`,
  );
  console.log(
    `same distribution, different nights: regression ${pct(nights.regression)}, improvement ${
      pct(nights.improvement)
    }, inconclusive ${pct(nights.inconclusive)}\n`,
  );

  const histories = Math.max(100, Math.round(trials / 2));
  for (const shift of [1.10, 1.05]) {
    const h = historyRates({
      trials: histories,
      runs: 60,
      samples: 10,
      shift,
      noise,
      seed: seed + 3,
    });
    console.log(
      `60-run history, planted ${pct(shift - 1)} shift: located within one run ${
        pct(h.locatedWithinOne)
      } (exactly ${pct(h.locatedExactly)}); histories with a spurious change point ${
        pct(h.anySpurious)
      } (${histories} histories)`,
    );
  }
  const flat = historyRates({
    trials: histories,
    runs: 60,
    samples: 10,
    shift: 1,
    noise,
    seed: seed + 4,
  });
  console.log(
    `60-run flat history: histories with a spurious change point ${pct(flat.anySpurious)}, ` +
      `${flat.spuriousPerHistory.toFixed(3)} per history (${histories} histories)\n`,
  );

  const grid = Math.max(100, Math.round(trials / 4));
  console.log(`grid (${grid} trials each): detection of 10% / false positives, 10 samples a side`);
  console.log("σ \\ outliers   0%             2%             5%");
  for (const sigma of [0.02, 0.03, 0.05, 0.08]) {
    const cells = [0, 0.02, 0.05].map((outlierRate) => {
      const model = { ...noise, sigma, outlierRate };
      const d = comparisonRates({ trials: grid, samples: 10, slowdown: 1.1, noise: model, seed });
      const f = comparisonRates({
        trials: grid,
        samples: 10,
        slowdown: 1,
        noise: model,
        seed: seed + 1,
      });
      return `${pct(d.regression)} / ${pct(f.regression)}`.padEnd(15);
    });
    console.log(`${String(sigma).padEnd(14)} ${cells.join("")}`);
  }
  console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const USAGE = `Usage: deno task rates [--trials N] [--seed S]

Detection, false-positive and change-point rates of compare and nightly over
seeded trials of synthetic load times (figures for the README).

Options:
  --trials N   trials per cell (default: 2000)
  --seed S     seed of the trials (default: 1)
  -h, --help   show this help`;

if (import.meta.main) {
  await runScript(USAGE, { trials: { type: "string" }, seed: { type: "string" } }, (values) => {
    printRates(
      positiveInteger("--trials", values.trials) ?? 2000,
      nonNegativeInteger("--seed", values.seed) ?? 1,
    );
  });
}
