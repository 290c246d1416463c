/**
 * `deno task gpu-check`: everything the CUDA work needs proven on a GPU, in
 * one run that fits a short lease (about 8 minutes on an H100 with 16
 * cores), printing progress as it goes:
 *
 * 1. `nvidia-smi`, and its query outputs recorded (for the parser's tests);
 * 2. the GPU tests (bindings, NVML, sampler, cuda target, every strategy on
 *    cuda:0, the device probe), and a bad ordinal through the CLI (exit 2);
 * 3. a large fixture (≥ 8 GiB, one safetensors file) and the probe: storage
 *    (O_DIRECT sweep, page cache), memory copy, cuda:0 pinned and pageable
 *    H2D and D2H by CUDA events;
 * 4. the peers on the same file (`peers.py`): safetensors `load_file` to
 *    cuda:0, `torch.load(mmap=True)` of a .pt copy, raw copies through torch;
 * 5. the large scenario on cuda:0, cold and warm, then the quick one;
 * 6. the table of ratios and PASS/FAIL per goal.
 *
 * Everything lands in one folder (`$OUT`, or `--out`), at most 8 files:
 * `results.md`, `check-log.txt`, `tests.txt`, `nvidia-smi.txt`,
 * `probe.json`, `profile-large.json`, `profile-quick.json`, `report.html`.
 * Each step has a time budget; a step that overruns is stopped and recorded,
 * and the rest go on. Exit code: 0 when every goal passed, 1 otherwise.
 *
 * Usage: `deno task gpu-check [--out DIR] [--budget SECONDS] [--size SIZE]`
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureFixture, type FixtureSpec } from "../../fixtures/generate.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { freeBytes } from "../ffi/libc.ts";
import { Nvml } from "../ffi/nvml.ts";
import { writeCachedLimits } from "../probe/limits.ts";
import { probeMachine } from "../probe/probe.ts";
import { type MachineLimits, type Profile } from "../../profiles/schema.ts";
import { readProfile } from "../../profiles/files.ts";
import { strategyNames } from "../strategies/registry.ts";
import { cudaAvailability, CudaTarget } from "../targets/cuda.ts";
import { parseSize } from "../util/size.ts";
import {
  type CheckStep,
  evaluateGoals,
  type PeersResult,
  renderResults,
} from "./gpu_check_report.ts";
import {
  COMPUTE_APPS_FIELDS,
  formatSection,
  GPU_QUERY_FIELDS,
  gpuQueryArgs,
  runNvidiaSmi,
} from "../gpu/nvidia_smi.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE_ROOT = Deno.env.get("WEIGHTBENCH_CACHE") ?? join(ROOT, "fixtures/.cache");
/** The tests that need a GPU (each also runs its fake-driver half). */
const GPU_TESTS = [
  "bench/ffi/cuda_test.ts",
  "bench/ffi/nvml_test.ts",
  "bench/gpu/",
  "bench/targets/cuda_test.ts",
  "bench/probe/device_test.ts",
];
/** Flags of every Deno subprocess. */
const PERMISSIONS = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
];

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string" },
    budget: { type: "string", default: "480" },
    size: { type: "string", default: "8704MiB" },
  },
});
const OUT = resolve(
  flags.out ?? Deno.env.get("OUT") ??
    join(ROOT, "profiles/gpu-check", new Date().toISOString().replace(/[:.]/g, "-")),
);
const BUDGET_S = Number(flags.budget);
const LARGE_BYTES = parseSize(flags.size!) ?? 8704 << 20;
const began = performance.now();
const steps: CheckStep[] = [];
const recordings: string[] = [];
await Deno.mkdir(OUT, { recursive: true });
const logFile = join(OUT, "check-log.txt");
await Deno.writeTextFile(logFile, "");

/** Seconds since the start. */
function elapsed(): number {
  return (performance.now() - began) / 1000;
}

/** Seconds of the budget left. */
function left(): number {
  return BUDGET_S - elapsed();
}

/** Prints `text` with the time, and keeps it in check-log.txt. */
function log(text: string): void {
  const line = `[${elapsed().toFixed(1).padStart(6)}s] ${text}`;
  console.log(line);
  Deno.writeTextFileSync(logFile, `${line}\n`, { append: true });
}

/** Runs `work` as a step of at most `seconds`; records how it went. */
async function step<T>(
  name: string,
  seconds: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T | undefined> {
  const limit = Math.min(seconds, left() - 5);
  if (limit < 5) {
    steps.push({ name, state: "skipped", seconds: 0, note: "no time left in the budget" });
    log(`SKIP ${name}: no time left`);
    return undefined;
  }
  log(`==> ${name} (at most ${limit.toFixed(0)} s)`);
  const start = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`${name}: over its ${limit.toFixed(0)} s`)),
    limit * 1000,
  );
  try {
    const result = await work(controller.signal);
    const took = (performance.now() - start) / 1000;
    steps.push({ name, state: "ok", seconds: took });
    log(`<== ${name}: ok in ${took.toFixed(1)} s`);
    return result;
  } catch (error) {
    const took = (performance.now() - start) / 1000;
    const note = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    steps.push({ name, state: "failed", seconds: took, note });
    log(`<== ${name}: FAILED in ${took.toFixed(1)} s: ${note}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command, streaming its output into the log; resolves to its exit code and output. */
async function run(
  command: string,
  args: readonly string[],
  signal: AbortSignal,
  options: { quiet?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(command, {
    args: [...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    ...(options.env && { env: options.env }),
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  signal.addEventListener("abort", kill, { once: true });
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      if (!options.quiet) { for (const line of lines) log(`    ${line}`); }
    }
    if (pending && !options.quiet) log(`    ${pending}`);
  };
  try {
    const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
    if (signal.aborted) throw signal.reason;
    return { code: status.code, output };
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

/** `deno run` of the weightbench CLI. */
function bench(args: readonly string[], signal: AbortSignal, quiet = false) {
  return run(Deno.execPath(), ["run", ...PERMISSIONS, "bench/main.ts", ...args], signal, { quiet });
}

// ---- 1. nvidia-smi ----

let device = "unknown GPU";
await step("nvidia-smi", 30, async () => {
  const plain = await runNvidiaSmi([]);
  if (!plain.ok) throw new Error(plain.reason);
  for (const line of plain.stdout.trimEnd().split("\n")) log(`    ${line}`);
  recordings.push(formatSection("nvidia-smi", plain.stdout));
  const queries = [
    gpuQueryArgs(GPU_QUERY_FIELDS, false),
    gpuQueryArgs(GPU_QUERY_FIELDS, true),
    gpuQueryArgs([
      "index",
      "name",
      "memory.total",
      "memory.reserved",
      "pcie.link.gen.gpucurrent",
      "pcie.link.gen.hostmax",
      "power.draw",
      "clocks.sm",
    ]),
    [`--query-compute-apps=${COMPUTE_APPS_FIELDS.join(",")}`, "--format=csv,noheader,nounits"],
  ];
  for (const args of queries) {
    const result = await runNvidiaSmi(args);
    recordings.push(
      formatSection(
        `nvidia-smi ${args.join(" ")}`,
        result.ok ? result.stdout : `# ${result.reason}\n`,
      ),
    );
  }
  // A compute app holding memory: this process, through the cuda target.
  const cuda = cudaAvailability();
  if (!cuda.available) throw new Error(cuda.reason);
  device = `${cuda.devices[0]!.name} (${cuda.devices[0]!.pciBusId}), CUDA driver ${cuda.version}`;
  {
    using target = CudaTarget.open(0, { sampler: false });
    const buffer = target.allocate(1 << 30);
    device =
      `${target.info.name} (${target.info.pciBusId}), driver ${target.info.driver}, CUDA ${target.info.cudaDriverVersion}, PCIe gen ${
        target.info.pcieLinkGeneration ?? "?"
      } x${target.info.pcieLinkWidth ?? "?"}`;
    for (const units of [true, false]) {
      const args = [
        `--query-compute-apps=${COMPUTE_APPS_FIELDS.join(",")}`,
        `--format=csv,noheader${units ? "" : ",nounits"}`,
      ];
      const result = await runNvidiaSmi(args);
      recordings.push(
        formatSection(
          `nvidia-smi ${args.join(" ")}`,
          result.ok ? result.stdout : `# ${result.reason}\n`,
        ),
      );
    }
    target.free(buffer);
  }
  log(`device: ${device}`);
  await Deno.writeTextFile(
    join(OUT, "nvidia-smi.txt"),
    `# weightbench nvidia-smi recording\n# recorded by bench/cli/gpu_check_command.ts on ${device}, ${
      new Date().toISOString()
    }\n${recordings.join("")}`,
  );
});
const memoryAtStart = nvmlUsedBytes();

// ---- 2. the GPU tests, and a bad ordinal through the CLI ----

await step("GPU tests", 150, async (signal) => {
  const { code, output } = await run(
    Deno.execPath(),
    ["test", "--no-check", ...PERMISSIONS, ...GPU_TESTS],
    signal,
    { quiet: true, env: { NO_COLOR: "1" } },
  );
  await Deno.writeTextFile(join(OUT, "tests.txt"), output);
  const plain = output;
  for (const line of plain.split("\n")) {
    if (
      /^GPU: |FAILED|^(ok|FAILED) \|/.test(line) ||
      /^\s{2}\S/.test(line) && /GB\/s|sampler|waits/.test(line)
    ) {
      log(`    ${line}`);
    }
  }
  const ignoredGpu = plain.split("\n").filter((l) => /^GPU: .*\(skipped/.test(l));
  if (code !== 0) throw new Error(`deno test exited with ${code} (see tests.txt)`);
  if (ignoredGpu.length > 0) throw new Error(`${ignoredGpu.length} GPU tests were skipped`);
});

await step("bad ordinal through the CLI (exit 2)", 30, async (signal) => {
  const tiny = join(ROOT, "fixtures/testdata/tiny.safetensors");
  const { code, output } = await bench(
    [
      "bench",
      "--weights",
      tiny,
      "--target",
      "cuda:99",
      "--runs",
      "1",
      "--warmup",
      "0",
      "--no-probe",
    ],
    signal,
  );
  if (code !== 2 || !/does not exist: this machine has \d+ CUDA device/.test(output)) {
    throw new Error(`exit ${code}: ${output.trim().split("\n").at(-1)}`);
  }
});

// ---- 3. the large fixture and the probe ----

const largeSpec: FixtureSpec = {
  layout: "llama-3-8b",
  size: LARGE_BYTES,
  dtype: "BF16",
  shards: 1,
};
const largeDir = await step("large fixture", 240, async () => {
  await Deno.mkdir(FIXTURE_ROOT, { recursive: true });
  const free = freeBytes(FIXTURE_ROOT);
  if (free < LARGE_BYTES * 2.3) {
    throw new Error(
      `${free} bytes free in ${FIXTURE_ROOT}: not enough for the fixture and its .pt copy`,
    );
  }
  let shown = 0;
  const dir = await ensureFixture(largeSpec, FIXTURE_ROOT, {
    onProgress: (done, total) => {
      if (done - shown >= total / 4 || done === total) {
        shown = done;
        log(`    fixture ${(done / 2 ** 30).toFixed(1)} / ${(total / 2 ** 30).toFixed(1)} GiB`);
      }
    },
  });
  log(`    ${dir}`);
  return dir;
});
const largeFile = largeDir && join(largeDir, "model.safetensors");

const limits = await step("probe (storage, memory, cuda:0 links)", 120, async (signal) => {
  const { limits, trials } = await probeMachine({
    path: largeDir ?? FIXTURE_ROOT,
    ...(largeFile ? { files: [largeFile] } : { probeFileBytes: 1 << 30 }),
    blockSizes: [1 << 20, 4 << 20, 16 << 20, 64 << 20],
    depths: [1, 4, 16, 32],
    signal,
    onStep: (s) => {
      if (s.step === "cold") {
        log(
          `    O_DIRECT ${s.trial.blockSize >> 20} MiB × ${s.trial.depth}: ${
            s.trial.gbps.toFixed(2)
          } GB/s`,
        );
      } else if (s.step !== "write") log(`    ${s.step}${"id" in s ? ` ${s.id}` : ""}`);
    },
  });
  await writeCachedLimits(limits); // the bench runs below rate their cases against these
  await Deno.writeTextFile(
    join(OUT, "probe.json"),
    `${JSON.stringify({ ...limits, trials }, null, 2)}\n`,
  );
  log(
    `    ${
      JSON.stringify({
        storage: limits.storage,
        memoryCopyGBps: limits.memoryCopyGBps,
        devices: limits.devices,
      })
    }`,
  );
  return limits as MachineLimits;
});

// ---- 4. the peers ----

const peers = largeFile
  ? await step("peers (safetensors, torch.load, raw copies)", 200, async (signal) => {
    const out = join(await Deno.makeTempDir(), "peers.json");
    const { code } = await run(
      "python3",
      [
        "tools/gpu_peers.py",
        "--safetensors",
        largeFile,
        "--pt",
        join(largeDir!, "model.pt"),
        "--out",
        out,
      ],
      signal,
      { env: { PYTHONUNBUFFERED: "1" } },
    );
    if (code !== 0) throw new Error(`peers.py exited with ${code}`);
    return JSON.parse(await Deno.readTextFile(out)) as PeersResult;
  })
  : undefined;

// ---- 5. the scenarios on cuda:0 ----

const help = await step("bench --help", 20, (signal) => bench(["bench", "--help"], signal, true));
const sampledVerify = help?.output.includes("--verify") ?? false;

/** Runs `args` through the CLI into a fresh folder and reads back the profile it wrote. */
async function runScenario(args: string[], signal: AbortSignal): Promise<Profile> {
  const dir = await Deno.makeTempDir({ prefix: "weightbench-gpu-check-" });
  const { code, output } = await bench(["bench", ...args, "--out", dir], signal);
  const path = /^profile: (.+\.json)$/m.exec(output)?.[1];
  if (!path) throw new Error(`bench exited with ${code} and wrote no profile`);
  const profile = await readProfile(path);
  if (code !== 0) log(`    bench exited with ${code}: some case failed (see the profile)`);
  return profile;
}

const large = largeDir
  ? await step(
    "large scenario on cuda:0, cold and warm",
    Math.max(60, left() - 100),
    async (signal) => {
      const runs = left() > 330 ? 2 : 1;
      const wanted: (string | { name: string; options: Record<string, unknown> })[] = [
        "full-read",
        "mmap",
        { name: "pinned", options: { staging: "reused" } },
        { name: "streamed", options: { staging: "reused" } },
        { name: "streamed", options: { staging: "reused", readers: 16, buffers: 4 } },
        { name: "streamed", options: { staging: "reused", direct: true } },
        "direct",
      ];
      const known = new Set(strategyNames());
      const strategies = wanted.filter((s) => known.has(typeof s === "string" ? s : s.name));
      if (strategies.length < wanted.length) {
        log(`    not registered (bench/strategies/registry.ts), left out: ${
          wanted.filter((s) => !strategies.includes(s)).map((s) =>
            JSON.stringify(s)
          ).join(", ")
        }`);
      }
      const scenario = join(await Deno.makeTempDir(), "gpu-large.json");
      await Deno.writeTextFile(
        scenario,
        JSON.stringify({
          name: "gpu-large",
          description:
            `bench/cli/gpu_check_command.ts: a ${flags.size} Llama-3-8B-layout model in one file, every GPU path`,
          weights: [{ fixture: { ...largeSpec, size: flags.size } }],
          strategies,
          targets: ["cuda:0"],
          cache: ["cold", "warm"],
          runs,
          warmup: 1,
        }),
      );
      log(`    ${runs} timed sample(s) per case${sampledVerify ? ", sampled verification" : ""}`);
      const profile = await runScenario(
        ["--scenario", scenario, ...(sampledVerify ? ["--verify", "sampled"] : [])],
        signal,
      );
      await Deno.writeTextFile(
        join(OUT, "profile-large.json"),
        `${JSON.stringify(profile, null, 2)}\n`,
      );
      return profile;
    },
  )
  : undefined;

const quick = await step("quick scenario on cuda:0", Math.max(30, left() - 25), async (signal) => {
  const profile = await runScenario(
    ["--scenario", "quick", "--target", "cuda:0", "--runs", "3", "--warmup", "1"],
    signal,
  );
  await Deno.writeTextFile(
    join(OUT, "profile-quick.json"),
    `${JSON.stringify(profile, null, 2)}\n`,
  );
  return profile;
});

// ---- 6. memory back where it was, the report, the table ----

const memoryAtEnd = nvmlUsedBytes();
if (memoryAtStart !== undefined && memoryAtEnd !== undefined) {
  const grown = memoryAtEnd - memoryAtStart;
  steps.push({
    name: "device memory back to its level at the start",
    state: grown <= 64 << 20 ? "ok" : "failed",
    seconds: 0,
    note: `NVML used ${memoryAtStart} → ${memoryAtEnd} bytes`,
  });
}

const profiles = [large, quick].filter((p): p is Profile => p !== undefined);
if (profiles.length > 0) {
  await step("HTML report", 30, async () => {
    const report = buildReport(profiles.map((profile) => ({ profile })));
    await Deno.writeTextFile(join(OUT, "report.html"), renderHtml(report, await loadAssets()));
  });
}

const input = {
  device,
  limits: limits ?? null,
  peers: peers ?? null,
  large: large ?? null,
  quick: quick ?? null,
  steps,
};
const results = renderResults(input);
await Deno.writeTextFile(join(OUT, "results.md"), results);
for (const line of results.trimEnd().split("\n")) log(line);
const goals = evaluateGoals(input);
const failedSteps = steps.filter((s) => s.state !== "ok");
log(`output: ${OUT} (${[...Deno.readDirSync(OUT)].map((e) => e.name).sort().join(", ")})`);
log(
  `${
    goals.filter((g) => g.pass).length
  } of ${goals.length} goals passed; ${failedSteps.length} step(s) not ok; ${
    elapsed().toFixed(0)
  } s`,
);
Deno.exit(goals.every((g) => g.pass) && failedSteps.length === 0 ? 0 : 1);

/** Device 0's memory in use by NVML, or undefined without NVML. */
function nvmlUsedBytes(): number | undefined {
  try {
    using nvml = Nvml.open();
    return nvml.device(0).memory().used;
  } catch {
    return undefined;
  }
}
