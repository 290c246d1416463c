/**
 * The terminal table of a profile: per case the median load time, its
 * spread, throughput, where the time went, peak memory, verification and the
 * cache state actually measured. A pure function of the profile.
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
 * ```
 *
 * @module
 */

import Table from "cli-table3";
import type { CaseStats, Profile, ProfileCase, Sample } from "../profiles/schema.ts";
import { PHASES } from "../bench/core/recorder.ts";
import { NOISY_CV } from "../bench/stats/summary.ts";
import { formatBytes } from "../bench/util/size.ts";
import { partialRunText } from "./_partial.ts";

/** How the table is drawn. */
export interface TableOptions {
  /** Colour the header and the flags. @default false */
  readonly color?: boolean;
}

const HEAD = [
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
 * then the machine's limits.
 */
export function renderHeading(profile: Profile): string {
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
  return [parts.join(" · "), ...(partial === null ? [] : [partial]), renderLimits(profile)].join(
    "\n",
  );
}

/** One line of the machine's limits the cases are rated against, or how to measure them. */
export function renderLimits(profile: Profile): string {
  const limits = profile.limits;
  if (!limits) {
    return "limits: not measured (deno task probe --path DIR rates results against this machine)";
  }
  const cold = limits.storage.cold
    ? `storage ${limits.storage.cold.gbps.toFixed(2)} GB/s (O_DIRECT, ${
      formatBytes(limits.storage.cold.blockSize)
    } × ${limits.storage.cold.depth})`
    : "storage: O_DIRECT refused";
  return `limits: ${cold}, page cache ${limits.storage.warm.gbps.toFixed(2)} GB/s, memory copy ${
    limits.memoryCopyGBps.toFixed(1)
  } GB/s (measured ${limits.measuredAt.slice(0, 10)})`;
}

/** The table of every case in `profile`, as a string. */
export function renderTable(profile: Profile, options: TableOptions = {}): string {
  const color = options.color ?? false;
  const table = new Table({
    head: HEAD,
    style: color ? { head: ["cyan"], border: ["grey"] } : { head: [], border: [] },
    wordWrap: true,
    colWidths: [null, null, null, null, null, 34, null, null, null, 22],
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
    table.push(row(label, c, color));
  }
  return table.toString();
}

function row(label: string, c: ProfileCase, color: boolean): Table.Cell[] {
  if (c.state !== "completed" || c.stats === null) {
    const text = c.state === "errored"
      ? `errored: ${c.error ?? "unknown error"}`
      : c.state === "skipped"
      ? `skipped: ${c.reason ?? "no reason given"}`
      : "no timed samples";
    return [label, {
      colSpan: HEAD.length - 1,
      content: paint(text, c.state === "errored" ? "red" : "yellow", color),
    }];
  }
  const s = c.stats;
  const d = s.durationMs;
  const phases = PHASES.filter((p) => s.phases[p] !== undefined)
    .map((p) => `${p} ${formatMs(s.phases[p]!.median)}`).join(" · ");
  const notes: string[] = strategyNotes(c.samples.filter((sample) => !sample.warmup).at(-1));
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
  const verified = paint(formatVerified(s.verified), "green", color);
  const residency = c.cache === "cold"
    ? s.cache.residentFraction.max
    : s.cache.residentFraction.min;
  return [
    label,
    formatDuration(d.median),
    formatDuration(d.iqr),
    s.throughputGBps.median.toFixed(2),
    s.ofLimit ? `${Math.round(s.ofLimit.fraction * 100)}%\n${s.ofLimit.limit}` : "—",
    phases,
    s.peakRssBytes === null
      ? "unknown"
      : `${formatBytes(s.peakRssBytes.max)}${
        s.loadRssBytes ? `\n+${formatBytes(s.loadRssBytes.max)} in load` : ""
      }`,
    verified,
    `${c.cache} ${(residency * 100).toFixed(residency > 0 && residency < 0.001 ? 2 : 1)}%`,
    notes.join("; "),
  ];
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

const COLORS = { red: 31, green: 32, yellow: 33 } as const;

function paint(text: string, name: keyof typeof COLORS, color: boolean): string {
  return color ? `\x1b[${COLORS[name]}m${text}\x1b[39m` : text;
}
