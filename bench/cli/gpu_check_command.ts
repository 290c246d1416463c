/**
 * `deno task gpu-check`: everything the CUDA work needs proven on a GPU, in
 * one run that fits a short lease: at most `--budget` seconds (540 by
 * default, for a 590-second limit), the most valuable measurements first.
 *
 * 1. the device: the driver's answer, `nvidia-smi` and its queries recorded;
 * 2. the GPU tests (bindings, NVML, symbols and layouts against the real
 *    libraries, sampler, cuda target, every strategy and gds on cuda:0, the
 *    device probe), their output streamed into `tests.txt` as it comes;
 * 3. an unknown ordinal through the CLI, with and without `--dry-run` (exit 2);
 * 4. a large fixture (one safetensors file; 8.5 GiB on a GPU) and the probe
 *    on it: O_DIRECT sweep, page cache, memory copy, cuda:0 pinned and
 *    pageable H2D and D2H by CUDA events;
 * 5. the large scenario on cuda:0, cold and warm, every GPU path;
 * 6. the peers on the same file (`tools/gpu_peers.py`);
 * 7. the quick scenario on cuda:0; device memory back where it was; the report.
 *
 * Every step is a subprocess with an enforced deadline (SIGTERM, then
 * SIGKILL): nothing it runs can overrun it, and a bench run stopped at its
 * deadline still leaves its profile (the journal keeps every sample). What a
 * step writes goes straight into the output folder (`--out`, else `$OUT`,
 * else `profiles/gpu-check/<time>`), and the summary — `summary.json` and
 * `results.md`: every step, what was and was not measured, the goals, the
 * verdict — is rewritten after every step, so a check killed at any moment
 * leaves valid files of every finished step and a summary of them.
 *
 * Without a GPU the steps run on `host` as a rehearsal (the large fixture is
 * then 1 GiB) and the verdict is "no GPU here".
 *
 * Exit code: 0 every goal met and every step ok; 1 a goal failed or a step
 * did not finish; 3 no GPU here.
 *
 * Usage: `deno task gpu-check [--out DIR] [--budget SECONDS] [--size SIZE] [--steps LIST]`
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type FixtureSpec } from "../../fixtures/generate.ts";
import type { MachineLimits, Profile } from "../../profiles/schema.ts";
import { readProfile } from "../../profiles/files.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseSize } from "../util/size.ts";
import {
  type CheckInput,
  type CheckStep,
  type PeersResult,
  renderResults,
  verdict,
} from "./gpu_check_report.ts";
import type { DeviceFinding, FixtureRequest, ProbeRequest } from "./_gpu_check_step.ts";
import { type Ended, runWithDeadline } from "./gpu_check_spawn.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE_ROOT = Deno.env.get("WEIGHTBENCH_CACHE") ?? join(ROOT, "fixtures/.cache");
/** The tests that need a GPU or NVIDIA's libraries (each also runs its GPU-less half). */
export const GPU_TESTS = [
  "bench/ffi/",
  "bench/gpu/",
  "bench/targets/cuda_test.ts",
  "bench/targets/registry_test.ts",
  "bench/probe/device_test.ts",
  "bench/strategies/gds_test.ts",
];
/** The whole check's time, in seconds, under a 590-second limit. @default 540 */
export const DEFAULT_BUDGET_S = 540;
/** Seconds kept back for the last summary. @default 5 */
const SUMMARY_S = 5;
/** The large fixture on a GPU. @default 8704 MiB */
export const GPU_LARGE_BYTES = 8704 * 2 ** 20;
/** The large fixture of a rehearsal without a GPU. @default 1 GiB */
export const REHEARSAL_LARGE_BYTES = 2 ** 30;

const USAGE =
  `Usage: deno task gpu-check [--out DIR] [--budget SECONDS] [--size SIZE] [--steps LIST]

On a GPU machine, proves in one run everything the CUDA work needs: the device
and nvidia-smi, the GPU tests, the probe, a large scenario and the quick one on
cuda:0, and the peers (safetensors, torch.load, raw copies) on the same file,
with a table of ratios and each goal marked PASS or FAIL. Without a GPU the
steps run on host as a rehearsal. Every step has its own deadline; the summary
is rewritten after each, so a run killed at any moment keeps what finished.

Options:
  --out DIR          output folder (default: $OUT, else profiles/gpu-check/<time>)
  --budget SECONDS   time for the whole check (default: ${DEFAULT_BUDGET_S})
  --size SIZE        the large fixture (default: 8704MiB on a GPU, 1GiB without)
  --steps LIST       only these steps, comma-separated
  -h, --help         show this help

Exit code: 0 every goal met and every step ok; 1 a goal failed or a step did
not finish; 2 bad flags; 3 no GPU here.`;

if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
  console.log(USAGE);
  Deno.exit(0);
}

function parseFlagsOrExit() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        out: { type: "string" },
        budget: { type: "string", default: String(DEFAULT_BUDGET_S) },
        size: { type: "string" },
        steps: { type: "string" },
      },
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message.split("\n")[0]}`);
    Deno.exit(2);
  }
}
const { values: flags } = parseFlagsOrExit();
const OUT = resolve(
  flags.out ?? Deno.env.get("OUT") ??
    join(ROOT, "profiles/gpu-check", new Date().toISOString().replace(/[:.]/g, "-")),
);
const BUDGET_S = Number(flags.budget);
if (!Number.isFinite(BUDGET_S) || BUDGET_S < 10) {
  console.error(`error: Invalid --budget "${flags.budget}": expected seconds, at least 10`);
  Deno.exit(2);
}
const began = performance.now();
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

/** Prints `text` with the time, and appends it to check-log.txt as it comes. */
function log(text: string): void {
  const line = `[${elapsed().toFixed(1).padStart(6)}s] ${text}`;
  console.log(line);
  Deno.writeTextFileSync(logFile, `${line}\n`, { append: true });
}

// ---- the state the summary is made of ----

const state: {
  device: string;
  gpu: boolean;
  limits: MachineLimits | null;
  peers: PeersResult | null;
  large: Profile | null;
  quick: Profile | null;
  steps: CheckStep[];
} = {
  device: "not asked yet",
  gpu: false,
  limits: null,
  peers: null,
  large: null,
  quick: null,
  steps: [],
};

/** Rewrites summary.json and results.md with what is known now (atomically). */
async function writeSummary(): Promise<void> {
  const input: CheckInput = { ...state };
  const decided = verdict(input);
  await writeFileAtomic(join(OUT, "results.md"), renderResults(input));
  await writeFileAtomic(
    join(OUT, "summary.json"),
    `${
      JSON.stringify(
        {
          device: state.device,
          gpu: state.gpu,
          verdict: decided.text,
          exitCode: decided.code,
          elapsedSeconds: Math.round(elapsed() * 10) / 10,
          budgetSeconds: BUDGET_S,
          steps: state.steps,
        },
        null,
        2,
      )
    }\n`,
  );
}

// ---- subprocesses with deadlines ----

/** Whether a subprocess of the step running now was stopped at its deadline. */
let stepTimedOut = false;

/**
 * Runs `command args…` from the project root with at most `limitS` seconds
 * (see {@link runWithDeadline}); every line of output goes to the log as it
 * comes (and, raw, to `stream` when given).
 */
async function spawn(
  command: string,
  args: readonly string[],
  limitS: number,
  options: { env?: Record<string, string>; stream?: string; quiet?: boolean } = {},
): Promise<Ended> {
  const ended = await runWithDeadline(command, args, {
    limitS,
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      CUFILE_LOGFILE_PATH: join(OUT, "cufile.log"),
      // the probe's limits, which the bench runs rate against, stay in the output folder
      WEIGHTBENCH_LIMITS: join(OUT, "limits"),
      ...options.env,
    },
    ...(options.stream === undefined ? {} : { stream: options.stream }),
    ...(options.quiet ? {} : { onLine: (line: string) => log(`    ${line}`) }),
  });
  if (ended.timedOut) stepTimedOut = true;
  return ended;
}

/** `deno run -P=<set> <script> …` with the same Deno. */
function denoRun(set: string, script: string, args: readonly string[], v8gc = false): string[] {
  return [
    "run",
    "-q",
    "--no-prompt",
    `-P=${set}`,
    ...(v8gc ? ["--v8-flags=--expose-gc"] : []),
    script,
    ...args,
  ];
}

/** One of the `_gpu_check_step.ts` steps, with the permissions of `set`. */
function stepScript(set: string, args: readonly string[], limitS: number): Promise<Ended> {
  return spawn(
    Deno.execPath(),
    denoRun(set, "bench/cli/_gpu_check_step.ts", [args[0]!, OUT, ...args.slice(1)]),
    limitS,
  );
}

/** A JSON file a step wrote into the output folder, or undefined where it did not. */
async function readJson<T>(name: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(OUT, name))) as T;
  } catch {
    return undefined;
  }
}

/** The newest profile a bench run left in `dir` (complete, interrupted, or journaled while running). */
async function profileIn(dir: string): Promise<{ profile: Profile; path: string } | undefined> {
  let newest: { path: string; mtime: number } | undefined;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
      if (!newest || mtime > newest.mtime) newest = { path, mtime };
    }
  } catch {
    return undefined;
  }
  return newest && { profile: await readProfile(newest.path), path: newest.path };
}

// ---- steps ----

/** What a step's work says of itself; `skip` where there was nothing to run it on. */
interface Outcome {
  readonly ok: boolean;
  readonly skip?: boolean;
  readonly note?: string;
  readonly files?: readonly string[];
}

/** A step of the plan: `cap` its longest, `keep` the seconds it wants kept for it by those before. */
interface PlannedStep {
  readonly key: string;
  readonly name: string;
  readonly cap: number;
  readonly keep: number;
  readonly run: (limitS: number) => Promise<Outcome>;
}

const wanted = flags.steps === undefined ? undefined : new Set(flags.steps.split(","));
let largeDir: string | undefined;
let largeSpec: FixtureSpec | undefined;
const profilePaths: string[] = [];

/** The device step's finding, read back after it ran (or the reason it has none). */
async function deviceStep(limitS: number): Promise<Outcome> {
  const ended = await stepScript("gpu-check", ["device"], limitS);
  const finding = await readJson<DeviceFinding>("device.json");
  if (!finding) {
    state.device = ended.timedOut
      ? `the device did not answer in ${limitS.toFixed(0)} s`
      : `the device step exited with ${ended.code}`;
    return { ok: false, note: state.device };
  }
  state.device = finding.device;
  state.gpu = finding.gpu;
  memoryAtStart = finding.usedBytes;
  return {
    ok: true,
    note: finding.gpu
      ? `${finding.device}; nvidia-smi ${finding.nvidiaSmi}`
      : `no GPU: ${finding.device}; nvidia-smi: ${finding.nvidiaSmi}`,
    files: ["device.json", ...(finding.nvidiaSmi === "ran" ? ["nvidia-smi.txt"] : [])],
  };
}
let memoryAtStart: number | null = null;

async function testsStep(limitS: number): Promise<Outcome> {
  const stream = join(OUT, "tests.txt");
  await Deno.writeTextFile(stream, "");
  const ended = await spawn(
    Deno.execPath(),
    ["test", "-q", "--no-prompt", "--no-check", "-P=test", ...GPU_TESTS],
    limitS,
    { stream, quiet: true },
  );
  const lines = ended.output.split("\n");
  for (const line of lines) {
    if (/^GPU: |\(skipped: |FAILED|^(ok|FAILED) \|/.test(line)) log(`    ${line}`);
  }
  const skippedGpu =
    lines.filter((l) => /\(skipped: (no GPU|no usable CUDA driver|no CUDA driver|no NVML)/.test(l))
      .length;
  const summary = lines.find((l) => /^(ok|FAILED) \|/.test(l)) ?? "no summary line";
  if (ended.timedOut) {
    return {
      ok: false,
      note: `stopped at ${limitS.toFixed(0)} s: ${summary}`,
      files: ["tests.txt"],
    };
  }
  if (ended.code !== 0) {
    return {
      ok: false,
      note: `deno test exited with ${ended.code}: ${summary}`,
      files: ["tests.txt"],
    };
  }
  if (state.gpu && skippedGpu > 0) {
    return {
      ok: false,
      note: `${skippedGpu} GPU tests were skipped: ${summary}`,
      files: ["tests.txt"],
    };
  }
  return {
    ok: true,
    note: `${summary}${state.gpu ? "" : `; ${skippedGpu} GPU tests skipped: no GPU here`}`,
    files: ["tests.txt"],
  };
}

async function cliStep(limitS: number): Promise<Outcome> {
  const tiny = join(ROOT, "fixtures/testdata/tiny.safetensors");
  const wrong: string[] = [];
  for (const dry of [true, false]) {
    const ended = await spawn(
      Deno.execPath(),
      denoRun("measure", "bench/main.ts", [
        "bench",
        "--weights",
        tiny,
        "--target",
        "cuda:99",
        "--no-probe",
        ...(dry ? ["--dry-run"] : ["--runs", "1", "--warmup", "0", "--out", join(OUT, "cli")]),
      ]),
      limitS / 2,
    );
    const lines = ended.output.trim().split("\n");
    if (
      ended.code !== 2 || lines.length !== 1 ||
      !/^error: Target "cuda:99" (does not exist|is not available): /.test(lines[0]!)
    ) {
      wrong.push(`${dry ? "with" : "without"} --dry-run: exit ${ended.code}: ${lines.at(-1)}`);
    }
  }
  return wrong.length === 0
    ? { ok: true, note: "exit 2 with one line, with and without --dry-run" }
    : { ok: false, note: wrong.join("; ") };
}

async function fixtureStep(limitS: number): Promise<Outcome> {
  const size = flags.size !== undefined
    ? parseSize(flags.size)
    : state.gpu
    ? GPU_LARGE_BYTES
    : REHEARSAL_LARGE_BYTES;
  if (size === undefined) return { ok: false, note: `Invalid --size "${flags.size}"` };
  largeSpec = { layout: "llama-3-8b", size, dtype: "BF16", shards: 1 };
  const request: FixtureRequest = { spec: largeSpec, root: FIXTURE_ROOT, spareBytes: size * 1.3 };
  const ended = await stepScript("measure", ["fixture", JSON.stringify(request)], limitS);
  largeDir = (await readJson<{ dir: string }>("fixture.json"))?.dir;
  if (!largeDir) {
    return {
      ok: false,
      note: ended.timedOut
        ? `not done in ${limitS.toFixed(0)} s`
        : `exit ${ended.code}: ${ended.output.trim().split("\n").at(-1)}`,
    };
  }
  return {
    ok: true,
    note: `${(size / 2 ** 30).toFixed(2)} GiB in ${largeDir}`,
    files: ["fixture.json"],
  };
}

async function probeStep(limitS: number): Promise<Outcome> {
  if (!largeDir) return { ok: false, note: "no large fixture to probe on" };
  const request: ProbeRequest = {
    path: largeDir,
    files: [join(largeDir, "model.safetensors")],
    blockSizes: [1 << 20, 4 << 20, 16 << 20, 64 << 20],
    depths: [1, 4, 16, 32],
    deviceBytes: state.gpu ? 1 << 30 : 64 << 20,
  };
  const ended = await stepScript("measure", ["probe", JSON.stringify(request)], limitS);
  const probe = await readJson<MachineLimits>("probe.json");
  if (!probe) {
    return {
      ok: false,
      note: ended.timedOut ? `not done in ${limitS.toFixed(0)} s` : `exit ${ended.code}`,
    };
  }
  state.limits = probe;
  return {
    ok: true,
    note: probe.devicesUnavailable ?? `${probe.devices.length} device(s) measured`,
    files: ["probe.json"],
  };
}

/** Runs a scenario through the CLI into `OUT/<label>/` and reads back whatever profile it left. */
async function scenarioStep(
  label: "large" | "quick",
  args: readonly string[],
  limitS: number,
): Promise<Outcome> {
  const dir = join(OUT, label);
  await Deno.mkdir(dir, { recursive: true });
  const ended = await spawn(
    Deno.execPath(),
    denoRun("measure", "bench/main.ts", ["bench", ...args, "--out", dir], true),
    limitS,
  );
  let left: { profile: Profile; path: string } | undefined;
  try {
    left = await profileIn(dir);
  } catch (error) {
    return { ok: false, note: `its profile does not read back: ${(error as Error).message}` };
  }
  if (!left) return { ok: false, note: `bench exited with ${ended.code} and left no profile` };
  state[label] = left.profile;
  profilePaths.push(left.path);
  const file = left.path.slice(OUT.length + 1);
  const cases = left.profile.cases;
  const note = `${cases.filter((c) => c.state === "completed").length} completed, ${
    cases.filter((c) => c.state === "skipped").length
  } skipped, ${
    cases.filter((c) => c.state === "errored").length
  } errored; run ${left.profile.run.state}`;
  if (ended.timedOut) return { ok: false, note: `stopped at its deadline: ${note}`, files: [file] };
  return { ok: ended.code === 0 && cases.every((c) => c.state !== "errored"), note, files: [file] };
}

async function largeStep(limitS: number): Promise<Outcome> {
  if (!largeDir || !largeSpec) return { ok: false, note: "no large fixture" };
  const strategies = [
    { name: "streamed", options: { staging: "reused" } },
    { name: "pinned", options: { staging: "reused" } },
    "full-read",
    "mmap",
    "direct",
    { name: "streamed", options: { staging: "reused", readers: 16, buffers: 4 } },
    { name: "streamed", options: { staging: "reused", direct: true } },
    { name: "gds", options: { allowCompat: true } },
  ];
  const scenario = join(OUT, "large", "scenario.json");
  await Deno.mkdir(join(OUT, "large"), { recursive: true });
  await Deno.writeTextFile(
    scenario,
    JSON.stringify({
      name: "gpu-large",
      description: "deno task gpu-check: one large Llama-3-8B-layout file through every GPU path",
      weights: [{ fixture: largeSpec }],
      strategies,
      targets: [state.gpu ? "cuda:0" : "host"],
      cache: ["cold", "warm"],
      runs: 2,
      warmup: 1,
    }),
  );
  return await scenarioStep("large", ["--scenario", scenario, "--verify", "sampled"], limitS);
}

async function peersStep(limitS: number): Promise<Outcome> {
  if (!largeDir) return { ok: false, note: "no large fixture" };
  const out = join(OUT, "peers.json");
  const ended = await spawn(
    "python3",
    [
      "tools/gpu_peers.py",
      "--safetensors",
      join(largeDir, "model.safetensors"),
      "--pt",
      join(largeDir, "model.pt"),
      "--out",
      out,
    ],
    limitS,
    { env: { PYTHONUNBUFFERED: "1" } },
  );
  const peers = await readJson<PeersResult>("peers.json");
  if (peers) state.peers = peers;
  const errors = peers?.errors ?? [];
  if (!peers) {
    return {
      ok: false,
      note: ended.timedOut ? `nothing measured in ${limitS.toFixed(0)} s` : `exit ${ended.code}`,
    };
  }
  const note = `${Object.keys(peers.loads ?? {}).length} loaders; ${errors.length} error(s)${
    errors[0] ? `: ${errors[0]}` : ""
  }`;
  if (ended.timedOut) {
    return { ok: false, note: `stopped at its deadline: ${note}`, files: ["peers.json"] };
  }
  return { ok: ended.code === 0 && errors.length === 0, note, files: ["peers.json"] };
}

async function quickStep(limitS: number): Promise<Outcome> {
  return await scenarioStep(
    "quick",
    [
      "--scenario",
      "quick",
      "--target",
      state.gpu ? "cuda:0" : "host",
      "--runs",
      "3",
      "--warmup",
      "1",
    ],
    limitS,
  );
}

async function memoryStep(limitS: number): Promise<Outcome> {
  if (!state.gpu) return { ok: false, skip: true, note: "no GPU here" };
  await stepScript("gpu-check", ["memory", "memory-at-end"], limitS);
  const end = (await readJson<{ usedBytes: number | null }>("memory-at-end.json"))?.usedBytes;
  if (memoryAtStart === null || end === undefined || end === null) {
    return { ok: false, note: "device memory in use could not be read" };
  }
  const grown = end - memoryAtStart;
  return {
    ok: grown <= 64 << 20,
    note: `device memory in use ${memoryAtStart} → ${end} bytes`,
    files: ["memory-at-end.json"],
  };
}

async function reportStep(limitS: number): Promise<Outcome> {
  if (profilePaths.length === 0) return { ok: false, note: "no profile to report on" };
  const ended = await stepScript("files", ["report", ...profilePaths], limitS);
  return ended.code === 0
    ? { ok: true, files: ["report.html"] }
    : { ok: false, note: ended.timedOut ? "not done in time" : `exit ${ended.code}` };
}

/** The plan, most valuable first; `keep` protects the later steps' time from the earlier ones. */
const PLAN: readonly PlannedStep[] = [
  { key: "device", name: "device and nvidia-smi", cap: 30, keep: 10, run: deviceStep },
  { key: "tests", name: "GPU tests", cap: 150, keep: 60, run: testsStep },
  { key: "cli", name: "unknown ordinal through the CLI (exit 2)", cap: 30, keep: 10, run: cliStep },
  { key: "fixture", name: "large fixture", cap: 150, keep: 30, run: fixtureStep },
  {
    key: "probe",
    name: "probe (storage, memory, cuda:0 links)",
    cap: 90,
    keep: 30,
    run: probeStep,
  },
  { key: "large", name: "large scenario, cold and warm", cap: 300, keep: 60, run: largeStep },
  {
    key: "peers",
    name: "peers (safetensors, torch.load, raw copies)",
    cap: 150,
    keep: 45,
    run: peersStep,
  },
  { key: "quick", name: "quick scenario", cap: 120, keep: 40, run: quickStep },
  {
    key: "memory",
    name: "device memory back to its level at the start",
    cap: 20,
    keep: 5,
    run: memoryStep,
  },
  { key: "report", name: "HTML report", cap: 30, keep: 5, run: reportStep },
];

const plan = PLAN.filter((s) => wanted === undefined || wanted.has(s.key) || s.key === "device");
state.steps = plan.map((s) => ({ name: s.name, state: "pending", seconds: 0 }));
await writeSummary();

for (const [i, planned] of plan.entries()) {
  const keep = plan.slice(i + 1).reduce((sum, s) => sum + s.keep, 0);
  const limit = Math.min(planned.cap, left() - SUMMARY_S - keep);
  if (limit < 5) {
    state.steps[i] = {
      name: planned.name,
      state: "skipped",
      seconds: 0,
      note: "no time left in the budget",
    };
    log(`SKIP ${planned.name}: no time left`);
    await writeSummary();
    continue;
  }
  log(`==> ${planned.name} (at most ${limit.toFixed(0)} s)`);
  stepTimedOut = false;
  state.steps[i] = {
    name: planned.name,
    state: "running",
    seconds: 0,
    note: `started at ${elapsed().toFixed(0)} s`,
  };
  await writeSummary();
  const start = performance.now();
  let outcome: Outcome;
  try {
    outcome = await planned.run(limit);
  } catch (error) {
    outcome = {
      ok: false,
      note: error instanceof Error ? error.message.split("\n")[0]! : String(error),
    };
  }
  const took = (performance.now() - start) / 1000;
  state.steps[i] = {
    name: planned.name,
    state: outcome.ok ? "ok" : outcome.skip ? "skipped" : stepTimedOut ? "timed out" : "failed",
    seconds: Math.round(took * 10) / 10,
    ...(outcome.note === undefined ? {} : { note: outcome.note }),
    ...(outcome.files === undefined ? {} : { files: outcome.files }),
  };
  log(
    `<== ${planned.name}: ${state.steps[i]!.state} in ${took.toFixed(1)} s${
      outcome.note ? `: ${outcome.note}` : ""
    }`,
  );
  await writeSummary();
}

const decided = verdict({ ...state });
for (const line of renderResults({ ...state }).trimEnd().split("\n")) log(line);
log(`output: ${OUT} (${[...Deno.readDirSync(OUT)].map((e) => e.name).sort().join(", ")})`);
log(`${decided.text}; ${elapsed().toFixed(0)} s of ${BUDGET_S}`);
Deno.exit(decided.code);
