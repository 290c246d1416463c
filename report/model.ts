/**
 * What a report shows, read out of profiles once: every case with its
 * statistics, its timed load times and one representative sample, every
 * profile's environment as rows, and, for several profiles, each case matched
 * by id against the first profile with the ratio of medians, its confidence
 * interval and a verdict (from `bench/compare/significance.ts`).
 *
 * Profiles are untrusted input: everything here is read defensively (a field
 * of the wrong type reads as unknown, never as a crash), and the builders of
 * HTML, markdown and the dashboard formats take this model, not raw profiles.
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

import type { Profile } from "../profiles/profile.ts";
import { type HerdSummary, herdSummary } from "../bench/compare/herd.ts";
import { compareSamples, type Verdict } from "../bench/compare/significance.ts";
import { formatBytes } from "../bench/util/size.ts";
import { arr, bool, describe, num, obj, str } from "./_read.ts";
import { commit, dateTime, gbps } from "./_format.ts";

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
  readonly round: number | null;
  readonly durationMs: number;
  /** The spans that start inside the load, at most {@linkcode MAX_SPANS}. */
  readonly spans: readonly SpanView[];
  /** How many spans were left out to keep the page small. */
  readonly spansLeftOut: number;
  /** GPU memory samples, or null when the sample has none. */
  readonly gpuMemory: readonly GpuMemorySample[] | null;
}

/** A case's statistics, each number finite or null. */
export interface StatsView {
  readonly samples: number;
  readonly median: number;
  readonly ci: { readonly low: number; readonly high: number; readonly level: number } | null;
  readonly q1: number | null;
  readonly q3: number | null;
  readonly iqr: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly cv: number | null;
  readonly noisy: boolean;
  readonly outliers: number;
  readonly gbps: {
    readonly median: number;
    readonly low: number | null;
    readonly high: number | null;
  } | null;
  readonly ofLimit: {
    readonly fraction: number;
    readonly limit: string;
    readonly limitGBps: number;
  } | null;
  /** Median time of each phase present, in the order of the profile. */
  readonly phases: readonly { readonly phase: string; readonly median: number }[];
  readonly verified: { readonly passed: number; readonly samples: number } | null;
  /** Samples whose cache state was established, of `samples`. */
  readonly cacheEstablished: number | null;
  /** Page-cache residency measured before the samples: the worst one for the case's state. */
  readonly residency: number | null;
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
  /** Flags for the summary: noisy, outliers, cache state not established, verification failed. */
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
  readonly durationMs: number | null;
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
  readonly description: string | null;
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

/** Reads every profile and, for several, matches their cases by id. */
export function buildReport(inputs: readonly ReportInput[]): Report {
  const raw = inputs.map((input) => rawProfile(input.profile));
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

function rawProfile(profile: Profile): RawProfile {
  const p = obj(profile);
  const env = obj(p.environment);
  const git = obj(env.git);
  const host = str(env.host, "unknown host");
  const createdAt = str(p.createdAt, "");
  const commitText = commit(str(git.commit, null), bool(git.dirty));
  const nodeRecords = arr(p.nodes).map(obj);
  const nodeLabels = nodeRecords.map((n, i) => str(n.label, `node ${i + 1}`));
  const cases = arr(p.cases).map((c) => caseView(c, nodeLabels));
  const nodes = nodeRecords.map((n, i) => nodeView(n, i, cases, p));
  const merged = p.merged === null || p.merged === undefined ? null : obj(p.merged);
  let herd: HerdSummary | null = null;
  try {
    herd = herdSummary(profile);
  } catch {
    herd = null; // a malformed profile shows its cases without the herd summary
  }
  const targets = [...new Set(cases.map((c) => c.target))];
  const described = arr(p.weights).map((w) => {
    const o = obj(w);
    const files = arr(o.files).length;
    const tensorBytes = num(o.tensorBytes);
    return `${str(o.label, "weights")}: ${num(o.tensorCount) ?? "?"} tensors, ${
      tensorBytes === null ? "?" : formatBytes(tensorBytes)
    } in ${files} ${str(o.format, "")} file${files === 1 ? "" : "s"}`;
  });
  const weights = described.length > 0
    ? described.join("; ")
    : [...new Set(cases.map((c) => c.weights))].join(", ");
  const limits = p.limits === undefined || p.limits === null ? null : obj(p.limits);
  return {
    label: `${host} @ ${commitText} · ${dateTime(createdAt).replace(/:\d\d UTC$/, " UTC")}`,
    id: str(p.id, "?"),
    createdAt,
    scenario: str(obj(p.scenario).name, "unnamed scenario"),
    description: str(obj(p.scenario).description, null),
    host,
    commit: commitText,
    targets,
    weights,
    hasLimits: limits !== null,
    environment: environmentRows(p, limits),
    cases,
    nodes,
    merged: merged === null ? null : {
      mode: str(merged.mode, "combined"),
      missing: arr(merged.missing).map((m) => describe(m)),
    },
    herd,
  };
}

function nodeView(
  n: Readonly<Record<string, unknown>>,
  index: number,
  cases: readonly RawCase[],
  p: Readonly<Record<string, unknown>>,
): NodeView {
  const label = str(n.label, `node ${index + 1}`);
  const shard = n.shard === null || n.shard === undefined ? null : obj(n.shard);
  const node = obj(n.node);
  const scheduler = node.scheduler === null || node.scheduler === undefined
    ? null
    : obj(node.scheduler);
  const run = obj(n.run);
  const mine = cases.filter((c) => c.nodeIndex === index);
  const count = (state: string) => mine.filter((c) => c.state === state).length;
  const part = shard === null
    ? null
    : `${shard.mode === "herd" ? "member" : "shard"} ${describe(shard.index)}/${
      describe(shard.count)
    }`;
  const schedulerText = scheduler === null
    ? null
    : `${str(scheduler.kind, "scheduler")} ${scheduler.kind === "kubernetes" ? "job" : "job"} ${
      describe(scheduler.jobId)
    }${
      scheduler.taskId === null || scheduler.taskId === undefined
        ? ""
        : `, ${scheduler.kind === "kubernetes" ? "index" : "task"} ${describe(scheduler.taskId)}`
    }`;
  const limits = n.limits === undefined || n.limits === null ? null : obj(n.limits);
  const rows = environmentRows({
    environment: n.environment,
    targets: n.targets,
    run: n.run,
    command: n.command,
    scenario: { name: n.scenario },
    tool: p.tool,
    id: n.profile,
  }, limits);
  rows.unshift(
    ["node", label],
    ["part of the run", part ?? "whole run"],
    ["scheduler", schedulerText ?? "none"],
  );
  return {
    key: str(n.key, String(index + 1)),
    label,
    host: str(obj(n.environment).host, str(node.host, "unknown")),
    part,
    scheduler: schedulerText,
    source: str(n.source, null),
    completed: count("completed"),
    errored: count("errored"),
    skipped: count("skipped"),
    startedAt: str(run.startedAt, ""),
    durationMs: num(run.durationMs),
    environment: rows,
  };
}

function environmentRows(
  p: Readonly<Record<string, unknown>>,
  limits: Readonly<Record<string, unknown>> | null,
): [string, string][] {
  const env = obj(p.environment);
  const cpu = obj(env.cpu);
  const deno = obj(env.deno);
  const git = obj(env.git);
  const run = obj(p.run);
  const tool = obj(p.tool);
  const memory = num(env.memoryBytes);
  const rows: [string, string][] = [
    ["host", str(env.host, "unknown")],
    ["system", `${str(env.os, "?")} ${str(env.arch, "?")}, kernel ${str(env.kernel, "?")}`],
    ["CPU", `${str(cpu.model, "?")}, ${num(cpu.cores) ?? "?"} cores`],
    ["memory", memory === null ? "unknown" : formatBytes(memory)],
    ["transparent huge pages", str(env.transparentHugePages, "unknown")],
    [
      "Deno",
      `${str(deno.deno, "?")} (V8 ${str(deno.v8, "?")}, TypeScript ${str(deno.typescript, "?")})`,
    ],
    [
      "commit",
      str(git.commit, null) === null
        ? "unknown"
        : `${str(git.commit, "")}${bool(git.dirty) ? " (uncommitted changes)" : ""}`,
    ],
  ];
  for (const s of arr(env.storage)) {
    const o = obj(s);
    const rotational = bool(o.rotational);
    const model = str(o.deviceModel, null);
    rows.push([
      `storage ${str(o.path, "?")}`,
      `${str(o.fileSystem, "?")} on ${str(o.source, "?")} (${str(o.mountPoint, "?")}, device ${
        str(o.device, "?")
      }${model ? `, ${model}` : ""}${
        rotational === null ? "" : rotational ? ", rotational" : ", solid state"
      })`,
    ]);
  }
  for (const [name, target] of Object.entries(obj(p.targets))) {
    rows.push([`target ${name}`, describe(target)]);
  }
  for (const w of arr(p.weights)) {
    const o = obj(w);
    const tensorBytes = num(o.tensorBytes);
    const fileBytes = num(o.fileBytes);
    rows.push([
      `weights ${str(o.label, "?")}`,
      `${str(o.format, "?")}, ${arr(o.files).length} files, ${num(o.tensorCount) ?? "?"} tensors, ${
        tensorBytes === null ? "?" : formatBytes(tensorBytes)
      } of tensors${fileBytes === null ? "" : `, ${formatBytes(fileBytes)} on disk`}; ${
        str(o.source, "?")
      }`,
    ]);
  }
  const scenario = obj(p.scenario);
  rows.push([
    "scenario",
    `${str(scenario.name, "?")}${
      str(scenario.source, null) ? ` (${str(scenario.source, "")})` : ""
    }`,
  ]);
  const command = arr(p.command).map((a) => describe(a)).join(" ");
  if (command) rows.push(["command", `deno task ${command}`]);
  const durationMs = num(run.durationMs);
  rows.push([
    "run",
    `started ${dateTime(str(run.startedAt, "?"))}, ${
      durationMs === null ? "?" : `${(durationMs / 1000).toFixed(1)} s`
    }, ${num(run.runs) ?? "?"} timed and ${num(run.warmup) ?? "?"} warmup samples per case`,
  ]);
  rows.push([
    "tool",
    `${str(tool.name, "?")} ${str(tool.version, "?")}, profile ${str(p.id, "?")}`,
  ]);
  if (limits === null) {
    rows.push(["machine limits", "not measured: run deno task probe"]);
  } else {
    const storage = obj(limits.storage);
    const cold = storage.cold === null ? null : obj(storage.cold);
    rows.push(["limits measured", dateTime(str(limits.measuredAt, "?"))]);
    rows.push([
      "limit: storage, cold (O_DIRECT)",
      cold === null
        ? "not measured (O_DIRECT refused)"
        : `${gbps(num(cold.gbps))} GB/s (block ${describe(cold.blockSize)}, depth ${
          describe(cold.depth)
        })`,
    ]);
    rows.push(["limit: storage, page cache", `${gbps(num(obj(storage.warm).gbps))} GB/s`]);
    rows.push(["limit: memory copy", `${gbps(num(limits.memoryCopyGBps))} GB/s`]);
    for (const d of arr(limits.devices)) {
      const o = obj(d);
      rows.push([
        `limit: ${str(o.id, "?")}`,
        `H2D pinned ${gbps(num(o.pinnedH2DGBps))}, pageable ${
          gbps(num(o.pageableH2DGBps))
        }; D2H pinned ${gbps(num(o.pinnedD2HGBps))}, pageable ${gbps(num(o.pageableD2HGBps))} GB/s`,
      ]);
    }
  }
  return rows;
}

function caseView(value: unknown, nodeLabels: readonly string[]): RawCase {
  const c = obj(value);
  const nodeIndex = num(c.node);
  const node = nodeIndex === null ? null : nodeLabels[nodeIndex] ?? `node ${nodeIndex + 1}`;
  const state = c.state === "errored" || c.state === "skipped" ? c.state : "completed";
  const samples = arr(c.samples).map(obj).filter((s) => s.warmup !== true);
  const durations = samples.map((s) => num(s.durationMs)).filter((d): d is number => d !== null);
  const stats = state === "completed" ? statsView(c.stats, str(c.cache, "")) : null;
  const cache = str(c.cache, "?");
  const flags: string[] = [];
  if (stats) {
    if (stats.noisy) {
      flags.push(`noisy (CV ${stats.cv === null ? "?" : (stats.cv * 100).toFixed(0)}%)`);
    }
    if (stats.outliers > 0) {
      flags.push(`${stats.outliers} outlier${stats.outliers === 1 ? "" : "s"}`);
    }
    if (stats.cacheEstablished !== null && stats.cacheEstablished < stats.samples) {
      flags.push(
        `${cache} not established in ${stats.samples - stats.cacheEstablished}/${stats.samples}`,
      );
    }
    if (stats.verified && stats.verified.passed < stats.verified.samples) {
      flags.push(`verification failed in ${stats.verified.samples - stats.verified.passed}`);
    }
  } else if (state === "completed") {
    flags.push("no readable statistics");
  }
  return {
    id: str(c.id, "?"),
    weights: str(c.weights, "?"),
    strategy: str(c.strategyLabel, str(obj(c.strategy).name, "?")),
    target: str(c.target, "?"),
    cache,
    state,
    message: state === "errored"
      ? str(c.error, "unknown error")
      : state === "skipped"
      ? str(c.reason, "no reason given")
      : null,
    stats,
    durations,
    bytes: sampleBytes(samples),
    representative: stats ? representative(samples, stats.median) : null,
    flags,
    node,
    nodeIndex,
  };
}

function sampleBytes(samples: readonly Readonly<Record<string, unknown>>[]): number | null {
  const sizes = new Set(samples.map((s) => num(s.bytes)));
  const [only] = sizes;
  return sizes.size === 1 && only !== undefined ? only : null;
}

function statsView(value: unknown, cache: string): StatsView | null {
  const s = obj(value);
  const d = obj(s.durationMs);
  const median = num(d.median);
  if (median === null) return null;
  const ci = obj(d.ci);
  const ciLow = num(ci.low);
  const ciHigh = num(ci.high);
  const through = obj(s.throughputGBps);
  const throughMedian = num(through.median);
  const ofLimit = s.ofLimit === null || s.ofLimit === undefined ? null : obj(s.ofLimit);
  const fraction = ofLimit ? num(ofLimit.fraction) : null;
  const limitGBps = ofLimit ? num(ofLimit.limitGBps) : null;
  const phases: { phase: string; median: number }[] = [];
  for (const [phase, summary] of Object.entries(obj(s.phases))) {
    const m = num(obj(summary).median);
    if (m !== null) phases.push({ phase, median: m });
  }
  const verified = obj(s.verified);
  const passed = num(verified.passed);
  const verifiedSamples = num(verified.samples);
  const cacheStats = obj(s.cache);
  const resident = obj(cacheStats.residentFraction);
  const residency = cache === "cold" ? num(resident.max) : num(resident.min);
  return {
    samples: num(s.samples) ?? num(d.n) ?? 0,
    median,
    ci: ciLow === null || ciHigh === null
      ? null
      : { low: ciLow, high: ciHigh, level: num(ci.level) ?? 0.95 },
    q1: num(d.q1),
    q3: num(d.q3),
    iqr: num(d.iqr),
    min: num(d.min),
    max: num(d.max),
    cv: num(d.cv),
    noisy: d.noisy === true,
    outliers: arr(d.outliers).length,
    gbps: throughMedian === null
      ? null
      : { median: throughMedian, low: num(through.low), high: num(through.high) },
    ofLimit: fraction === null || limitGBps === null || ofLimit === null
      ? null
      : { fraction, limit: str(ofLimit.limit, "limit"), limitGBps },
    phases,
    verified: passed === null || verifiedSamples === null
      ? null
      : { passed, samples: verifiedSamples },
    cacheEstablished: num(cacheStats.established),
    residency,
    peakRssBytes: num(obj(s.peakRssBytes).max),
    loadRssBytes: num(obj(s.loadRssBytes).max),
  };
}

function representative(
  samples: readonly Readonly<Record<string, unknown>>[],
  median: number,
): SampleView | null {
  let best: Readonly<Record<string, unknown>> | null = null;
  let bestDistance = Infinity;
  for (const s of samples) {
    const d = num(s.durationMs);
    if (d !== null && Math.abs(d - median) < bestDistance) {
      best = s;
      bestDistance = Math.abs(d - median);
    }
  }
  if (best === null) return null;
  const durationMs = num(best.durationMs)!;
  const spans: SpanView[] = [];
  for (const span of arr(best.spans)) {
    const o = obj(span);
    const start = num(o.start);
    const end = num(o.end);
    if (start === null || end === null || end < start || start >= durationMs) continue;
    spans.push({ phase: str(o.phase, "?"), start, end, detail: str(o.detail, null) });
  }
  let kept = spans;
  if (spans.length > MAX_SPANS) {
    // Keep the longest spans, in their original order.
    const cutoff = spans.map((s) => s.end - s.start).sort((a, b) => b - a)[MAX_SPANS - 1]!;
    kept = spans.filter((s) => s.end - s.start >= cutoff).slice(0, MAX_SPANS);
  }
  const gpu = Array.isArray(best.gpuMemory)
    ? best.gpuMemory.slice(0, MAX_GPU_SAMPLES).map(obj).flatMap((g) => {
      const t = num(g.t);
      const used = num(g.usedBytes);
      return t === null || used === null ? [] : [{ t, usedBytes: used }];
    })
    : [];
  return {
    round: num(best.round),
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
    if (c.stats === null) return `no readable statistics in ${label}`;
    if (c.durations.length === 0) return `no timed samples in ${label}`;
    if (c.durations.some((d) => !(d > 0))) return `a load time that is not positive in ${label}`;
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
