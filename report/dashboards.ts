/**
 * A profile's numbers in the formats existing benchmark dashboards take:
 *
 * - **Bencher Metric Format** (`--format bmf`, https://bencher.dev/docs/reference/bencher-metric-format/):
 *   `{ "<case id>": { "latency": { value, lower_value, upper_value },
 *   "throughput-gbps": { … } } }`. `latency` is Bencher's built-in measure, in
 *   nanoseconds: the median load time and its 95% interval. Bencher's built-in
 *   `throughput` is operations per second, so GB/s goes to a measure of its
 *   own, `throughput-gbps` (Bencher creates it on first upload), with the GB/s
 *   at the median and at the interval's ends. Only completed cases.
 * - **github-action-benchmark** (`--format gab`, tool `customSmallerIsBetter`):
 *   `[{ name, unit: "ms", value, range, extra }]`, the median load time of
 *   each completed case in ms; `range` is the 95% interval as text, `extra`
 *   says GB/s, samples, verification and flags (shown in the tooltip).
 *
 * - **CSV** (`--format csv`, as `hyperfine --export-csv` users expect): one
 *   row per case, every state, RFC 4180 quoting; times in ms:
 *   `case,weights,strategy,target,cache,state,samples,median_ms,ci_low_ms,
 *   ci_high_ms,q1_ms,q3_ms,min_ms,max_ms,cv,gbps,of_limit,limit,verified,message`.
 *
 * Benchmark names are the case ids (`weights/strategy/target/cache`), the
 * key that matches cases between runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 * import { renderBmf, renderGab } from "./dashboards.ts";
 *
 * const report = buildReport([{ profile: syntheticProfile() }]);
 * const bmf = JSON.parse(renderBmf(report.profiles[0]!));
 * const id = "llama-3-8b-512MiB-F16-2shards/full-read/host/cold";
 * assert.ok(bmf[id].latency.value > 3e8); // about 400 ms, in ns
 * const gab = JSON.parse(renderGab(report.profiles[0]!));
 * assert.equal(gab[0].unit, "ms");
 * ```
 *
 * @module
 */

import * as f from "./_format.ts";
import type { ProfileView } from "./model.ts";
import { MIN_SAMPLES_FOR_CI } from "../bench/compare/verdict.ts";

/** One measure of Bencher Metric Format. */
export interface BmfMetric {
  readonly value: number;
  readonly lower_value?: number;
  readonly upper_value?: number;
}

/** One entry of github-action-benchmark's custom JSON. */
export interface GabEntry {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly range?: string;
  readonly extra?: string;
}

/** Bencher Metric Format JSON of one profile, indented, with a final newline. */
export function renderBmf(profile: ProfileView): string {
  const result: Record<string, Record<string, BmfMetric>> = {};
  for (const c of profile.cases) {
    const s = c.stats;
    if (s === null) continue;
    const measures: Record<string, BmfMetric> = {
      latency: metric(s.median * 1e6, s.ci.low * 1e6, s.ci.high * 1e6, s.samples),
      "throughput-gbps": metric(s.gbps.median, s.gbps.low, s.gbps.high, s.samples),
    };
    result[c.id] = measures;
  }
  return `${JSON.stringify(result, null, 2)}\n`;
}

/** A value with its interval's ends, left out where the samples are too few for an interval. */
function metric(value: number, low: number, high: number, samples: number): BmfMetric {
  const round = (x: number) => Number(x.toPrecision(9));
  if (samples < MIN_SAMPLES_FOR_CI) return { value: round(value) };
  return { value: round(value), lower_value: round(low), upper_value: round(high) };
}

/** github-action-benchmark `customSmallerIsBetter` JSON of one profile. */
export function renderGab(profile: ProfileView): string {
  const entries: GabEntry[] = [];
  for (const c of profile.cases) {
    const s = c.stats;
    if (s === null) continue;
    const extra = [
      `${f.gbps(s.gbps.median)} GB/s`,
      s.ofLimit ? `${f.percent(s.ofLimit.fraction)} of ${s.ofLimit.limit}` : null,
      `${s.samples} samples`,
      `verified ${f.verified(s.verified)}`,
      ...c.flags,
    ].filter((x) => x !== null).join("\n");
    const name = c.id;
    const value = Number(s.median.toPrecision(9));
    const range = s.samples < MIN_SAMPLES_FOR_CI ? undefined : `95% CI ${f.ci(s.ci, s.samples)}`;
    entries.push({ name, unit: "ms", value, ...(range === undefined ? {} : { range }), extra });
  }
  return `${JSON.stringify(entries, null, 2)}\n`;
}

/** The columns of {@link renderCsv}, in order. */
export const CSV_COLUMNS = [
  "case",
  "weights",
  "strategy",
  "target",
  "cache",
  "state",
  "samples",
  "median_ms",
  "ci_low_ms",
  "ci_high_ms",
  "q1_ms",
  "q3_ms",
  "min_ms",
  "max_ms",
  "cv",
  "gbps",
  "of_limit",
  "limit",
  "verified",
  "message",
] as const;

/** One profile as CSV: a header row and a row per case; empty cells where nothing was measured. */
export function renderCsv(profile: ProfileView): string {
  const number = (x: number | null | undefined) =>
    x === null || x === undefined ? "" : String(Number(x.toPrecision(9)));
  const rows = profile.cases.map((c) => {
    const s = c.stats;
    const interval = s !== null && s.samples >= MIN_SAMPLES_FOR_CI;
    return [
      c.id,
      c.weights,
      c.strategy,
      c.target,
      c.cache,
      c.state,
      s === null ? "" : String(s.samples),
      number(s?.median),
      interval ? number(s!.ci.low) : "",
      interval ? number(s!.ci.high) : "",
      number(s?.q1),
      number(s?.q3),
      number(s?.min),
      number(s?.max),
      number(s?.cv),
      number(s?.gbps.median),
      number(s?.ofLimit?.fraction),
      s?.ofLimit?.limit ?? "",
      s === null ? "" : f.verified(s.verified),
      c.message ?? c.flags.join("; "),
    ];
  });
  return [CSV_COLUMNS, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** A field quoted as RFC 4180 asks when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
