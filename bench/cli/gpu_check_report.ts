/**
 * The pure part of `deno task gpu-check` (`gpu_check_command.ts`): from the
 * steps so far, the probe's limits, the peers' timings and the profiles of
 * the runs on `cuda:0`, the table of ratios, the PASS/FAIL of each goal, what
 * was not measured and why, and the verdict with its exit code, as markdown.
 * No I/O, so it is tested with made-up numbers where there is no GPU; the
 * check rewrites its summary with it after every step, so a check killed
 * part-way leaves a summary of what it had.
 *
 * Exit codes ({@link verdict}): 0 every goal met and every step ok; 1 a goal
 * failed, or a step failed or ran out of time; 3 no GPU here (nothing on
 * `cuda:0` was measured; the steps ran on `host` as a rehearsal).
 *
 * @module
 */

import type { MachineLimits, Profile, ProfileCase } from "../../profiles/schema.ts";

/** What `peers.py` measured (decimal GB/s; seconds per load). */
export interface PeersResult {
  readonly device?: string;
  readonly torch?: string;
  readonly safetensors?: string;
  readonly tensorBytes?: number;
  readonly loads?: Readonly<
    Record<
      string,
      Readonly<
        Record<
          string,
          {
            readonly seconds: readonly number[];
            readonly median: number;
            readonly gbps: number;
            readonly resident?: readonly (number | null)[];
          }
        >
      >
    >
  >;
  readonly raw?: {
    readonly pinnedH2DGBps?: number;
    readonly pageableH2DGBps?: number;
    readonly pinnedD2HGBps?: number;
    readonly pageableD2HGBps?: number;
  };
  readonly errors?: readonly string[];
}

/**
 * How a step went: `ok`; `failed`; `timed out` (stopped at its deadline:
 * what it wrote before is kept); `skipped` (no time left, or nothing to run
 * it on); `running` and `pending` in a summary written while the check runs.
 */
export type StepState = "ok" | "failed" | "timed out" | "skipped" | "running" | "pending";

/** One step of the check and how it went. */
export interface CheckStep {
  readonly name: string;
  readonly state: StepState;
  readonly seconds: number;
  readonly note?: string;
  /** What it wrote into the output folder. */
  readonly files?: readonly string[];
}

/** Everything the summary is made of. */
export interface CheckInput {
  readonly device: string;
  /** Whether a GPU answered; without one every step is a rehearsal on `host`. */
  readonly gpu: boolean;
  readonly limits: MachineLimits | null;
  readonly peers: PeersResult | null;
  readonly large: Profile | null;
  readonly quick: Profile | null;
  readonly steps: readonly CheckStep[];
}

/** A goal of issue 4 and whether this run met it. */
export interface Goal {
  readonly name: string;
  readonly pass: boolean | null;
  readonly detail: string;
}

/** Warm pinned H2D: the best warm case reaches this fraction of the probe's pinned H2D. */
export const WARM_OF_PINNED_H2D = 0.92;
/** The best warm case is this many times as fast as safetensors' `load_file(device="cuda:0")`, warm. */
export const WARM_OVER_SAFETENSORS = 6;
/** The best cold case reaches this fraction of the probe's O_DIRECT storage bandwidth. */
export const COLD_OF_STORAGE = 0.95;

/** The completed `cuda:*` case of `profile` in `cache` state with the highest median throughput. */
export function bestCase(profile: Profile | null, cache: "cold" | "warm"): ProfileCase | undefined {
  let best: ProfileCase | undefined;
  for (const c of profile?.cases ?? []) {
    if (c.cache !== cache || c.state !== "completed" || !c.target.startsWith("cuda") || !c.stats) {
      continue;
    }
    if (!best || c.stats.throughputGBps.median > best.stats!.throughputGBps.median) best = c;
  }
  return best;
}

/** The goals, each PASS, FAIL, or unproven (null) where a figure is missing. */
export function evaluateGoals(input: CheckInput): Goal[] {
  const warm = bestCase(input.large, "warm");
  const cold = bestCase(input.large, "cold");
  const pinned = input.limits?.devices.find((d) => d.id === "cuda:0")?.pinnedH2DGBps;
  const storage = input.limits?.storage.cold?.gbps;
  const safetensorsWarm = input.peers?.loads?.["safetensors.load_file"]?.warm?.gbps;
  const goals: Goal[] = [];
  const ratio = (
    name: string,
    value: number | undefined,
    against: number | undefined,
    want: number,
    what: string,
    unit: "×" | "of",
  ) => {
    if (value === undefined || against === undefined || !(against > 0)) {
      goals.push({ name, pass: null, detail: `unproven: ${what} was not measured` });
      return;
    }
    const r = value / against;
    goals.push({
      name,
      pass: r >= want,
      detail: unit === "of"
        ? `${gbps(value)} is ${r.toFixed(3)} of ${gbps(against)} (want ≥ ${want})`
        : `${gbps(value)} is ${r.toFixed(2)}× ${gbps(against)} (want ≥ ${want}×)`,
    });
  };
  ratio(
    `warm best ≥ ${WARM_OF_PINNED_H2D}× the probe's pinned H2D`,
    warm?.stats?.throughputGBps.median,
    pinned,
    WARM_OF_PINNED_H2D,
    warm ? "the probe's pinned H2D" : "a warm cuda:0 case",
    "of",
  );
  ratio(
    `warm best ≥ ${WARM_OVER_SAFETENSORS}× safetensors load_file(device="cuda:0")`,
    warm?.stats?.throughputGBps.median,
    safetensorsWarm,
    WARM_OVER_SAFETENSORS,
    warm ? "safetensors load_file, warm" : "a warm cuda:0 case",
    "×",
  );
  ratio(
    `cold best ≥ ${COLD_OF_STORAGE}× the probe's storage bandwidth`,
    cold?.stats?.throughputGBps.median,
    storage,
    COLD_OF_STORAGE,
    cold ? "the probe's O_DIRECT storage bandwidth" : "a cold cuda:0 case",
    "of",
  );
  const coldEstablished = cold ? cold.stats!.cache.established === cold.stats!.samples : undefined;
  if (coldEstablished === false) {
    goals.push({
      name: "cold samples were cold",
      pass: false,
      detail: `${cold!.stats!.samples - cold!.stats!.cache.established} of ${
        cold!.stats!.samples
      } samples of ${cold!.id} could not establish a cold page cache`,
    });
  }
  for (const [label, profile] of [["large", input.large], ["quick", input.quick]] as const) {
    if (!profile) continue;
    const bad = profile.cases.filter((c) => c.state === "errored");
    goals.push({
      name: `every ${label} case completed and verified (no leak)`,
      pass: bad.length === 0,
      detail: bad.length === 0
        ? `${profile.cases.filter((c) => c.state === "completed").length} completed, ${
          profile.cases.filter((c) => c.state === "skipped").length
        } skipped`
        : bad.map((c) => `${c.id}: ${c.error}`).join("; "),
    });
  }
  return goals;
}

/** The results as markdown: device, steps, ratios, per-case figures, goals. */
export function renderResults(input: CheckInput): string {
  const lines: string[] = [];
  const limits = input.limits;
  const device = limits?.devices.find((d) => d.id === "cuda:0");
  const peers = input.peers;
  const decided = verdict(input);
  lines.push(`# weightbench gpu-check`, "", `Device: ${input.device}`, "");
  lines.push(`Verdict: ${decided.text} (exit ${decided.code})`, "");
  lines.push("## Steps", "", "| step | state | seconds | note |", "| --- | --- | --- | --- |");
  for (const s of input.steps) {
    lines.push(`| ${s.name} | ${s.state} | ${s.seconds.toFixed(1)} | ${cell(s.note ?? "")} |`);
  }
  const missing = notMeasured(input);
  lines.push("", "## Not measured", "");
  lines.push(
    ...(missing.length === 0 ? ["Everything was measured."] : missing.map((m) => `- ${m}`)),
  );
  lines.push("", "## Limits and peers (decimal GB/s)", "");
  lines.push(
    "| measure | weightbench probe | torch | probe / torch |",
    "| --- | --- | --- | --- |",
  );
  const raw = peers?.raw ?? {};
  for (
    const [label, ours, theirs] of [
      ["pinned H2D", device?.pinnedH2DGBps, raw.pinnedH2DGBps],
      ["pageable H2D", device?.pageableH2DGBps, raw.pageableH2DGBps],
      ["pinned D2H", device?.pinnedD2HGBps, raw.pinnedD2HGBps],
      ["pageable D2H", device?.pageableD2HGBps, raw.pageableD2HGBps],
    ] as const
  ) {
    lines.push(`| ${label} | ${gbps(ours)} | ${gbps(theirs)} | ${ratioText(ours, theirs)} |`);
  }
  lines.push(`| storage, O_DIRECT (cold limit) | ${gbps(limits?.storage.cold?.gbps)} | | |`);
  lines.push(`| page cache (warm reads) | ${gbps(limits?.storage.warm.gbps)} | | |`);
  lines.push(`| host memory copy | ${gbps(limits?.memoryCopyGBps)} | | |`);

  lines.push("", "## Loads of the large model onto cuda:0 (median GB/s of tensor bytes)", "");
  lines.push(
    "| loader | cold | warm | warm / pinned H2D | warm / safetensors warm | cold / storage |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  const safetensorsWarm = peers?.loads?.["safetensors.load_file"]?.warm?.gbps;
  const storage = limits?.storage.cold?.gbps;
  const labels = [...new Set((input.large?.cases ?? []).map((c) => c.strategyLabel))];
  for (const label of labels) {
    const of = (cache: "cold" | "warm") =>
      input.large!.cases.find((c) => c.strategyLabel === label && c.cache === cache);
    const cold = of("cold");
    const warm = of("warm");
    const coldGbps = caseGbps(cold);
    const warmGbps = caseGbps(warm);
    lines.push(
      `| weightbench ${label} | ${caseText(cold)} | ${caseText(warm)} | ${
        ratioText(warmGbps, device?.pinnedH2DGBps)
      } | ${ratioText(warmGbps, safetensorsWarm, "×")} | ${ratioText(coldGbps, storage)} |`,
    );
  }
  for (const [name, byCache] of Object.entries(peers?.loads ?? {})) {
    const cold = byCache.cold?.gbps;
    const warm = byCache.warm?.gbps;
    lines.push(
      `| ${name} (peer) | ${gbps(cold)} | ${gbps(warm)} | ${
        ratioText(warm, device?.pinnedH2DGBps)
      } | ${ratioText(warm, safetensorsWarm, "×")} | ${ratioText(cold, storage)} |`,
    );
  }

  const measured = (input.large?.cases ?? []).filter((c) => c.state === "completed");
  if (measured.length > 0) {
    lines.push("", "## h2d by CUDA events and by the host clock (large model, median ms)", "");
    lines.push("| case | h2d (events) | h2d phase (host clock) | peak GPU memory | GPU samples |");
    lines.push("| --- | --- | --- | --- | --- |");
    for (const c of measured) {
      const timed = c.samples.filter((s) => !s.warmup) as readonly SampleWithDevice[];
      const events = median(timed.map((s) => s.device?.h2dEventMs).filter(isNumber));
      const peaks = timed.map((s) => s.device?.peakMemoryBytes).filter(isNumber);
      const counts = timed.map((s) => s.gpuMemory?.length ?? s.device?.gpuMemory?.length ?? 0);
      lines.push(
        `| ${c.id} | ${events === undefined ? "—" : events.toFixed(1)} | ${
          c.stats?.phases.h2d?.median.toFixed(1) ?? "—"
        } | ${peaks.length === 0 ? "—" : `${(Math.max(...peaks) / 2 ** 30).toFixed(2)} GiB`} | ${
          Math.max(0, ...counts)
        } |`,
      );
    }
  }

  lines.push("", "## Goals", "");
  for (const goal of evaluateGoals(input)) {
    lines.push(
      `- ${
        goal.pass === null ? "UNPROVEN" : goal.pass ? "PASS" : "FAIL"
      }: ${goal.name}: ${goal.detail}`,
    );
  }
  if (peers?.errors && peers.errors.length > 0) {
    lines.push("", "## Peer errors", "", ...peers.errors.map((e) => `- ${e}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The verdict on the check so far, and the exit code it ends with. */
export function verdict(input: CheckInput): { code: 0 | 1 | 3; text: string } {
  if (!input.gpu) {
    return {
      code: 3,
      text:
        `no GPU here: ${input.device}; nothing was measured on cuda:0 (the steps ran on host as a rehearsal)`,
    };
  }
  const goals = evaluateGoals(input);
  const bad = input.steps.filter((s) => s.state !== "ok");
  const failed = goals.filter((g) => g.pass === false);
  const unproven = goals.filter((g) => g.pass === null);
  if (bad.length === 0 && failed.length === 0 && unproven.length === 0) {
    return { code: 0, text: `PASS: ${goals.length} of ${goals.length} goals met, every step ok` };
  }
  return {
    code: 1,
    text: `FAIL: ${goals.length - failed.length - unproven.length} of ${goals.length} goals met${
      failed.length > 0 ? `, ${failed.length} failed` : ""
    }${unproven.length > 0 ? `, ${unproven.length} unproven` : ""}; ${bad.length} step(s) not ok`,
  };
}

/** What the check did not measure, and why, one line each. */
export function notMeasured(input: CheckInput): string[] {
  const lines: string[] = [];
  if (!input.gpu) lines.push(`anything on cuda:0: no GPU here (${input.device})`);
  for (const s of input.steps) {
    if (s.state === "ok") continue;
    const why = s.state === "pending"
      ? "not started when this summary was written"
      : s.state === "running"
      ? "running when this summary was written (if this is the last summary, the check was stopped during it)"
      : `${s.state}${s.note ? `: ${s.note}` : ""}`;
    lines.push(`${s.name}: ${why}`);
  }
  for (const [label, profile] of [["large", input.large], ["quick", input.quick]] as const) {
    if (!profile) continue;
    if (profile.run.state !== "complete") {
      lines.push(
        `the ${label} scenario's run is ${profile.run.state}: its profile keeps every sample taken`,
      );
    }
    for (const c of profile.cases) {
      if (c.state === "skipped") lines.push(`${c.id}: skipped: ${c.reason ?? "no reason given"}`);
    }
  }
  if (input.gpu) {
    for (const goal of evaluateGoals(input)) {
      if (goal.pass === null) lines.push(`goal "${goal.name}": ${goal.detail}`);
    }
  }
  if (input.limits?.devicesUnavailable) lines.push(input.limits.devicesUnavailable);
  return lines;
}

/** A sample as a profile holds it once the runner records device measures (optional fields). */
interface SampleWithDevice {
  readonly device?: {
    readonly h2dEventMs?: number | null;
    readonly peakMemoryBytes?: number | null;
    readonly gpuMemory?: readonly unknown[];
  };
  readonly gpuMemory?: readonly unknown[] | null;
}

function caseGbps(c: ProfileCase | undefined): number | undefined {
  return c?.state === "completed" ? c.stats?.throughputGBps.median : undefined;
}

function caseText(c: ProfileCase | undefined): string {
  if (!c) return "—";
  if (c.state === "skipped") return `skipped`;
  if (c.state === "errored") return `errored`;
  return gbps(c.stats?.throughputGBps.median);
}

function gbps(value: number | undefined | null): string {
  return value === undefined || value === null || !Number.isFinite(value) ? "—" : value.toFixed(2);
}

function ratioText(a: number | undefined, b: number | undefined, unit = ""): string {
  if (a === undefined || b === undefined || !(b > 0)) return "—";
  return unit === "×" ? `${(a / b).toFixed(2)}×` : (a / b).toFixed(3);
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}
