/**
 * What a report shows, read out of profiles once: every case with its
 * statistics, its timed load times and one representative sample, every
 * profile's environment as rows, and, for several profiles, each case matched
 * by id against the first profile with the ratio of medians, its confidence
 * interval and a verdict (from `bench/compare/significance.ts`).
 *
 * Profiles arrive typed and checked (`readProfile`, or code that builds a
 * {@link Profile}), so this reads their fields as the schema describes them.
 * Their strings are still untrusted text: the builders of HTML, markdown and
 * the dashboard formats take this model, not raw profiles, and escape them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 *
 * const report = buildReport([{ profile: syntheticProfile() }]);
 * assert.equal(report.profiles.length, 1);
 * assert.equal(report.comparison, null);
 * const first = report.profiles[0]!.cases[0]!;
 * assert.equal(first.label, "full-read · cold");
 * assert.equal(first.durations.length, 5);
 * ```
 *
 * @module
 */

import type {
  CaseStats,
  Environment,
  MachineLimits,
  OfLimit,
  Profile,
  ProfileCase,
  ProfileNode,
  Sample,
} from "../profiles/schema.ts";
import { type HerdSummary, herdSummary } from "../bench/compare/herd.ts";
import { compareSamples, type Verdict } from "../bench/compare/significance.ts";
import { formatBytes } from "../bench/util/size.ts";
import { commit, DASH, dateTime, gbps } from "./_format.ts";
import { partialRunText } from "../profiles/partial.ts";
import { type Answer, answerOf } from "./answer.ts";
import type { ModelSize } from "../bench/compare/projection.ts";
import { ABOVE_LIMIT_NOTE, LIMIT_SLACK } from "./table.ts";

/**
 * A sample of GPU memory in use during a load, as a CUDA target records it:
 * `t` in ms from the start of the load. Profiles of the host target have none.
 */
export interface GpuMemorySample {
  readonly t: number;
  readonly usedBytes: number;
}

/** One span of a sample, in ms from the start of the load. */
export interface SpanView {
  readonly phase: string;
  readonly start: number;
  readonly end: number;
  readonly detail: string | null;
}

/** The timed sample whose load time is closest to the median. */
export interface SampleView {
  readonly round: number;
  readonly durationMs: number;
  /** The spans that start inside the load, at most {@linkcode MAX_SPANS}. */
  readonly spans: readonly SpanView[];
  /** How many spans were left out to keep the page small. */
  readonly spansLeftOut: number;
  /** GPU memory samples, or null when the sample has none. */
  readonly gpuMemory: readonly GpuMemorySample[] | null;
}

/** A case's statistics, as the profile records them. */
export interface StatsView {
  readonly samples: number;
  readonly median: number;
  readonly ci: { readonly low: number; readonly high: number; readonly level: number };
  readonly q1: number;
  readonly q3: number;
  readonly iqr: number;
  readonly min: number;
  readonly max: number;
  readonly cv: number;
  readonly noisy: boolean;
  readonly outliers: number;
  /** GB/s at the median load time and at the interval's ends. */
  readonly gbps: { readonly median: number; readonly low: number; readonly high: number };
  /** Throughput against the machine's limit, or null without the probe's figures. */
  readonly ofLimit: OfLimit | null;
  /** Median time of each phase present, in the order of the profile. */
  readonly phases: readonly { readonly phase: string; readonly median: number }[];
  /** How many timed samples were checked, and how: every byte, sampled windows, or both. */
  readonly verified: CaseStats["verified"];
  /** Samples whose cache state was established, of `samples`. */
  readonly cacheEstablished: number;
  /** Page-cache residency measured before the samples: the worst one for the case's state. */
  readonly residency: number;
  readonly peakRssBytes: number | null;
  readonly loadRssBytes: number | null;
}

/** One case of one profile. */
export interface CaseView {
  readonly id: string;
  /** What varies between the report's cases: `mmap · cold`, `tiny · full-read · host · warm`. */
  readonly label: string;
  readonly weights: string;
  readonly strategy: string;
  /** The strategy's options, resolved (every default filled in). */
  readonly strategyOptions: Readonly<Record<string, unknown>>;
  readonly target: string;
  readonly cache: string;
  readonly state: "completed" | "errored" | "skipped";
  /** The error or the reason for skipping. */
  readonly message: string | null;
  readonly stats: StatsView | null;
  /** Load times of the timed samples, in ms, in sample order. */
  readonly durations: readonly number[];
  /** Tensor bytes each sample placed on the target, when the samples agree. */
  readonly bytes: number | null;
  readonly representative: SampleView | null;
  /** Flags for the summary: noisy, outliers, cache state not established. */
  readonly flags: readonly string[];
  /** In a merged profile, the name of the node that ran the case; null otherwise. */
  readonly node: string | null;
  /** Its index in the profile's nodes. */
  readonly nodeIndex: number | null;
}

/** One node of a merged profile: which part of the run it was, and its machine. */
export interface NodeView {
  readonly key: string;
  readonly label: string;
  readonly host: string;
  /** `shard 2/4`, `member 3/8`, or null for a whole run. */
  readonly part: string | null;
  /** `slurm job 1040, task 2`, `kubernetes job weightbench, index 1`, or null. */
  readonly scheduler: string | null;
  readonly source: string | null;
  /** The node's cases, by state. */
  readonly completed: number;
  readonly errored: number;
  readonly skipped: number;
  readonly startedAt: string;
  readonly durationMs: number;
  /** The node's environment, run and limits as label/value rows, as a profile's are. */
  readonly environment: readonly (readonly [string, string])[];
}

/** One profile, ready to show. */
export interface ProfileView {
  /** A short name, unique within the report: host, commit and time. */
  readonly label: string;
  /** The file it was read from, when known. */
  readonly source: string | null;
  readonly id: string;
  readonly createdAt: string;
  readonly scenario: string;
  /** The scenario's description, or null when it has none. */
  readonly description: string | null;
  /**
   * `Partial run: …` when the run did not finish (interrupted by a signal, or
   * killed while running), with how many cases it measured; null when complete.
   */
  readonly partial: string | null;
  readonly host: string;
  readonly commit: string;
  readonly targets: readonly string[];
  readonly weights: string;
  /** Whether the probe's machine limits are in the profile. */
  readonly hasLimits: boolean;
  /** Environment, run and limits as label/value rows. */
  readonly environment: readonly (readonly [string, string])[];
  readonly cases: readonly CaseView[];
  /** Charts group cases by weights and target: one group per pair, in case order. */
  readonly groups: readonly { readonly title: string; readonly cases: readonly number[] }[];
  /** A merged profile's nodes; empty for a profile of one run. */
  readonly nodes: readonly NodeView[];
  /** How a merged profile was made, or null. */
  readonly merged: {
    readonly mode: string;
    readonly missing: readonly string[];
  } | null;
  /** For a merged herd: per case, every node's time, the spread and the fleet's throughput. */
  readonly herd: HerdSummary | null;
  /** The answer first: the verdict, advice and projection of the profile. */
  readonly answer: Answer;
}

/** A case of a later profile against the same case of the first. */
export interface ComparisonCell {
  readonly profile: number;
  readonly case: CaseView | null;
  /** Null for the first profile, and where the case could not be compared (see `reason`). */
  readonly ratio: number | null;
  readonly ci: { readonly low: number; readonly high: number; readonly level: number } | null;
  readonly pValue: number | null;
  readonly verdict: Verdict | null;
  /** Why there is no ratio, or what the verdict rests on. */
  readonly reason: string | null;
}

/** One case id across every profile. */
export interface ComparisonRow {
  readonly id: string;
  readonly label: string;
  readonly cells: readonly ComparisonCell[];
}

/** A case id that could not be compared, and why. */
export interface NotComparable {
  readonly id: string;
  readonly label: string;
  readonly reason: string;
}

/** Several profiles side by side, matched by case id. */
export interface Comparison {
  /** Ids with a ratio in at least one later profile. */
  readonly rows: readonly ComparisonRow[];
  readonly notComparable: readonly NotComparable[];
  /** Set when no case could be compared at all. */
  readonly unrelated: string | null;
}

/** A whole report: one or several profiles. */
export interface Report {
  readonly profiles: readonly ProfileView[];
  /** Null for a single profile. */
  readonly comparison: Comparison | null;
}

/** A profile given to the report, with the file it came from. */
export interface ReportInput {
  readonly profile: Profile;
  readonly source?: string;
}

/** Most spans kept for the timeline of a representative sample. @default 2000 */
export const MAX_SPANS = 2000;
/** Most GPU memory samples kept per sample. @default 5000 */
export const MAX_GPU_SAMPLES = 5000;

/** How a report is built. */
export interface ReportOptions {
  /** Model sizes to project besides the common ones (`--project`). @default [] */
  readonly project?: readonly ModelSize[];
}

/** Reads every profile and, for several, matches their cases by id. */
export function buildReport(
  inputs: readonly ReportInput[],
  options: ReportOptions = {},
): Report {
  const raw = inputs.map((input) => rawProfile(input.profile, options));
  const allCases = raw.flatMap((p) => p.cases);
  const varies = (key: (c: RawCase) => string) => new Set(allCases.map(key)).size > 1;
  const show = {
    weights: varies((c) => c.weights),
    target: varies((c) => c.target),
  };
  const label = (c: RawCase, showNode: boolean) =>
    [
      show.weights ? c.weights : null,
      c.strategy,
      show.target ? c.target : null,
      c.cache,
      showNode ? c.node : null,
    ]
      .filter((part) => part !== null).join(" · ");
  const labels = uniqueLabels(raw.map((p) => p.label));
  const profiles = raw.map((p, i): ProfileView => {
    // A herd runs every case on every node: the node tells the copies apart.
    const keys = p.cases.map((c) => `${c.weights}\n${c.strategy}\n${c.target}\n${c.cache}`);
    const showNode = new Set(keys).size < keys.length;
    const cases = p.cases.map((c): CaseView => ({ ...c, label: label(c, showNode) }));
    return {
      ...p,
      label: labels[i]!,
      source: inputs[i]!.source ?? null,
      cases,
      groups: groups(cases),
    };
  });
  return { profiles, comparison: profiles.length > 1 ? compare(profiles) : null };
}

type RawCase = Omit<CaseView, "label">;
type RawProfile = Omit<ProfileView, "source" | "cases" | "groups"> & { cases: RawCase[] };

function rawProfile(p: Profile, options: ReportOptions): RawProfile {
  const env = p.environment;
  const commitText = commit(env.git.commit, env.git.dirty);
  const nodeRecords = p.nodes ?? [];
  const nodeLabels = nodeRecords.map((n) => n.label);
  const cases = p.cases.map((c) => caseView(c, nodeLabels));
  const nodes = nodeRecords.map((n, i) => nodeView(n, i, cases, p.tool));
  const targets = [...new Set(cases.map((c) => c.target))];
  const described = p.weights.map((w) =>
    `${w.label}: ${w.tensorCount} tensors, ${
      formatBytes(w.tensorBytes)
    } in ${w.files.length} ${w.format} file${w.files.length === 1 ? "" : "s"}`
  );
  const weights = described.length > 0
    ? described.join("; ")
    : [...new Set(cases.map((c) => c.weights))].join(", ");
  const limits = p.limits ?? null;
  return {
    label: `${env.host} @ ${commitText} · ${dateTime(p.createdAt).replace(/:\d\d UTC$/, " UTC")}`,
    id: p.id,
    createdAt: p.createdAt,
    scenario: p.scenario.name,
    description: p.scenario.description === "" ? null : p.scenario.description,
    partial: partialRunText(p),
    host: env.host,
    commit: commitText,
    targets,
    weights,
    hasLimits: limits !== null,
    environment: environmentRows({ ...p, limits }),
    cases,
    nodes,
    merged: p.merged ? { mode: p.merged.mode, missing: p.merged.missing } : null,
    herd: herdSummary(p),
    answer: answerOf(p, options.project ?? []),
  };
}

function nodeView(
  n: ProfileNode,
  index: number,
  cases: readonly RawCase[],
  tool: Profile["tool"],
): NodeView {
  const mine = cases.filter((c) => c.nodeIndex === index);
  const count = (state: CaseView["state"]) => mine.filter((c) => c.state === state).length;
  const part = n.shard === null
    ? null
    : `${n.shard.mode === "herd" ? "member" : "shard"} ${n.shard.index}/${n.shard.count}`;
  const scheduler = n.node?.scheduler ?? null;
  const schedulerText = scheduler === null
    ? null
    : `${scheduler.kind} job ${scheduler.jobId ?? DASH}${
      scheduler.taskId === null
        ? ""
        : `, ${scheduler.kind === "kubernetes" ? "index" : "task"} ${scheduler.taskId}`
    }`;
  const rows = environmentRows({
    environment: n.environment,
    targets: n.targets,
    weights: [],
    run: n.run,
    command: n.command,
    scenario: { name: n.scenario, source: null },
    tool,
    id: n.profile,
    limits: n.limits,
  });
  rows.unshift(
    ["node", n.label],
    ["part of the run", part ?? "whole run"],
    ["scheduler", schedulerText ?? "none"],
  );
  return {
    key: n.key,
    label: n.label,
    host: n.environment.host,
    part,
    scheduler: schedulerText,
    source: n.source,
    completed: count("completed"),
    errored: count("errored"),
    skipped: count("skipped"),
    startedAt: n.run.startedAt,
    durationMs: n.run.durationMs,
    environment: rows,
  };
}

/** What the environment rows are made of: a profile's fields, or a merged profile's node's. */
interface EnvironmentSource {
  readonly environment: Environment;
  readonly targets: Profile["targets"];
  readonly weights: Profile["weights"];
  readonly scenario: { readonly name: string; readonly source: string | null };
  readonly command: readonly string[];
  readonly run: Profile["run"];
  readonly tool: Profile["tool"];
  readonly id: string;
  readonly limits: MachineLimits | null;
}

function environmentRows(p: EnvironmentSource): [string, string][] {
  const { environment: env, run, limits } = p;
  const rows: [string, string][] = [
    ["host", env.host],
    ["system", `${env.os} ${env.arch}, kernel ${env.kernel}`],
    ["CPU", `${env.cpu.model}, ${env.cpu.cores} cores`],
    ["memory", formatBytes(env.memoryBytes)],
    ["transparent huge pages", env.transparentHugePages ?? "unknown"],
    ["Deno", `${env.deno.deno} (V8 ${env.deno.v8}, TypeScript ${env.deno.typescript})`],
    [
      "commit",
      env.git.commit === null
        ? "unknown"
        : `${env.git.commit}${env.git.dirty ? " (uncommitted changes)" : ""}`,
    ],
  ];
  for (const s of env.storage) {
    rows.push([
      `storage ${s.path}`,
      `${s.fileSystem} on ${s.source} (${s.mountPoint}, device ${s.device}${
        s.deviceModel ? `, ${s.deviceModel}` : ""
      }${s.rotational === null ? "" : s.rotational ? ", rotational" : ", solid state"})`,
    ]);
  }
  for (const [name, info] of Object.entries(p.targets)) {
    rows.push([`target ${name}`, facts(info)]);
  }
  for (const w of p.weights) {
    rows.push([
      `weights ${w.label}`,
      `${w.format}, ${w.files.length} files, ${w.tensorCount} tensors, ${
        formatBytes(w.tensorBytes)
      } of tensors, ${formatBytes(w.fileBytes)} on disk; ${w.source}`,
    ]);
  }
  rows.push([
    "scenario",
    `${p.scenario.name}${p.scenario.source ? ` (${p.scenario.source})` : ""}`,
  ]);
  const command = p.command.join(" ");
  if (command) rows.push(["command", `deno task ${command}`]);
  rows.push([
    "run",
    `started ${dateTime(run.startedAt)}, ${
      (run.durationMs / 1000).toFixed(1)
    } s, ${run.runs} timed and ${run.warmup} warmup samples per case${
      run.state === "complete" ? "" : `; ${runState(run)}`
    }`,
  ]);
  rows.push(["tool", `${p.tool.name} ${p.tool.version}, profile ${p.id}`]);
  if (limits === null) {
    rows.push(["machine limits", "not measured: run deno task probe"]);
  } else {
    const cold = limits.storage.cold;
    rows.push(["limits measured", dateTime(limits.measuredAt)]);
    rows.push([
      "limit: storage, cold (O_DIRECT)",
      cold === null
        ? "not measured (O_DIRECT refused)"
        : `${gbps(cold.gbps)} GB/s (block ${formatBytes(cold.blockSize)}, depth ${cold.depth})`,
    ]);
    rows.push(["limit: storage, page cache", `${gbps(limits.storage.warm.gbps)} GB/s`]);
    rows.push(["limit: memory copy", `${gbps(limits.memoryCopyGBps)} GB/s`]);
    for (const d of limits.devices) {
      rows.push([
        `limit: ${d.id}`,
        `H2D pinned ${gbps(d.pinnedH2DGBps)}, pageable ${gbps(d.pageableH2DGBps)}; D2H pinned ${
          gbps(d.pinnedD2HGBps)
        }, pageable ${gbps(d.pageableD2HGBps)} GB/s`,
      ]);
    }
  }
  return rows;
}

/** `interrupted by SIGINT`, or `did not finish (written while running)`. */
function runState(run: Profile["run"]): string {
  return run.state === "interrupted"
    ? `interrupted${run.interruptedBy === undefined ? "" : ` by ${run.interruptedBy}`}`
    : run.state === "running"
    ? "did not finish (written while running)"
    : "complete";
}

/**
 * A target's facts as `key value` pairs: `kind host, arenaBytes 512.00 MiB,
 * copyThreads 2`; byte counts (keys ending in `Bytes`) in binary units.
 */
function facts(info: Profile["targets"][string]): string {
  const pairs = Object.entries(info).map(([key, value]) =>
    `${key} ${
      value === null
        ? DASH
        : typeof value === "number" && /Bytes$/.test(key)
        ? formatBytes(value)
        : String(value)
    }`
  );
  return pairs.length === 0 ? DASH : pairs.join(", ");
}

function caseView(c: ProfileCase, nodeLabels: readonly string[]): RawCase {
  const nodeIndex = c.node ?? null;
  const node = nodeIndex === null ? null : nodeLabels[nodeIndex] ?? `node ${nodeIndex + 1}`;
  const samples = c.samples.filter((s) => !s.warmup);
  const stats = c.state === "completed" && c.stats !== null ? statsView(c.stats, c.cache) : null;
  const flags: string[] = [];
  if (stats) {
    if (stats.noisy) flags.push(`noisy (CV ${(stats.cv * 100).toFixed(0)}%)`);
    if (stats.outliers > 0) {
      flags.push(`${stats.outliers} outlier${stats.outliers === 1 ? "" : "s"}`);
    }
    if (stats.ofLimit && stats.ofLimit.fraction > LIMIT_SLACK) flags.push(ABOVE_LIMIT_NOTE);
    if (stats.cacheEstablished < stats.samples) {
      flags.push(
        `${c.cache} not established in ${stats.samples - stats.cacheEstablished}/${stats.samples}`,
      );
    }
  } else if (c.state === "completed") {
    flags.push("no statistics");
  }
  return {
    id: c.id,
    weights: c.weights,
    strategy: c.strategyLabel,
    strategyOptions: c.strategy.options,
    target: c.target,
    cache: c.cache,
    state: c.state,
    message: c.state === "errored"
      ? c.error ?? "unknown error"
      : c.state === "skipped"
      ? c.reason ?? "no reason given"
      : null,
    stats,
    durations: samples.map((s) => s.durationMs),
    bytes: sampleBytes(samples),
    representative: stats ? representative(samples, stats.median) : null,
    flags,
    node,
    nodeIndex,
  };
}

function sampleBytes(samples: readonly Sample[]): number | null {
  const sizes = new Set(samples.map((s) => s.bytes));
  const [only] = sizes;
  return sizes.size === 1 && only !== undefined ? only : null;
}

function statsView(s: CaseStats, cache: ProfileCase["cache"]): StatsView {
  const d = s.durationMs;
  const phases: { phase: string; median: number }[] = [];
  for (const [phase, summary] of Object.entries(s.phases)) {
    if (summary !== undefined) phases.push({ phase, median: summary.median });
  }
  const resident = s.cache.residentFraction;
  return {
    samples: s.samples,
    median: d.median,
    ci: d.ci,
    q1: d.q1,
    q3: d.q3,
    iqr: d.iqr,
    min: d.min,
    max: d.max,
    cv: d.cv,
    noisy: d.noisy,
    outliers: d.outliers.length,
    gbps: s.throughputGBps,
    ofLimit: s.ofLimit ?? null,
    phases,
    verified: s.verified,
    cacheEstablished: s.cache.established,
    residency: cache === "cold" ? resident.max : resident.min,
    peakRssBytes: s.peakRssBytes?.max ?? null,
    loadRssBytes: s.loadRssBytes?.max ?? null,
  };
}

function representative(samples: readonly Sample[], median: number): SampleView | null {
  let best: Sample | null = null;
  for (const s of samples) {
    if (best === null || Math.abs(s.durationMs - median) < Math.abs(best.durationMs - median)) {
      best = s;
    }
  }
  if (best === null) return null;
  const durationMs = best.durationMs;
  // Spans after the load (verify, free) are not part of its timeline.
  const spans: SpanView[] = best.spans.filter((span) => span.start < durationMs).map((span) => ({
    phase: span.phase,
    start: span.start,
    end: span.end,
    detail: span.detail ?? null,
  }));
  let kept = spans;
  if (spans.length > MAX_SPANS) {
    // Keep the longest spans, in their original order.
    const cutoff = spans.map((s) => s.end - s.start).sort((a, b) => b - a)[MAX_SPANS - 1]!;
    kept = spans.filter((s) => s.end - s.start >= cutoff).slice(0, MAX_SPANS);
  }
  const gpu = best.gpuMemory?.slice(0, MAX_GPU_SAMPLES) ?? [];
  return {
    round: best.round,
    durationMs,
    spans: kept,
    spansLeftOut: spans.length - kept.length,
    gpuMemory: gpu.length === 0 ? null : gpu,
  };
}

function groups(cases: readonly CaseView[]): { title: string; cases: number[] }[] {
  const byKey = new Map<string, { title: string; cases: number[] }>();
  cases.forEach((c, i) => {
    const title = `${c.weights} · ${c.target}`;
    let group = byKey.get(title);
    if (!group) byKey.set(title, group = { title, cases: [] });
    group.cases.push(i);
  });
  return [...byKey.values()];
}

function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  for (const l of labels) seen.set(l, (seen.get(l) ?? 0) + 1);
  const counters = new Map<string, number>();
  return labels.map((l) => {
    if (seen.get(l) === 1) return l;
    const n = (counters.get(l) ?? 0) + 1;
    counters.set(l, n);
    return `${l} (#${n})`;
  });
}

function compare(profiles: readonly ProfileView[]): Comparison {
  const ids: string[] = [];
  const labelOf = new Map<string, string>();
  for (const p of profiles) {
    for (const c of p.cases) {
      if (!labelOf.has(c.id)) {
        ids.push(c.id);
        labelOf.set(c.id, c.label);
      }
    }
  }
  const find = (p: ProfileView, id: string) => p.cases.find((c) => c.id === id) ?? null;
  const rows: ComparisonRow[] = [];
  const notComparable: NotComparable[] = [];
  const baseline = profiles[0]!;
  for (const id of ids) {
    const label = labelOf.get(id)!;
    const base = find(baseline, id);
    const cells: ComparisonCell[] = [{
      profile: 0,
      case: base,
      ratio: null,
      ci: null,
      pValue: null,
      verdict: null,
      reason: null,
    }];
    const reasons: string[] = [];
    let compared = false;
    profiles.slice(1).forEach((p, k) => {
      const current = find(p, id);
      const reason = whyNot(base, current, baseline.label, p.label);
      if (reason !== null) {
        cells.push({
          profile: k + 1,
          case: current,
          ratio: null,
          ci: null,
          pValue: null,
          verdict: null,
          reason,
        });
        reasons.push(reason);
        return;
      }
      const result = compareSamples(base!.durations, current!.durations, { seed: id });
      compared = true;
      cells.push({
        profile: k + 1,
        case: current,
        ratio: result.ratio,
        ci: result.ci,
        pValue: result.pValue,
        verdict: result.verdict,
        reason: result.reason ?? null,
      });
    });
    if (compared) rows.push({ id, label, cells });
    for (const reason of [...new Set(reasons)]) notComparable.push({ id, label, reason });
  }
  const scenarios = [
    ...new Set(profiles.map((p) => `${p.scenario} on ${p.weights || "no weights"}`)),
  ];
  return {
    rows,
    notComparable,
    unrelated: rows.length > 0
      ? null
      : `No case could be compared: ${
        scenarios.length > 1
          ? `these profiles measured different things (${scenarios.join("; ")})`
          : "no case id has timed samples in the first profile and a later one"
      }. Each profile is shown on its own below.`,
  };
}

/** Why `current` cannot be set against `base`, or null when it can. */
function whyNot(
  base: CaseView | null,
  current: CaseView | null,
  baseLabel: string,
  currentLabel: string,
): string | null {
  const missing = (c: CaseView | null, label: string) => {
    if (c === null) return `not in ${label}`;
    if (c.state === "errored") return `errored in ${label}: ${c.message}`;
    if (c.state === "skipped") return `skipped in ${label}: ${c.message}`;
    if (c.stats === null) return `no statistics in ${label}`;
    if (c.durations.length === 0) return `no timed samples in ${label}`;
    return null;
  };
  const reason = missing(base, baseLabel) ?? missing(current, currentLabel);
  if (reason !== null) return reason;
  if (base!.bytes !== null && current!.bytes !== null && base!.bytes !== current!.bytes) {
    return `different weights: ${formatBytes(base!.bytes)} of tensors in ${baseLabel}, ${
      formatBytes(current!.bytes)
    } in ${currentLabel}`;
  }
  return null;
}

/** A one-line verdict for people: `▲ slower`, `▼ faster`, `= unchanged`, `? inconclusive`. */
export function verdictText(verdict: Verdict): string {
  switch (verdict) {
    case "regression":
      return "▲ slower";
    case "improvement":
      return "▼ faster";
    case "unchanged":
      return "= unchanged";
    case "inconclusive":
      return "? inconclusive";
  }
}
