/**
 * `deno task perf`: weightbench against the tools a user would reach for
 * instead, on the same file, in the same run, as ratios (these machines are
 * shared and noisy; ratios travel, absolute numbers do not).
 *
 * It generates (once, cached) a 2 GiB single-file fixture, then measures:
 * - `cat FILE > /dev/null` from a warm page cache: the floor of reading a file;
 * - weightbench's strategies loading the same file to the host target, warm,
 *   with peak RSS against the target's arena plus one file;
 * - the harness's own time per sample (everything but the strategy's phases,
 *   the cache preparation and the verification).
 *
 *     deno task perf [--size 2GiB] [--runs 5]
 *
 * @module
 */

import Table from "cli-table3";
import { fileURLToPath } from "node:url";
import { ensureFixture } from "../../fixtures/generate.ts";
import { parseFlags, positiveInteger } from "../cli/args.ts";
import { DEFAULT_FIXTURE_CACHE } from "../cli/bench_command.ts";
import { InputError } from "../errors.ts";
import { openWeights } from "../formats/weights.ts";
import { caseStats } from "../profile/profile.ts";
import { prepareCacheState } from "../run/cache_state.ts";
import { planCases } from "../run/plan.ts";
import { footprint, runCases } from "../run/runner.ts";
import { parseScenario } from "../scenario/schema.ts";
import { summarize } from "../stats/summary.ts";
import { optionalEnv } from "../util/env.ts";
import { formatBytes, parseSize } from "../util/size.ts";

const { values } = parseFlags(Deno.args, { size: { type: "string" }, runs: { type: "string" } });
const size = parseSize(values.size ?? "2GiB");
if (size === undefined) throw new InputError(`Invalid --size "${values.size}"`);
const runs = positiveInteger("--runs", values.runs) ?? 5;

const fixtureRoot = optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE;
const folder = await ensureFixture(
  { layout: "llama-3-8b", size, dtype: "F16", shards: 1 },
  fixtureRoot,
);
const weights = await openWeights(folder);
const file = weights.files[0]!;
console.log(`fixture: ${file.path} (${formatBytes(file.size)})`);

/** Median wall time of `cat FILE > /dev/null`, warm. */
async function catMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    prepareCacheState("warm", [file.path]);
    const start = performance.now();
    const { success } = await new Deno.Command("cat", { args: [file.path], stdout: "null" })
      .output();
    if (!success) throw new Error("cat failed");
    if (i > 0) times.push(performance.now() - start);
  }
  return summarize(times).median;
}

const scenario = parseScenario({
  name: "perf",
  weights: [folder],
  strategies: [
    "full-read",
    { name: "full-read", options: { staging: "reused" } },
    "mmap",
  ],
  targets: ["host"],
  cache: ["warm"],
  runs,
  warmup: 1,
}, "perf");

const catBefore = await catMs();
const result = await runCases(planCases(scenario), { runs, warmup: 1, fixtureRoot });
const catAfter = await catMs();
const cat = Math.min(catBefore, catAfter);
const catGBps = file.size / (cat * 1e6);

const arena = footprint(weights);
const table = new Table({
  head: [
    "",
    "median",
    "GB/s (file)",
    "× cat",
    "phases (median ms)",
    "RSS added in load",
    "harness ms/sample",
  ],
  style: { head: [], border: [] },
});
table.push([
  "cat FILE > /dev/null",
  `${cat.toFixed(1)} ms`,
  catGBps.toFixed(2),
  "1.00",
  "",
  "",
  "",
]);
const harness: number[] = [];
for (const { case: c, outcome } of result.cases) {
  const stats = caseStats(outcome.samples);
  if (outcome.state !== "completed" || !stats) {
    table.push([c.strategyLabel, outcome.state, "", "", "", "", ""]);
    continue;
  }
  const gbps = file.size / (stats.durationMs.median * 1e6);
  harness.push(...outcome.samples.filter((s) => !s.warmup).map((s) => s.harnessMs));
  const phases = Object.entries(stats.phases).map(([p, s]) => `${p} ${s!.median.toFixed(1)}`).join(
    " · ",
  );
  table.push([
    c.strategyLabel,
    `${stats.durationMs.median.toFixed(1)} ms`,
    gbps.toFixed(2),
    (gbps / catGBps).toFixed(2),
    phases,
    stats.loadRssBytes ? formatBytes(stats.loadRssBytes.max) : "unknown",
    `${stats.harnessMs.median.toFixed(3)} (max ${stats.harnessMs.max.toFixed(3)})`,
  ]);
}
console.log(table.toString());
const overhead = summarize(harness);
console.log(
  `cat: ${catBefore.toFixed(1)} ms before, ${
    catAfter.toFixed(1)
  } ms after the strategies (best taken); ` +
    `arena ${formatBytes(arena)}, one file ${formatBytes(file.size)}; ` +
    `harness overhead per sample: median ${overhead.median.toFixed(3)} ms, max ${
      overhead.max.toFixed(3)
    } ms`,
);
console.log(
  `machine: ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores; run from ${
    fileURLToPath(import.meta.url)
  }`,
);
