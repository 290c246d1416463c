/**
 * What a run means for a real model: the load time of common model sizes —
 * 8B, 70B and 405B parameters at FP16, FP8 and 4-bit, and any size the user
 * names — projected from each strategy's measured throughput and from the
 * machine's measured limits, cold and warm. A projection, not a measurement:
 * it assumes the rate at which a strategy moved bytes stays flat with size.
 * The per-load costs that do not grow with the bytes — opening the files and
 * parsing their headers, whose median times every sample records — are kept
 * apart: a load of B bytes takes those plus B at the rate of the rest of the
 * load. (Fixtures keep their layout's tensor count at any size, so these
 * costs are the real model's.) Where the profile measured a strategy at
 * several sizes (a scaling scenario), the rate comes from that measured curve
 * instead: interpolated in log(size) between the sizes measured, and held at
 * the largest one's rate beyond it.
 *
 * The check of that assumption is in `projection_test.ts` (real loads at
 * small sizes, every test run) and `tools/projection_check.ts` (256 MiB
 * against 4 GiB, for the notes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../../profiles/_synthetic.ts";
 * import { parseModelSize, projectLoadTimes } from "./projection.ts";
 *
 * // 512 MiB in about 400 ms cold: 1.34 GB/s, so 16 GB take about 12 s.
 * const [host] = projectLoadTimes(syntheticProfile(), [parseModelSize("8B@FP16")]);
 * const cold = host!.fastest.cold!;
 * const seconds = host!.rows[0]!.times[cold.key]!.seconds;
 * assert.ok(seconds > 11 && seconds < 13, String(seconds));
 * assert.equal(parseModelSize("140GB").bytes, 140e9);
 * ```
 *
 * @module
 */

import type { Profile, ProfileCase } from "../../profiles/schema.ts";
import type { CacheState } from "../core/cache_state.ts";
import { InputError } from "../util/errors.ts";
import { parseSize } from "../util/size.ts";
import { REFERENCE_STRATEGY } from "./verdict.ts";

/** A model size to project: parameters at a precision, or bytes the user named. */
export interface ModelSize {
  /** `8B · FP16`, `140 GB`. */
  readonly label: string;
  readonly bytes: number;
  /** Parameters, when given as parameters. */
  readonly parameters: number | null;
  /** `FP16`, `FP8`, `4-bit`, when given as parameters. */
  readonly precision: string | null;
  /** Whether the user asked for it (`--project`). */
  readonly user: boolean;
}

/** Bytes per parameter of each precision `--project` accepts; 4-bit leaves out the block scales. */
export const PRECISIONS: Readonly<Record<string, { label: string; bytes: number }>> = {
  fp32: { label: "FP32", bytes: 4 },
  fp16: { label: "FP16", bytes: 2 },
  bf16: { label: "BF16", bytes: 2 },
  fp8: { label: "FP8", bytes: 1 },
  int8: { label: "INT8", bytes: 1 },
  "4bit": { label: "4-bit", bytes: 0.5 },
  int4: { label: "INT4", bytes: 0.5 },
};

/** A model of `parameters` at `precision` (a key of {@linkcode PRECISIONS}). */
export function modelOf(parameters: number, precision: string, user = false): ModelSize {
  const p = PRECISIONS[precision]!;
  const count = parameters >= 1e12 ? `${parameters / 1e12}T` : `${parameters / 1e9}B`;
  return {
    label: `${count} · ${p.label}`,
    bytes: parameters * p.bytes,
    parameters,
    precision: p.label,
    user,
  };
}

/** The sizes every projection shows: 8B, 70B and 405B parameters at FP16, FP8 and 4-bit. */
export const COMMON_MODELS: readonly ModelSize[] = [8e9, 70e9, 405e9].flatMap((n) =>
  ["fp16", "fp8", "4bit"].map((precision) => modelOf(n, precision))
);

/**
 * A size as `--project` takes it: parameters with an optional precision
 * (`13B`, `13B@FP8`, `1.5T@4bit`; FP16 when none is named) or bytes
 * (`140GB`, `26GiB`). Throws {@link InputError} naming `flag` otherwise.
 */
export function parseModelSize(text: string, flag = "--project"): ModelSize {
  const params = /^\s*(\d+(?:\.\d+)?)\s*([bBtT])\s*(?:[@:]\s*([\w-]+))?\s*$/.exec(text);
  if (params) {
    const parameters = Number(params[1]) * (params[2]!.toLowerCase() === "t" ? 1e12 : 1e9);
    const precision = (params[3] ?? "fp16").toLowerCase().replace("-", "");
    if (!(precision in PRECISIONS)) {
      throw new InputError(
        `Invalid ${flag} "${text}": unknown precision "${params[3]}" (expected ${
          Object.values(PRECISIONS).map((p) => p.label).join(", ")
        })`,
      );
    }
    if (parameters > 0) return modelOf(parameters, precision, true);
  }
  const bytes = params ? undefined : parseSize(text);
  if (bytes === undefined || bytes <= 0) {
    throw new InputError(
      `Invalid ${flag} "${text}": expected parameters such as 13B or 13B@FP8, or a size such as 140GB`,
    );
  }
  return { label: text.trim(), bytes, parameters: null, precision: null, user: true };
}

/** One size a strategy was measured at. */
export interface ProjectionPoint {
  /** Tensor bytes each load placed. */
  readonly bytes: number;
  /** GB/s at the median load time: what the tables show. */
  readonly gbps: number;
  /** Median time of the phases that do not grow with the bytes (open, parse), ms. */
  readonly fixedMs: number;
  /** GB/s of the rest of the load: bytes over the median time less `fixedMs`. */
  readonly streamGBps: number;
}

/** One strategy's measured rate in one cache state, on one target. */
export interface ProjectionBasis {
  /** `mmap/cold`: the key of its times in each row. */
  readonly key: string;
  readonly strategy: string;
  readonly cache: CacheState;
  /** Every size it was measured at, smallest first. */
  readonly points: readonly ProjectionPoint[];
  /** Whether several sizes were measured, so the rate follows their curve. */
  readonly curve: boolean;
}

/** A projected load time. */
export interface ProjectedTime {
  readonly seconds: number;
  /** The rate it assumes for the bytes, decimal GB/s. */
  readonly gbps: number;
  /** The time it adds for what does not grow with the bytes, ms. */
  readonly fixedMs: number;
  /** Whether the size lies beyond the largest measured, where the rate is held flat. */
  readonly extrapolated: boolean;
}

/** One model size on one target. */
export interface ProjectionRow {
  readonly model: ModelSize;
  /** By basis key. */
  readonly times: Readonly<Record<string, ProjectedTime>>;
  /** At the machine's limit for each cache state measured, where the probe measured it. */
  readonly atLimit: Partial<Readonly<Record<CacheState, ProjectedTime>>>;
  /** False when the model is larger than the memory it must fit (see `memory`). */
  readonly fits: boolean;
}

/**
 * Smallest weights a projection is trusted from: below it a load moves its
 * bytes measurably slower than at scale (readahead ramps up, copy threads
 * start), and projections overstate the time. @default 32 MiB
 */
export const MIN_PROJECTION_BYTES = 32 * 1024 ** 2;

/** The projection of one target. */
export interface TargetProjection {
  readonly target: string;
  /** Every strategy and cache state measured on the target, fastest (at the largest size) first. */
  readonly bases: readonly ProjectionBasis[];
  /** The fastest basis of each cache state. */
  readonly fastest: Partial<Readonly<Record<CacheState, ProjectionBasis>>>;
  /** The full-read basis of each cache state, where measured. */
  readonly fullRead: Partial<Readonly<Record<CacheState, ProjectionBasis>>>;
  /** The limit each cache state is set against: `storage (O_DIRECT)` 2.5 GB/s. */
  readonly limits: Partial<Readonly<Record<CacheState, { name: string; gbps: number }>>>;
  /** The memory a model must fit: host memory, or the GPU's. */
  readonly memory: { readonly what: string; readonly bytes: number } | null;
  readonly rows: readonly ProjectionRow[];
  /** The largest size measured on the target, tensor bytes. */
  readonly measuredBytes: number;
  /** Whether that is below {@linkcode MIN_PROJECTION_BYTES}: too small to project from. */
  readonly tooSmall: boolean;
}

/**
 * Projects `models` (by default {@linkcode COMMON_MODELS}) on every target of
 * `profile` that has completed cases.
 */
export function projectLoadTimes(
  profile: Profile,
  models: readonly ModelSize[] = COMMON_MODELS,
): TargetProjection[] {
  const completed = profile.cases.filter((c) => c.state === "completed" && c.stats !== null);
  const targets = [...new Set(completed.map((c) => c.target))];
  return targets.map((target) => projectTarget(profile, target, completed, models));
}

function projectTarget(
  profile: Profile,
  target: string,
  completed: readonly ProfileCase[],
  models: readonly ModelSize[],
): TargetProjection {
  const mine = completed.filter((c) => c.target === target);
  const byKey = new Map<string, { strategy: string; cache: CacheState; cases: ProfileCase[] }>();
  for (const c of mine) {
    const key = `${c.strategyLabel}/${c.cache}`;
    const entry = byKey.get(key) ?? { strategy: c.strategyLabel, cache: c.cache, cases: [] };
    entry.cases.push(c);
    byKey.set(key, entry);
  }
  const bases: ProjectionBasis[] = [...byKey].map(([key, { strategy, cache, cases }]) => {
    const points = pointsOf(cases);
    return { key, strategy, cache, points, curve: points.length > 1 };
  }).sort((a, b) => b.points.at(-1)!.gbps - a.points.at(-1)!.gbps);
  const fastest: Partial<Record<CacheState, ProjectionBasis>> = {};
  const fullRead: Partial<Record<CacheState, ProjectionBasis>> = {};
  for (const b of bases) {
    fastest[b.cache] ??= b;
    if (b.strategy === REFERENCE_STRATEGY) fullRead[b.cache] = b;
  }
  for (const b of bases) {
    if (b.strategy.startsWith(`${REFERENCE_STRATEGY}(`)) fullRead[b.cache] ??= b;
  }
  const limits: Partial<Record<CacheState, { name: string; gbps: number }>> = {};
  for (const c of mine) {
    const of = c.stats!.ofLimit;
    if (of && of.limitGBps > 0) limits[c.cache] ??= { name: of.limit, gbps: of.limitGBps };
  }
  const memory = memoryOf(profile, target);
  const measuredBytes = Math.max(...bases.map((b) => b.points.at(-1)!.bytes));
  const rows = models.map((model): ProjectionRow => {
    const times: Record<string, ProjectedTime> = {};
    for (const b of bases) times[b.key] = projectBytes(b.points, model.bytes);
    const atLimit: Partial<Record<CacheState, ProjectedTime>> = {};
    for (const [cache, limit] of Object.entries(limits) as [CacheState, { gbps: number }][]) {
      atLimit[cache] = {
        seconds: model.bytes / (limit.gbps * 1e9),
        gbps: limit.gbps,
        fixedMs: 0,
        extrapolated: false,
      };
    }
    return { model, times, atLimit, fits: memory === null || model.bytes <= memory.bytes };
  });
  return {
    target,
    bases,
    fastest,
    fullRead,
    limits,
    memory,
    rows,
    measuredBytes,
    tooSmall: measuredBytes < MIN_PROJECTION_BYTES,
  };
}

/** One point per size measured; cases of equal size share their median figures. */
function pointsOf(cases: readonly ProfileCase[]): ProjectionPoint[] {
  const bySize = new Map<number, ProjectionPoint[]>();
  for (const c of cases) {
    const point = pointOf(c);
    if (point === null) continue;
    const list = bySize.get(point.bytes) ?? [];
    list.push(point);
    bySize.set(point.bytes, list);
  }
  return [...bySize].map(([bytes, points]) => ({
    bytes,
    gbps: median(points.map((p) => p.gbps)),
    fixedMs: median(points.map((p) => p.fixedMs)),
    streamGBps: median(points.map((p) => p.streamGBps)),
  })).sort((a, b) => a.bytes - b.bytes);
}

/**
 * The figures of one completed case, or null when it moved no bytes: at its
 * median load time (what reports project from), or at its fastest sample
 * (`min`: the least disturbed by anything else the machine was doing, for
 * checking the projection's model on a busy machine).
 */
export function pointOf(
  c: ProfileCase,
  statistic: "median" | "min" = "median",
): ProjectionPoint | null {
  const stats = c.stats;
  const bytes = c.samples.find((s) => !s.warmup)?.bytes ?? 0;
  if (stats === null || !(bytes > 0) || !(stats.durationMs[statistic] > 0)) return null;
  const total = stats.durationMs[statistic];
  const phases = FIXED_PHASES.reduce(
    (sum, phase) => sum + (stats.phases[phase]?.[statistic] ?? 0),
    0,
  );
  // Never more than half the load: the rest must be moving bytes.
  const fixedMs = Math.min(phases, total / 2);
  return {
    bytes,
    gbps: bytes / (total * 1e6),
    fixedMs,
    streamGBps: bytes / ((total - fixedMs) * 1e6),
  };
}

/** The phases whose time does not grow with the bytes: opening files and parsing their headers. */
export const FIXED_PHASES = ["open", "parse"] as const;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return (sorted[(n - 1) >> 1]! + sorted[n >> 1]!) / 2;
}

/**
 * The time to load `bytes` at the rate `points` give: the fixed costs of the
 * nearest size measured, plus the bytes at its rate; several points are a
 * curve, interpolated in log(bytes) and held flat outside the sizes measured.
 */
export function projectBytes(points: readonly ProjectionPoint[], bytes: number): ProjectedTime {
  const last = points.at(-1)!;
  const first = points[0]!;
  let rate: number;
  let fixedMs: number;
  if (bytes >= last.bytes) [rate, fixedMs] = [last.streamGBps, last.fixedMs];
  else if (bytes <= first.bytes) [rate, fixedMs] = [first.streamGBps, first.fixedMs];
  else {
    const i = points.findIndex((p) => p.bytes >= bytes);
    const lo = points[i - 1]!;
    const hi = points[i]!;
    const t = (Math.log(bytes) - Math.log(lo.bytes)) / (Math.log(hi.bytes) - Math.log(lo.bytes));
    rate = lo.streamGBps + t * (hi.streamGBps - lo.streamGBps);
    fixedMs = lo.fixedMs + t * (hi.fixedMs - lo.fixedMs);
  }
  return {
    seconds: fixedMs / 1000 + bytes / (rate * 1e9),
    gbps: rate,
    fixedMs,
    extrapolated: bytes > last.bytes,
  };
}

/** The memory a model on `target` must fit: the GPU's for `cuda:N`, else the host's. */
function memoryOf(profile: Profile, target: string): TargetProjection["memory"] {
  const cuda = /^cuda:(\d+)$/.exec(target);
  if (cuda) {
    const gpu = profile.environment.gpus?.find((g) => g.index === Number(cuda[1]));
    return gpu?.memoryTotalBytes ? { what: `${target} memory`, bytes: gpu.memoryTotalBytes } : null;
  }
  const bytes = profile.environment.memoryBytes;
  return bytes > 0 ? { what: "host memory", bytes } : null;
}
