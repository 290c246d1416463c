/**
 * `deno task perf`: weightbench against the tools a user would reach for
 * instead, on the same file, in the same run, interleaved round by round and
 * reported as ratios (these machines are shared and noisy; ratios travel,
 * absolute numbers do not).
 *
 * On a generated single-file fixture (2 GiB by default, cached) it measures,
 * cold (pages dropped first) and warm:
 * - fio: sequential reads with O_DIRECT over block sizes and queue depths
 *   (cold), and buffered reads (warm), the best of each;
 * - `cat FILE > /dev/null`; `numpy.fromfile`; `torch.load` of the same
 *   tensors saved by torch (Debian's python3-numpy and python3-torch; a line
 *   says so where they are absent);
 * - weightbench's strategies to the host target, through the real runner,
 *   with the peak RSS each load added and the harness's own time per sample.
 *
 *     deno task perf [--size 2GiB] [--rounds 2] [--runs 3]
 *
 * @module
 */

import Table from "cli-table3";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/generate.ts";
import { commaList, parseFlags, positiveInteger } from "../bench/cli/args.ts";
import { DEFAULT_FIXTURE_CACHE } from "../bench/run/options.ts";
import { InputError } from "../bench/util/errors.ts";
import { openWeights } from "../bench/formats/weights.ts";
import { caseStats } from "../profiles/case_stats.ts";
import { evictFromPageCache, prepareCacheState } from "../bench/core/cache_state.ts";
import { planCases } from "../bench/run/plan.ts";
import { runCases } from "../bench/run/runner.ts";
import { parseScenario } from "../bench/scenarios/schema.ts";
import { summarize } from "../bench/stats/summary.ts";
import { optionalEnv } from "../bench/util/env.ts";
import { formatBytes, parseSize } from "../bench/util/size.ts";

const { values } = parseFlags(Deno.args, {
  size: { type: "string" },
  rounds: { type: "string" },
  runs: { type: "string" },
  strategies: { type: "string" },
});
const size = parseSize(values.size ?? "2GiB");
if (size === undefined) throw new InputError(`Invalid --size "${values.size}"`);
const rounds = positiveInteger("--rounds", values.rounds) ?? 2;
const runs = positiveInteger("--runs", values.runs) ?? 3;
const strategies: (string | { name: string; options: Record<string, unknown> })[] =
  commaList(values.strategies) ??
    [
      "full-read",
      { name: "full-read", options: { staging: "reused" } },
      "mmap",
      "parallel",
      "direct",
    ];
const PYTHON = "/usr/bin/python3";

const fixtureRoot = optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE;
const folder = await ensureFixture(
  { layout: "llama-3-8b", size, dtype: "F16", shards: 1 },
  fixtureRoot,
);
const weights = await openWeights(folder);
const file = weights.files[0]!.path;
const fileBytes = weights.files[0]!.size;
console.log(`fixture: ${file} (${formatBytes(fileBytes)}), ${rounds} rounds`);

/**
 * Seconds of one run of a command, or undefined when it cannot run here. With
 * `reports`, the command prints its own timing as its last line (Python
 * timing itself after its imports); otherwise its output goes to /dev/null
 * and the wall time counts.
 */
async function timed(
  command: string,
  args: string[],
  reports = false,
): Promise<number | undefined> {
  try {
    const started = performance.now();
    const output = await new Deno.Command(command, {
      args,
      stdout: reports ? "piped" : "null",
      stderr: "null",
    }).output();
    const seconds = (performance.now() - started) / 1000;
    if (!output.success) return undefined;
    if (!reports) return seconds;
    const reported = Number(new TextDecoder().decode(output.stdout).trim().split("\n").pop());
    return Number.isFinite(reported) && reported > 0 ? reported : undefined;
  } catch {
    return undefined;
  }
}

/** fio's read bandwidth in GB/s for one job, or undefined when fio is absent. */
async function fio(args: string[]): Promise<number | undefined> {
  try {
    const output = await new Deno.Command("fio", {
      args: [
        "--name=read",
        `--filename=${file}`,
        "--rw=read",
        "--readonly",
        "--output-format=json",
        ...args,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!output.success) return undefined;
    const report = JSON.parse(new TextDecoder().decode(output.stdout));
    return report.jobs[0].read.bw_bytes / 1e9;
  } catch {
    return undefined;
  }
}

const python = await timed(PYTHON, ["-c", "import numpy, torch; print(1)"], true) !== undefined;
const ptFile = join(folder, "model.pt");
if (python) {
  try {
    await Deno.stat(ptFile);
  } catch {
    console.log("writing the same tensors with torch.save for torch.load …");
    const script = `
import json, sys, struct, numpy, torch
path, out = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
data = numpy.memmap(path, dtype=numpy.uint8, mode="r", offset=8 + n)
tensors = {}
for name, t in header.items():
    if name == "__metadata__": continue
    b, e = t["data_offsets"]
    tensors[name] = torch.from_numpy(numpy.array(data[b:e]).view(numpy.float16).reshape(t["shape"]))
torch.save(tensors, out + ".tmp")
import os; os.replace(out + ".tmp", out)
`;
    await timed(PYTHON, ["-c", script, file, ptFile]);
  }
}

type Peer = { name: string; cold: boolean; measure: () => Promise<number | undefined> };
const gbps = (seconds: number | undefined, bytes = fileBytes) =>
  seconds === undefined ? undefined : bytes / seconds / 1e9;

// fio's best O_DIRECT setting, found once, then measured every round beside the others.
const grid: { bs: string; depth: number }[] = [];
for (const bs of ["1M", "4M", "16M"]) for (const depth of [1, 4, 16]) grid.push({ bs, depth });
let best = { bs: "4M", depth: 4, gbps: 0 };
for (const point of grid) {
  const measured = await fio([
    `--bs=${point.bs}`,
    `--iodepth=${point.depth}`,
    "--direct=1",
    "--ioengine=libaio",
  ]);
  if (measured !== undefined && measured > best.gbps) best = { ...point, gbps: measured };
}
const fioPresent = best.gbps > 0;
console.log(
  fioPresent
    ? `fio O_DIRECT sweep: best bs=${best.bs} iodepth=${best.depth} (${best.gbps.toFixed(2)} GB/s)`
    : "fio: absent (apt-get install fio)",
);

const peers: Peer[] = [
  {
    name: `fio O_DIRECT bs=${best.bs} iodepth=${best.depth}`,
    cold: true,
    measure: () =>
      fio([`--bs=${best.bs}`, `--iodepth=${best.depth}`, "--direct=1", "--ioengine=libaio"]),
  },
  {
    name: "fio buffered bs=1M, 2 jobs",
    cold: false,
    // fio drops the file's cached pages before a job unless told not to (invalidate=1 by default).
    measure: () =>
      fio(["--bs=1M", "--ioengine=psync", "--numjobs=2", "--group_reporting", "--invalidate=0"]),
  },
  {
    name: "fio buffered bs=1M",
    cold: false,
    measure: () => fio(["--bs=1M", "--ioengine=psync", "--invalidate=0"]),
  },
];
for (const cold of [true, false]) {
  peers.push({
    name: "cat FILE > /dev/null",
    cold,
    measure: async () => gbps(await timed("cat", [file])),
  });
  if (python) {
    peers.push({
      name: "numpy.fromfile",
      cold,
      measure: async () =>
        gbps(
          await timed(PYTHON, [
            "-c",
            "import numpy,sys,time; t=time.perf_counter(); numpy.fromfile(sys.argv[1], dtype=numpy.uint8); print(time.perf_counter()-t)",
            file,
          ], true),
        ),
    });
    peers.push({
      name: "torch.load (torch 1.13, same tensors as .pt)",
      cold,
      measure: async () => {
        const ptBytes = (await Deno.stat(ptFile)).size;
        if (cold) evictFromPageCache([ptFile]);
        else prepareCacheState("warm", [ptFile]);
        return gbps(
          await timed(PYTHON, [
            "-c",
            "import torch,sys,time; t=time.perf_counter(); torch.load(sys.argv[1]); print(time.perf_counter()-t)",
            ptFile,
          ], true),
          ptBytes,
        );
      },
    });
  }
}

const results = new Map<string, number[]>();
const record = (name: string, value: number | undefined) => {
  if (value === undefined) return;
  results.set(name, [...(results.get(name) ?? []), value]);
};
const harness: number[] = [];
const addedRss = new Map<string, number>();
const scenario = parseScenario({
  name: "perf",
  weights: [folder],
  strategies,
  targets: ["host"],
  cache: ["cold", "warm"],
  runs,
  warmup: 1,
}, "perf");

for (let round = 0; round < rounds; round++) {
  for (const peer of peers) {
    prepareCacheState(peer.cold ? "cold" : "warm", [file]);
    record(`${peer.name}|${peer.cold ? "cold" : "warm"}`, await peer.measure());
  }
  const run = await runCases(planCases(scenario), { runs, warmup: 1, fixtureRoot });
  for (const { case: c, outcome } of run.cases) {
    const stats = caseStats(outcome.samples);
    if (outcome.state !== "completed" || !stats) {
      console.log(`${c.id}: ${outcome.state} ${"error" in outcome ? outcome.error : ""}`);
      continue;
    }
    record(`weightbench ${c.strategyLabel}|${c.cache}`, gbps(stats.durationMs.median / 1000));
    harness.push(...outcome.samples.filter((s) => !s.warmup).map((s) => s.harnessMs));
    if (stats.loadRssBytes) {
      addedRss.set(
        c.strategyLabel,
        Math.max(addedRss.get(c.strategyLabel) ?? 0, stats.loadRssBytes.max),
      );
    }
  }
  console.log(`round ${round + 1}/${rounds} done`);
}

const median = (name: string) => {
  const values = results.get(name);
  return values && values.length > 0 ? summarize(values).median : undefined;
};
const names = [...new Set([...results.keys()].map((key) => key.split("|")[0]!))];
const fioCold = median(`${peers[0]!.name}|cold`);
const fioWarm =
  Math.max(median(`${peers[1]!.name}|warm`) ?? 0, median(`${peers[2]!.name}|warm`) ?? 0) ||
  undefined;
const catCold = median("cat FILE > /dev/null|cold");
const catWarm = median("cat FILE > /dev/null|warm");
const table = new Table({
  head: [
    "tool",
    "cold GB/s",
    "× fio O_DIRECT",
    "× cat",
    "warm GB/s",
    "× fio buffered",
    "× cat",
    "RSS added",
  ],
  style: { head: [], border: [] },
});
const ratio = (value: number | undefined, base: number | undefined) =>
  value !== undefined && base ? (value / base).toFixed(2) : "";
for (const name of names) {
  const cold = median(`${name}|cold`);
  const warm = median(`${name}|warm`);
  const strategy = name.startsWith("weightbench ") ? name.slice("weightbench ".length) : undefined;
  const rss = strategy ? addedRss.get(strategy) : undefined;
  table.push([
    name,
    cold?.toFixed(2) ?? "",
    ratio(cold, fioCold),
    ratio(cold, catCold),
    warm?.toFixed(2) ?? "",
    ratio(warm, fioWarm),
    ratio(warm, catWarm),
    rss === undefined ? "" : formatBytes(rss),
  ]);
}
console.log(table.toString());
if (!python) console.log(`numpy, torch: absent (apt-get install python3-numpy python3-torch)`);
const bestOf = (cache: "cold" | "warm") =>
  Math.max(
    ...names.filter((n) => n.startsWith("weightbench ")).map((n) => median(`${n}|${cache}`) ?? 0),
  );
if (fioCold) {
  console.log(`best weightbench cold / fio O_DIRECT: ${(bestOf("cold") / fioCold).toFixed(2)}`);
}
if (fioWarm) {
  console.log(`best weightbench warm / fio buffered: ${(bestOf("warm") / fioWarm).toFixed(2)}`);
}
const overhead = summarize(harness);
console.log(
  `harness time per sample: median ${overhead.median.toFixed(3)} ms, ` +
    `95th percentile ${
      [...harness].sort((a, b) => a - b)[Math.floor(harness.length * 0.95)]!.toFixed(3)
    } ms, ` +
    `max ${overhead.max.toFixed(3)} ms over ${harness.length} samples`,
);
console.log(
  `machine: ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, ${
    formatBytes(Deno.systemMemoryInfo().total)
  }`,
);
