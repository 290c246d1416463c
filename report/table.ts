/**
 * The terminal tables of a profile, pure functions of it. The default table
 * fits 100 columns: per case the median load time with the half-width of its
 * 95% interval, throughput, its share of the machine's limit, and one status
 * column (verified, cache state measured, notes). The wide table (`--format
 * wide`) adds the spread, where the time went and peak memory. A statistic
 * that needs more samples than a case has says so ("1 sample", "n too small
 * for a CI") rather than showing a spread that was never measured.
 *
 * Colour is decided by the caller and passed in; the table library is never
 * asked to colour anything (it would read the environment to decide).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration, formatVerified } from "./table.ts";
 *
 * assert.equal(formatDuration(0.4213), "0.421 ms");
 * assert.equal(formatDuration(412.34), "412.3 ms");
 * assert.equal(formatDuration(1234.5), "1.234 s");
 * assert.equal(formatVerified({ samples: 5, mode: "all" }), "✓ 5");
 * assert.equal(formatVerified({ samples: 5, mode: "sampled" }), "✓ 5 sampled");
 * assert.equal(formatMedianCi(531, { low: 500, high: 560 }, 5), "531.0 ms ± 30.0 ms");
 * assert.equal(formatMedianCi(531, { low: 531, high: 531 }, 1), "531.0 ms (1 sample)");
 * ```
 *
 * @module
 */

import Table from "cli-table3";
import type { CaseStats, Profile, ProfileCase, Sample } from "../profiles/schema.ts";
import { PHASES } from "../bench/core/recorder.ts";
import { NOISY_CV } from "../bench/stats/summary.ts";
import { formatBytes } from "../bench/util/size.ts";
import { MIN_SAMPLES_FOR_CI, MIN_SAMPLES_FOR_IQR } from "../bench/compare/verdict.ts";
import { partialRunText } from "../profiles/partial.ts";
import { wrapText } from "./_wrap.ts";

/** How the table is drawn. */
export interface TableOptions {
  /** Colour the header and the flags. @default false */
  readonly color?: boolean;
  /** The wide table: spread, phases and peak memory too (wider than 100 columns). @default false */
  readonly wide?: boolean;
}

/** The columns the default table fits in. @default 100 */
export const TABLE_WIDTH = 100;

/** The default table's columns and their widths (padding included; with the borders, 100). */
const COLUMNS = [
  ["case", 28],
  ["median ± 95% CI", 22],
  ["GB/s", 7],
  ["of limit", 10],
  ["status", 27],
] as const;

const WIDE_HEAD = [
  "case",
  "median",
  "IQR",
  "GB/s",
  "of limit",
  "phases (median ms)",
  "peak RSS",
  "verified",
  "cache",
  "notes",
];

/**
 * One line naming what every case shares: the weights and the target, when
 * there is one of each; then, for a run that did not finish, a line saying so;
 * then the machine's limits. Every line fits {@linkcode TABLE_WIDTH} columns.
 */
export function renderHeading(profile: Profile): string {
  const { context, limits } = headingLines(profile);
  return [...context, ...limits].join("\n");
}

/**
 * The heading in two parts, each wrapped to {@linkcode TABLE_WIDTH}: what was
 * measured (and whether the run finished), and the limits the table rates
 * cases against.
 */
export function headingLines(profile: Profile): { context: string[]; limits: string[] } {
  const targets = [...new Set(profile.cases.map((c) => c.target))];
  const parts = [`${profile.scenario.name}`];
  if (profile.weights.length === 1) {
    const w = profile.weights[0]!;
    parts.push(
      `${w.label}: ${w.tensorCount} tensors, ${
        formatBytes(w.tensorBytes)
      } in ${w.files.length} ${w.format} file${w.files.length === 1 ? "" : "s"}`,
    );
  }
  if (targets.length === 1) parts.push(`target ${targets[0]}`);
  const partial = partialRunText(profile);
  const wrap = (line: string) => wrapText(line, TABLE_WIDTH, 2);
  return {
    context: [parts.join(" · "), ...(partial === null ? [] : [partial])].flatMap(wrap),
    limits: wrap(renderLimits(profile)),
  };
}

/** One line of the machine's limits the cases are rated against, or how to measure them. */
export function renderLimits(profile: Profile): string {
  const limits = profile.limits;
  if (!limits) {
    return "limits: not measured (deno task probe --path DIR rates results against this machine)";
  }
  const { spread, method } = limits.storage;
  const range = (r: { min: number; max: number } | null | undefined) =>
    r && r.min < r.max ? `, ${r.min.toFixed(2)}–${r.max.toFixed(2)}` : "";
  const cold = limits.storage.cold
    ? `storage ${limits.storage.cold.gbps.toFixed(2)} GB/s (O_DIRECT, ${
      formatBytes(limits.storage.cold.blockSize)
    } × ${limits.storage.cold.depth}${range(spread?.cold)})`
    : "storage: O_DIRECT refused";
  const how = method === undefined
    ? ""
    : `, reading ${method.source === "probe file" ? "a probe file" : "the weights"} of ${
      formatBytes(method.bytes)
    }`;
  return `limits: ${cold}, page cache ${limits.storage.warm.gbps.toFixed(2)} GB/s${
    spread ? ` (${range(spread.warm).slice(2) || "steady"})` : ""
  }, memory copy ${limits.memoryCopyGBps.toFixed(1)} GB/s (measured ${
    limits.measuredAt.slice(0, 10)
  }${how})`;
}

/**
 * The table of every case in `profile`, as a string: {@linkcode TABLE_WIDTH}
 * columns wide by default, every column with `wide`.
 */
export function renderTable(profile: Profile, options: TableOptions = {}): string {
  const color = options.color ?? false;
  const wide = options.wide ?? false;
  const head = wide ? WIDE_HEAD : COLUMNS.map(([name]) => name);
  const table = new Table({
    head: head.map((name) => paint(name, "cyan", color)),
    // Colour comes from `paint`, never from the library: it would consult the environment.
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: wide
      ? [null, null, null, null, null, 34, null, null, null, 22]
      : COLUMNS.map(([, width]) => width),
  });
  // Name only what varies between cases; the line above the table names the rest.
  const varies = (key: (c: ProfileCase) => string) => new Set(profile.cases.map(key)).size > 1;
  const showWeights = varies((c) => c.weights);
  const showTarget = varies((c) => c.target);
  for (const c of profile.cases) {
    const label = [
      showWeights ? c.weights : undefined,
      c.strategyLabel,
      showTarget ? c.target : undefined,
      c.cache,
    ]
      .filter((part) => part !== undefined).join(" · ");
    if (c.state !== "completed" || c.stats === null) {
      table.push(unmeasuredRow(label, c, head.length, color));
    } else if (wide) {
      table.push(wideRow(label, c, c.stats, color));
    } else {
      table.push(row(label, c, c.stats, color));
    }
  }
  return table.toString();
}

/** An errored or skipped case: its label and why, across the other columns. */
function unmeasuredRow(
  label: string,
  c: ProfileCase,
  columns: number,
  color: boolean,
): Table.Cell[] {
  const text = c.state === "errored"
    ? `errored: ${c.error ?? "unknown error"}`
    : c.state === "skipped"
    ? `skipped: ${c.reason ?? "no reason given"}`
    : "no timed samples";
  return [fitCell(label, COLUMNS[0][1] - 2), {
    colSpan: columns - 1,
    content: paint(text, c.state === "errored" ? "red" : "yellow", color),
  }];
}

/** A share of the limit above this says the limit was measured low, not that the case beat it. @default 1.05 */
export const LIMIT_SLACK = 1.05;
/** What a case above its limit says instead of a share over 100%. */
export const ABOVE_LIMIT_NOTE =
  "exceeds the measured limit: limit probably low (deno task probe measures again)";

/** `78%` of the limit, `> limit` above it (never `130%`), `—` without one. */
export function formatOfLimit(ofLimit: { readonly fraction: number } | null | undefined): string {
  if (!ofLimit) return "—";
  return ofLimit.fraction > LIMIT_SLACK ? "> limit" : `${Math.round(ofLimit.fraction * 100)}%`;
}

/** A case of the default table: median ± CI, GB/s, share of limit, and one status cell. */
function row(label: string, c: ProfileCase, s: CaseStats, color: boolean): Table.Cell[] {
  const d = s.durationMs;
  const status = [
    paint(formatVerified(s.verified), "green", color),
    residencyText(c, s),
    ...notesOf(c, s, color),
  ].join(" · ");
  return [
    fitCell(label, COLUMNS[0][1] - 2),
    formatMedianCi(d.median, d.ci, s.samples),
    s.throughputGBps.median.toFixed(2),
    formatOfLimit(s.ofLimit),
    status,
  ];
}

/** A case of the wide table: every column. */
function wideRow(label: string, c: ProfileCase, s: CaseStats, color: boolean): Table.Cell[] {
  const d = s.durationMs;
  const phases = PHASES.filter((p) => s.phases[p] !== undefined)
    .map((p) => `${p} ${formatMs(s.phases[p]!.median)}`).join(" · ");
  return [
    label,
    formatDuration(d.median),
    formatIqr(d.iqr, s.samples),
    s.throughputGBps.median.toFixed(2),
    s.ofLimit ? `${formatOfLimit(s.ofLimit)}\n${s.ofLimit.limit}` : "—",
    phases,
    s.peakRssBytes === null
      ? "unknown"
      : `${formatBytes(s.peakRssBytes.max)}${
        s.loadRssBytes ? `\n+${formatBytes(s.loadRssBytes.max)} in load` : ""
      }`,
    paint(formatVerified(s.verified), "green", color),
    residencyText(c, s),
    notesOf(c, s, color).join("; "),
  ];
}

/** `cold 0.0%`: the page-cache residency measured, the worst for the case's state. */
function residencyText(c: ProfileCase, s: CaseStats): string {
  const residency = c.cache === "cold"
    ? s.cache.residentFraction.max
    : s.cache.residentFraction.min;
  return `${c.cache} ${(residency * 100).toFixed(residency > 0 && residency < 0.001 ? 2 : 1)}%`;
}

/** What the reader should know about a case: the strategy's own facts, noise, outliers, cache. */
function notesOf(c: ProfileCase, s: CaseStats, color: boolean): string[] {
  const d = s.durationMs;
  const notes: string[] = strategyNotes(c.samples.filter((sample) => !sample.warmup).at(-1));
  const waited = waitNote(c.samples.filter((sample) => !sample.warmup));
  if (waited !== undefined) notes.push(waited);
  if (s.ofLimit && s.ofLimit.fraction > LIMIT_SLACK) {
    notes.push(paint(ABOVE_LIMIT_NOTE, "yellow", color));
  }
  if (d.noisy) {
    notes.push(
      paint(`noisy (CV ${(d.cv * 100).toFixed(0)}% > ${NOISY_CV * 100}%)`, "yellow", color),
    );
  }
  if (d.outliers.length > 0) {
    notes.push(`${d.outliers.length} outlier${d.outliers.length === 1 ? "" : "s"}`);
  }
  if (s.cache.established < s.samples) {
    notes.push(
      paint(
        `${c.cache} not established in ${s.samples - s.cache.established}/${s.samples}`,
        "red",
        color,
      ),
    );
  }
  return notes;
}

/** A cell's text with every word longer than `width` broken, so the table never cuts it. */
function fitCell(text: string, width: number): string {
  return wrapText(text, width).join("\n");
}

/**
 * The median with the half-width of its 95% interval, `531.0 ms ± 30.0 ms`;
 * with fewer samples than an interval needs, `531.0 ms (1 sample)` or
 * `531.0 ms (n too small for a CI)`.
 */
export function formatMedianCi(
  median: number,
  ci: { readonly low: number; readonly high: number },
  samples: number,
): string {
  const spread = spreadNote(samples);
  if (spread !== null) return `${formatDuration(median)} (${spread})`;
  return `${formatDuration(median)} ± ${formatDuration((ci.high - ci.low) / 2)}`;
}

/** `1 sample`, `n too small for a CI`, or null when `samples` are enough for an interval. */
export function spreadNote(samples: number): string | null {
  if (samples < MIN_SAMPLES_FOR_IQR) return `${samples} sample${samples === 1 ? "" : "s"}`;
  if (samples < MIN_SAMPLES_FOR_CI) return "n too small for a CI";
  return null;
}

/** The interquartile range, or `1 sample` where there is no spread to measure. */
export function formatIqr(iqr: number, samples: number): string {
  return samples < MIN_SAMPLES_FOR_IQR ? spreadNote(samples)! : formatDuration(iqr);
}

/** What a strategy reported about its last load that the columns do not show. */
function strategyNotes(sample: Sample | undefined): string[] {
  if (!sample) return [];
  const notes: string[] = [];
  const sources = sample.bytesBySource;
  if (sources) {
    notes.push(
      Object.entries(sources).map(([tier, bytes]) => `${formatBytes(bytes)} from ${tier}`).join(
        ", ",
      ),
    );
  }
  const details = sample.details ?? {};
  if (typeof details.path === "string") notes.push(`dequantized on ${details.path}`);
  if (typeof details.cufileMode === "string") notes.push(`cuFile ${details.cufileMode}`);
  if (
    typeof details.effectiveReaders === "number" && details.effectiveReaders !== details.readers
  ) {
    notes.push(`${details.effectiveReaders} readers had work`);
  }
  return notes;
}

/** `waited for another run in 1/5 samples (1.350 s, not in the load time)`, or undefined. */
function waitNote(timed: readonly Sample[]): string | undefined {
  const waits = timed.map((s) =>
    s.spans.reduce((ms, span) => (span.phase === "wait" ? ms + span.end - span.start : ms), 0)
  ).filter((ms) => ms > 0);
  if (waits.length === 0) return undefined;
  return `waited for another run in ${waits.length}/${timed.length} samples (${
    formatDuration(Math.max(...waits))
  } at most, not in the load time)`;
}

/**
 * How a case's timed samples were checked: `✓ 5` when every byte was hashed,
 * `✓ 5 sampled` for placements and sampled windows, `✓ 5 mixed` for both. A
 * sample whose check fails errors its case, so every count here passed.
 */
export function formatVerified(verified: CaseStats["verified"]): string {
  return `✓ ${verified.samples}${verified.mode === "all" ? "" : ` ${verified.mode}`}`;
}

/** Milliseconds as a short duration: `0.421 ms`, `412.3 ms`, `1.234 s`. */
export function formatDuration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(3)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(3)} ms`;
}

function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 1) return ms.toFixed(1);
  return ms.toFixed(2);
}

const COLORS = { red: 31, green: 32, yellow: 33, cyan: 36 } as const;

function paint(text: string, name: keyof typeof COLORS, color: boolean): string {
  return color ? `\x1b[${COLORS[name]}m${text}\x1b[39m` : text;
}
