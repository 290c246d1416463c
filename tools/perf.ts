/**
 * `deno task perf`: weightbench against the tools a user would reach for
 * instead, each doing the same job on the same file, in the same run,
 * interleaved round by round and reported as ratios with their spread over
 * rounds (these machines are shared and noisy; ratios travel, absolute
 * numbers do not).
 *
 * For each size (a generated single-file Llama-3-8B-layout fixture, cached),
 * cold (pages dropped first) and warm, every round measures:
 * - fio: O_DIRECT at its best block size and queue depth (swept once per
 *   size), buffered reads with one job and with one job per core over
 *   disjoint parts of the file, and its mmap engine;
 * - `cat FILE > /dev/null`, `numpy.fromfile`, and `torch.load` of the same
 *   tensors saved by torch (Debian's python3-numpy and python3-torch; a line
 *   says so where they are absent);
 * - weightbench's strategies to the host target, through the real runner
 *   (placements and sampled windows verified), with the memory each load
 *   added and the harness's own time per sample.
 *
 * Then it prints each rate with its spread, each speed target of issue 15
 * as a ratio round by round with its spread and verdict, the CPU seconds each
 * tool spent per GiB (where the time goes when a ratio falls short), what
 * fresh staging memory costs with 4 KiB and huge pages, every peer's command
 * line, and the machine with its load average before and after.
 *
 * `--beyond-ram` measures instead one model larger than this machine's
 * memory (1.1 × RAM, generated once): cold only, the peers that stream (cat,
 * fio), and the streaming strategies on a target that keeps nothing
 * (`tools/_null_target.ts`, as `cat` keeps nothing), with the peak memory of
 * each load; full-read is refused up front by its own check, with the reason.
 *
 *     deno task perf [--size 1GiB,4GiB] [--rounds 3] [--runs 1] [--strategies LIST]
 *     deno task perf --beyond-ram [--rounds 1]
 *
 * @module
 */

import Table from "cli-table3";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/generate.ts";
import { commaList, positiveInteger } from "../bench/cli/args.ts";
import { DEFAULT_FIXTURE_CACHE } from "../bench/run/options.ts";
import { InputError } from "../bench/util/errors.ts";
import { openWeights, type WeightSet } from "../bench/formats/weights.ts";
import { caseStats } from "../profiles/case_stats.ts";
import { evictFromPageCache, prepareCacheState } from "../bench/core/cache_state.ts";
import { readMemory, resetPeakRss } from "../bench/core/memory.ts";
import { Recorder } from "../bench/core/recorder.ts";
import { targetFootprint } from "../bench/core/load.ts";
import { planCases } from "../bench/run/plan.ts";
import { runCases } from "../bench/run/runner.ts";
import { parseScenario } from "../bench/scenarios/schema.ts";
import { collectEnvironment } from "../bench/probe/environment.ts";
import { STRATEGIES } from "../bench/strategies/registry.ts";
import { HostTarget } from "../bench/targets/host.ts";
import { NativeFile } from "../bench/ffi/native_file.ts";
import { libc } from "../bench/ffi/libc.ts";
import { NativeMemory } from "../bench/ffi/native_memory.ts";
import { readProcText } from "../bench/ffi/procfs.ts";
import { forEachChunk } from "../bench/util/parallel.ts";
import { optionalEnv } from "../bench/util/env.ts";
import { formatBytes, parseSize, sizeLabel } from "../bench/util/size.ts";
import { summarize } from "../bench/stats/summary.ts";
import { NullTarget } from "./_null_target.ts";
import {
  catPeer,
  fioArgs,
  fioJobsPeer,
  fioPeer,
  numpyPeer,
  type Peer,
  pythonHas,
  runFio,
  torchPeer,
  writeTorchCopy,
} from "./_perf_peers.ts";
import {
  type Cache,
  formatSpread,
  judgeTargets,
  Rounds,
  type SpeedTarget,
  spreadOf,
} from "./_perf_stats.ts";
import { runScript } from "./_script.ts";

const USAGE = `Usage: deno task perf [--size 1GiB,4GiB] [--rounds 3] [--runs 1] [--strategies LIST]
       deno task perf --beyond-ram [--rounds 1]

weightbench's strategies against fio, cat, numpy.fromfile and torch.load on the same
single-file fixture, cold and warm, interleaved round by round; prints every rate and
every ratio with its spread over rounds (min–max), the CPU each tool spent per GiB, the
cost of fresh staging memory, the peers' command lines and the machine.

  --size LIST        fixture sizes (default 1GiB,4GiB)
  --rounds N         rounds (default 3; 1 with --beyond-ram)
  --runs N           timed loads per strategy, cache state and round (default 1)
  --strategies LIST  strategies, name or name:key=value (default full-read,
                     full-read:staging=reused, mmap, parallel, direct, streamed)
  --beyond-ram       one model of 1.1 × this machine's memory instead: cold, streaming
                     strategies on a null target, full-read refused up front
`;

/** Strategies measured unless `--strategies` says otherwise. */
const DEFAULT_STRATEGIES = [
  "full-read",
  "full-read:staging=reused",
  "mmap",
  "parallel",
  "direct",
  "streamed",
];
/** Strategies loaded onto the null target beyond RAM; full-read is there to be refused. */
const BEYOND_RAM_STRATEGIES = ["full-read", "parallel", "direct", "streamed"];
/** Bytes each trial of the fio O_DIRECT sweep reads. @default 512 MiB */
const SWEEP_BYTES = 512 << 20;
const GiB = 2 ** 30;
/** The name the better of the O_DIRECT peers is recorded under, round by round. */
const ODIRECT = "fio O_DIRECT, best setting";

type StrategySpec = { name: string; options: Record<string, unknown> };

/** `name` or `name:key=value,key=value` (numbers and booleans as such). */
function parseStrategy(text: string): StrategySpec {
  const [name, settings] = text.split(/:(.*)/s) as [string, string | undefined];
  if (STRATEGIES[name] === undefined) {
    throw new InputError(`Unknown strategy "${name}" in --strategies`);
  }
  const options: Record<string, unknown> = {};
  for (const pair of settings?.split(/[;+]/).filter(Boolean) ?? []) {
    const [key, value] = pair.split("=");
    if (!key || value === undefined) {
      throw new InputError(`Invalid strategy option "${pair}" in --strategies: expected key=value`);
    }
    options[key] = value === "true"
      ? true
      : value === "false"
      ? false
      : Number.isNaN(Number(value))
      ? value
      : Number(value);
  }
  return { name, options };
}

/** The label the runner gives a strategy: `name` or `name(key=value,…)`. */
function label({ name, options }: StrategySpec): string {
  const keys = Object.keys(options);
  return keys.length === 0 ? name : `${name}(${keys.map((k) => `${k}=${options[k]}`).join(",")})`;
}

/** Clock ticks per second of `/proc/self/stat`'s CPU times (`sysconf(_SC_CLK_TCK)` on Linux). */
const CLOCK_TICKS = 100;

const loadAverage = () =>
  (readProcText("/proc/loadavg") ?? "? ? ?").split(" ").slice(0, 3).join(" ");

await runScript(USAGE, {
  size: { type: "string" },
  rounds: { type: "string" },
  runs: { type: "string" },
  strategies: { type: "string" },
  "beyond-ram": { type: "boolean" },
}, async (values) => {
  const beyond = values["beyond-ram"] ?? false;
  const rounds = positiveInteger("--rounds", values.rounds) ?? (beyond ? 1 : 3);
  const runs = positiveInteger("--runs", values.runs) ?? 1;
  const sizes = (commaList(values.size) ?? ["1GiB", "4GiB"]).map((text) => {
    const size = parseSize(text);
    if (size === undefined || size < 1 << 20) {
      throw new InputError(`Invalid --size "${text}": expected a size such as 1GiB`);
    }
    return size;
  });
  const strategies = (commaList(values.strategies) ??
    (beyond ? BEYOND_RAM_STRATEGIES : DEFAULT_STRATEGIES)).map(parseStrategy);
  const fixtureRoot = optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE;
  const started = new Date();
  const loadBefore = loadAverage();
  const python = !beyond && await pythonHas("numpy, torch");

  if (beyond) {
    const size = Math.ceil(Deno.systemMemoryInfo().total * 1.1 / GiB) * GiB;
    await beyondRam(size, strategies, rounds, fixtureRoot);
  } else {
    for (const size of sizes) {
      await measureSize(size, strategies, rounds, runs, fixtureRoot, python);
    }
    await stagingMemory(sizes[0]!, fixtureRoot);
  }
  if (!beyond && !python) {
    console.log("numpy, torch: absent (apt-get install python3-numpy python3-torch)");
  }
  await printMachine(fixtureRoot, started, loadBefore);
});

/**
 * Ensures the single-file fixture of `size` bytes (Llama-3-8B's layout, or
 * Llama-3-70B's past the 15 GiB the smaller model holds in FP16); its folder
 * and weights.
 */
async function fixture(size: number, fixtureRoot: string) {
  const layout = size > 14 * GiB ? "llama-3-70b" : "llama-3-8b";
  const folder = await ensureFixture({ layout, size, dtype: "F16", shards: 1 }, fixtureRoot);
  const weights = await openWeights(folder);
  if (weights.fileBytes < size * 0.98) {
    throw new Error(
      `The ${layout} fixture holds ${formatBytes(weights.fileBytes)}, less than the ${
        formatBytes(size)
      } asked for`,
    );
  }
  return { folder, weights, file: weights.files[0]!.path, bytes: weights.fileBytes };
}

/**
 * fio's two best O_DIRECT block sizes and depths on `file`, from short
 * trials; both are measured every round and the better one is the peer, so
 * one unlucky trial does not pick the peer.
 */
async function sweepDirect(file: string, bytes: number): Promise<{ bs: string; depth: number }[]> {
  const trials: { bs: string; depth: number; gbps: number }[] = [];
  for (const bs of ["1M", "4M", "16M"]) {
    for (const depth of [1, 4, 16]) {
      const run = await runFio(fioArgs(file, [
        `--bs=${bs}`,
        `--iodepth=${depth}`,
        "--direct=1",
        "--ioengine=libaio",
        `--io_size=${Math.min(bytes, SWEEP_BYTES)}`,
      ]));
      trials.push({ bs, depth, gbps: run?.gbps ?? 0 });
    }
  }
  return trials.sort((a, b) => b.gbps - a.gbps).slice(0, 2);
}

/** fio O_DIRECT peers at each of `settings`. */
function directPeers(file: string, settings: readonly { bs: string; depth: number }[]): Peer[] {
  return settings.map(({ bs, depth }) =>
    fioPeer(`fio O_DIRECT bs=${bs} iodepth=${depth}`, "cold", file, [
      `--bs=${bs}`,
      `--iodepth=${depth}`,
      "--direct=1",
      "--ioengine=libaio",
    ])
  );
}

/** One size: peers and strategies, round by round, then the tables. */
async function measureSize(
  size: number,
  strategies: readonly StrategySpec[],
  rounds: number,
  runs: number,
  fixtureRoot: string,
  python: boolean,
): Promise<void> {
  const { folder, weights, file, bytes } = await fixture(size, fixtureRoot);
  console.log(
    `\n== ${sizeLabel(size)}: ${file} (${
      formatBytes(bytes)
    }), ${rounds} rounds × ${runs} loads per strategy and cache state ==`,
  );
  const ptFile = join(folder, "model.pt");
  const torch = python && await Deno.stat(ptFile).then(() => true, async () => {
    console.log("writing the same tensors with torch.save for torch.load …");
    return await writeTorchCopy(file, ptFile);
  });
  const ptBytes = torch ? (await Deno.stat(ptFile)).size : 0;
  const direct = directPeers(file, await sweepDirect(file, bytes));
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const part = Math.floor(bytes / cores / (1 << 20)) * (1 << 20);
  const BUFFERED_1 = "fio buffered bs=1M, 1 job";
  const BUFFERED_N = fioJobsPeer("cold", file, bytes, cores).name;
  const FIO_MMAP = "fio mmap bs=1M";
  const peers: Peer[] = [...direct];
  for (const cache of ["cold", "warm"] as const) {
    // invalidate=0: the cache state is ours to set, not fio's to drop.
    peers.push(fioPeer(BUFFERED_1, cache, file, ["--bs=1M", "--ioengine=psync", "--invalidate=0"]));
    peers.push(fioJobsPeer(cache, file, bytes, cores));
    peers.push(fioPeer(FIO_MMAP, cache, file, ["--bs=1M", "--ioengine=mmap", "--invalidate=0"]));
    peers.push(catPeer(cache, file, bytes));
    if (python) peers.push(numpyPeer(cache, file, bytes));
    if (torch) {
      peers.push(torchPeer(cache, ptFile, ptBytes, () => {
        if (cache === "cold") evictFromPageCache([ptFile]);
        else prepareCacheState("warm", [ptFile]);
      }));
    }
  }

  const rates = new Rounds();
  const cpu = new Map<string, number[]>();
  const harness: number[] = [];
  const addedRss = new Map<string, number>();
  const tool = (spec: StrategySpec) => `weightbench ${label(spec)}`;
  for (let round = 0; round < rounds; round++) {
    rates.next();
    for (const peer of peers) {
      prepareCacheState(peer.cache, [file]);
      const run = await peer.run();
      // O_DIRECT bypasses the page cache: the same figure stands for both cache states.
      const bypass = direct.includes(peer);
      for (const cache of bypass ? ["cold", "warm"] as const : [peer.cache]) {
        rates.record(peer.name, cache, run?.gbps);
      }
      if (run?.cpuSeconds !== undefined) {
        const key = `${peer.name}|${peer.cache}`;
        cpu.set(key, [...(cpu.get(key) ?? []), run.cpuSeconds / (bytes / GiB)]);
      }
    }
    for (const cache of ["cold", "warm"] as const) {
      const scenario = parseScenario({
        name: "perf",
        weights: [folder],
        strategies: strategies.map((s) => ({ name: s.name, options: s.options })),
        targets: ["host"],
        cache: [cache],
        runs,
        warmup: 1,
      }, "perf");
      const run = await runCases(planCases(scenario), {
        runs,
        warmup: 1,
        fixtureRoot,
        verify: "sampled",
      });
      for (const [i, { outcome }] of run.cases.entries()) {
        const stats = caseStats(outcome.samples);
        const name = tool(strategies[i]!);
        if (outcome.state !== "completed" || !stats) {
          const why = outcome.state === "errored"
            ? outcome.error
            : outcome.state === "skipped"
            ? outcome.reason
            : "";
          console.log(`${name} ${cache}: ${outcome.state} ${why}`);
          continue;
        }
        rates.record(name, cache, bytes / (stats.durationMs.median * 1e6));
        harness.push(...outcome.samples.filter((s) => !s.warmup).map((s) => s.harnessMs));
        if (stats.loadRssBytes) {
          addedRss.set(name, Math.max(addedRss.get(name) ?? 0, stats.loadRssBytes.max));
        }
      }
    }
    console.log(`round ${round + 1}/${rounds} done (load average ${loadAverage()})`);
  }
  const ours = strategies.map(tool);
  for (const cache of ["cold", "warm"] as const) {
    rates.recordBest("best weightbench", ours, cache);
    rates.recordBest(ODIRECT, direct.map((p) => p.name), cache);
  }
  rates.recordBest("best fio buffered", [BUFFERED_1, BUFFERED_N], "warm");
  const costs = await strategyCosts(weights, strategies);

  const table = new Table({
    head: [
      "tool",
      "cold GB/s",
      "warm GB/s",
      "CPU s/GiB cold",
      "CPU s/GiB warm",
      "memory added by a load",
    ],
    style: { head: [], border: [] },
  });
  for (const name of rates.tools().filter((n) => !n.startsWith("best "))) {
    const cost = (cache: Cache) => {
      const values = name.startsWith("weightbench ")
        ? costs.get(`${name}|${cache}`)
        : cpu.get(`${name}|${cache}`);
      return values && values.length > 0 ? summarize(values).median.toFixed(3) : "";
    };
    const rss = addedRss.get(name);
    table.push([
      name,
      formatSpread(rates.spread(name, "cold")),
      formatSpread(rates.spread(name, "warm")),
      cost("cold"),
      cost("warm"),
      rss === undefined ? "" : formatBytes(rss),
    ]);
  }
  console.log(
    "rates: median over rounds (min–max); CPU: user + system seconds per GiB loaded (weightbench: one more load each, outside the runner)",
  );
  console.log(table.toString());

  const fullRead = tool({ name: "full-read", options: {} });
  const reused = tool({ name: "full-read", options: { staging: "reused" } });
  const targets: SpeedTarget[] = [];
  const both = (ours: string, peer: string) => {
    for (const cache of ["cold", "warm"] as const) targets.push({ tool: ours, peer, cache });
  };
  both(fullRead, "torch.load");
  both(fullRead, "numpy.fromfile");
  both(reused, "cat");
  both(tool({ name: "mmap", options: {} }), FIO_MMAP);
  both(tool({ name: "direct", options: {} }), ODIRECT);
  both(tool({ name: "parallel", options: {} }), BUFFERED_N);
  both(tool({ name: "streamed", options: {} }), BUFFERED_N);
  targets.push({ tool: "best weightbench", peer: ODIRECT, cache: "cold" });
  targets.push({ tool: "best weightbench", peer: "best fio buffered", cache: "warm" });
  const verdicts = new Table({
    head: ["weightbench", "peer (same job)", "cache", "ratio (min–max)", "target", "verdict"],
    style: { head: [], border: [] },
  });
  for (const outcome of judgeTargets(rates, targets)) {
    if (outcome.verdict === "not measured") continue;
    verdicts.push([
      outcome.tool.replace(/^weightbench /, ""),
      outcome.peer,
      outcome.cache,
      formatSpread(outcome.ratio),
      `≥ ${outcome.atLeast}`,
      outcome.verdict === "held" ? "held every round" : outcome.verdict,
    ]);
  }
  console.log("speed targets (issue 15): ratio round by round, median (min–max)");
  console.log(verdicts.toString());
  if (harness.length > 0) {
    const sorted = [...harness].sort((a, b) => a - b);
    console.log(
      `harness time per sample: median ${spreadOf(sorted)!.median.toFixed(3)} ms, 95th percentile ${
        sorted[Math.floor(sorted.length * 0.95)]!.toFixed(3)
      } ms, max ${sorted.at(-1)!.toFixed(3)} ms over ${sorted.length} samples`,
    );
  }
  console.log("peers' command lines:");
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.name)) continue;
    seen.add(peer.name);
    console.log(`  ${peer.name}: ${peer.command}`);
  }
  console.log(
    `  (fio O_DIRECT: best of bs 1M/4M/16M × iodepth 1/4/16 over ${
      formatBytes(Math.min(bytes, SWEEP_BYTES))
    } each; ${cores} jobs: each over ${formatBytes(part)} of the file)`,
  );
}

/**
 * CPU seconds per GiB (user + system, every thread) and page faults of one
 * load of each strategy, cold and warm, outside the runner.
 */
async function strategyCosts(
  weights: WeightSet,
  strategies: readonly StrategySpec[],
): Promise<Map<string, number[]>> {
  const costs = new Map<string, number[]>();
  using target = new HostTarget();
  target.reserve(targetFootprint(weights) + weights.files.length * 65536);
  const paths = weights.files.map((f) => f.path);
  for (const spec of strategies) {
    const definition = STRATEGIES[spec.name]!;
    const strategy = definition.create(definition.options.parse(spec.options));
    try {
      for (const cache of ["cold", "warm", "cold", "warm"] as const) {
        prepareCacheState(cache, paths);
        const before = cpuSeconds();
        const result = await strategy.load({ weights, target, recorder: new Recorder() });
        const used = cpuSeconds() - before;
        for (const buffer of result.buffers) target.free(buffer);
        const key = `weightbench ${label(spec)}|${cache}`;
        costs.set(key, [...(costs.get(key) ?? []), used / (weights.fileBytes / GiB)]);
      }
    } finally {
      strategy.close?.();
    }
  }
  return costs;
}

/** The fields of `/proc/self/stat` after the command name. */
function selfStat(): string[] {
  return (readProcText("/proc/self/stat") ?? "").split(") ")[1]?.split(" ") ?? [];
}

/** CPU seconds (user + system) this process has used, every thread it ever ran included. */
function cpuSeconds(): number {
  const fields = selfStat();
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Minor page faults of this process so far. */
function pageFaults(): number {
  return Number(selfStat()[7]);
}

/**
 * What fresh staging memory costs: the warm file read into new memory with
 * 4 KiB pages or huge pages, faulted in by the reads, ahead of them in
 * parallel, or by `MAP_POPULATE`; and into memory already faulted in.
 */
async function stagingMemory(size: number, fixtureRoot: string): Promise<void> {
  const { file } = await fixture(size, fixtureRoot);
  prepareCacheState("warm", [file]);
  using native = NativeFile.open(file);
  const bytes = native.size;
  const readers = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
  const read = (memory: NativeMemory) =>
    forEachChunk(
      bytes,
      Math.ceil(bytes / readers),
      readers,
      (offset, length) => native.readIntoAsync(memory.pointer(offset), length, offset),
    );
  const reused = NativeMemory.allocate(bytes);
  await reused.prefault(readers);
  const variants: { name: string; allocate: () => Promise<NativeMemory> | NativeMemory }[] = [
    {
      name: "4 KiB pages, faulted in by the reads",
      allocate: () => NativeMemory.allocate(bytes, { hugePages: false }),
    },
    {
      name: "huge pages (MADV_HUGEPAGE), faulted in by the reads — full-read's staging",
      allocate: () => NativeMemory.allocate(bytes),
    },
    {
      name: `huge pages, faulted in ahead (MADV_POPULATE_WRITE, ${readers} threads)`,
      allocate: async () => {
        const memory = NativeMemory.allocate(bytes);
        await memory.prefault(readers);
        return memory;
      },
    },
    {
      name: "MAP_POPULATE at mmap (4 KiB pages: madvise comes too late)",
      allocate: () => NativeMemory.allocate(bytes, { populate: true, hugePages: false }),
    },
    { name: "already faulted in (staging: reused)", allocate: () => reused },
  ];
  const table = new Table({
    head: ["fresh staging memory", "GB/s", "allocate ms", "read ms", "CPU s/GiB", "page faults"],
    style: { head: [], border: [] },
  });
  for (const variant of variants) {
    const trials: {
      total: number;
      allocate: number;
      read: number;
      cpu: number;
      faults: number;
    }[] = [];
    for (let i = 0; i < 3; i++) {
      const faults = pageFaults();
      const cpu = cpuSeconds();
      const start = performance.now();
      const memory = await variant.allocate();
      const allocated = performance.now();
      await read(memory);
      const end = performance.now();
      trials.push({
        total: end - start,
        allocate: allocated - start,
        read: end - allocated,
        cpu: cpuSeconds() - cpu,
        faults: pageFaults() - faults,
      });
      if (memory !== reused) memory.close();
    }
    trials.sort((a, b) => a.total - b.total);
    const median = trials[1]!;
    table.push([
      variant.name,
      (bytes / median.total / 1e6).toFixed(2),
      median.allocate.toFixed(1),
      median.read.toFixed(1),
      (median.cpu / (bytes / GiB)).toFixed(3),
      String(median.faults),
    ]);
  }
  // The second copy every pread strategy makes: staging on to the target (memcpy, one thread).
  using target = NativeMemory.allocate(bytes, { populate: true });
  const copies: { seconds: number; cpu: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const cpu = cpuSeconds();
    const start = performance.now();
    libc().memcpy(target.pointer(), reused.pointer(), BigInt(bytes));
    copies.push({ seconds: (performance.now() - start) / 1000, cpu: cpuSeconds() - cpu });
  }
  reused.close();
  console.log(
    `\nfresh staging memory: ${
      formatBytes(bytes)
    } of a warm file read by ${readers} readers into it, median of 3`,
  );
  console.log(table.toString());
  const copy = copies.sort((a, b) => a.seconds - b.seconds)[1]!;
  console.log(
    `the copy on to a target that every pread strategy adds (memcpy between faulted-in buffers, one thread): ${
      (bytes / copy.seconds / 1e9).toFixed(2)
    } GB/s, ${(copy.cpu / (bytes / GiB)).toFixed(3)} CPU s/GiB`,
  );
}

/** The model larger than RAM: cold, streaming peers and strategies on a null target. */
async function beyondRam(
  size: number,
  strategies: readonly StrategySpec[],
  rounds: number,
  fixtureRoot: string,
): Promise<void> {
  const total = Deno.systemMemoryInfo().total;
  console.log(
    `== beyond RAM: a ${formatBytes(size)} model on a machine with ${
      formatBytes(total)
    } of memory (generated once, cached) ==`,
  );
  const { weights, file, bytes } = await fixture(size, fixtureRoot);
  if (bytes <= total) {
    throw new Error(`The model holds ${formatBytes(bytes)}, no more than the machine's memory`);
  }
  const direct = directPeers(file, await sweepDirect(file, bytes));
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const peers: Peer[] = [
    ...direct,
    fioJobsPeer("cold", file, bytes, cores),
    catPeer("cold", file, bytes),
  ];
  const rates = new Rounds();
  const memory = new Map<string, { peak: number; added: number; staging: string }>();
  using target = new NullTarget();
  for (let round = 0; round < rounds; round++) {
    rates.next();
    for (const peer of peers) {
      prepareCacheState("cold", [file]);
      rates.record(peer.name, "cold", (await peer.run())?.gbps);
    }
    for (const spec of strategies) {
      const definition = STRATEGIES[spec.name]!;
      const strategy = definition.create(definition.options.parse(spec.options));
      const name = `weightbench ${label(spec)}`;
      try {
        const refused = strategy.unsupported?.(weights, target);
        if (refused !== undefined) {
          if (round === 0) console.log(`${name}: refused up front: ${refused}`);
          continue;
        }
        prepareCacheState("cold", [file]);
        resetPeakRss();
        const before = readMemory();
        const recorder = new Recorder();
        await strategy.load({ weights, target, recorder });
        const seconds = recorder.now() / 1000;
        const after = readMemory();
        rates.record(name, "cold", bytes / seconds / 1e9);
        const staging = recorder.spans.find((s) =>
          s.phase === "alloc" && /staging/.test(s.detail ?? "")
        )
          ?.detail ?? "";
        if (before && after) {
          const previous = memory.get(name);
          memory.set(name, {
            peak: Math.max(previous?.peak ?? 0, after.peakRss),
            added: Math.max(previous?.added ?? 0, after.peakRss - before.rss),
            staging,
          });
        }
      } finally {
        strategy.close?.();
      }
    }
    console.log(`round ${round + 1}/${rounds} done (load average ${loadAverage()})`);
  }
  const table = new Table({
    head: ["tool (cold)", "GB/s", "peak RSS", "added by the load", "staging"],
    style: { head: [], border: [] },
  });
  for (const name of rates.tools()) {
    const m = memory.get(name);
    table.push([
      name,
      formatSpread(rates.spread(name, "cold")),
      m ? formatBytes(m.peak) : "",
      m ? formatBytes(m.added) : "",
      m?.staging ?? "",
    ]);
  }
  console.log("rates: median over rounds (min–max); the strategies load onto a null target");
  console.log(table.toString());
  console.log("peers' command lines:");
  for (const peer of peers) console.log(`  ${peer.name}: ${peer.command}`);
}

/** The machine, the storage holding the fixtures, the date and the load around the run. */
async function printMachine(fixtureRoot: string, started: Date, loadBefore: string) {
  const env = await collectEnvironment([fixtureRoot]);
  const storage = env.storage[0];
  console.log(
    `\nmachine: ${env.cpu.model}, ${env.cpu.cores} cores, ${
      formatBytes(env.memoryBytes)
    } RAM, Linux ${env.kernel}, transparent huge pages ${env.transparentHugePages ?? "unknown"}`,
  );
  if (storage) {
    console.log(
      `storage: ${storage.fileSystem} on ${storage.source}${
        storage.deviceModel ? ` (${storage.deviceModel})` : ""
      }, mounted at ${storage.mountPoint}`,
    );
  }
  console.log(
    `deno ${env.deno.deno}, commit ${env.git?.commit?.slice(0, 10) ?? "unknown"}${
      env.git?.dirty ? " (with uncommitted changes)" : ""
    }; started ${started.toISOString()}, ${
      ((Date.now() - started.getTime()) / 1000).toFixed(0)
    } s; load average ${loadBefore} before, ${loadAverage()} after`,
  );
}
