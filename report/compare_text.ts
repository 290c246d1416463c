/**
 * A comparison as text: a terminal table, GitHub-flavoured markdown (for a
 * pull request comment or a job summary), or JSON. Pure functions of a
 * {@linkcode ProfileComparison}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatChange } from "./compare_text.ts";
 *
 * assert.equal(formatChange(1.1034), "+10.3%");
 * assert.equal(formatChange(0.95), "−5.0%");
 * assert.equal(formatChange(1), "±0.0%");
 * ```
 *
 * @module
 */

import Table from "cli-table3";
import { formatDuration } from "./table.ts";
import type {
  CaseComparison,
  CaseSide,
  ProfileComparison,
} from "../bench/compare/compare_profiles.ts";
import { formatP } from "../bench/compare/significance.ts";

/** The formats `compare --format` accepts. */
export const FORMATS = ["table", "markdown", "json"] as const;
/** One of {@linkcode FORMATS}. */
export type Format = typeof FORMATS[number];

/** A ratio as a signed percentage change: `+10.3%`, `−5.0%`. */
export function formatChange(ratio: number): string {
  const pct = (ratio - 1) * 100;
  if (Math.abs(pct) < 0.05) return "±0.0%";
  return `${pct > 0 ? "+" : "−"}${Math.abs(pct).toFixed(1)}%`;
}

/** The comparison as the chosen format. */
export function renderComparison(
  comparison: ProfileComparison,
  format: Format,
  options: { color?: boolean } = {},
): string {
  if (format === "json") return `${JSON.stringify(comparison, null, 2)}\n`;
  if (format === "markdown") return renderComparisonMarkdown(comparison);
  return renderComparisonTable(comparison, options);
}

/**
 * Headline, warnings, then one row per case: both medians, the change, its
 * interval, p, verdict. Time changes read up = slower; efficiency changes
 * read up = better.
 */
export function renderComparisonTable(
  comparison: ProfileComparison,
  options: { color?: boolean } = {},
): string {
  const color = options.color ?? false;
  const lines = [headline(comparison)];
  for (const warning of comparison.warnings) {
    lines.push(paint(`warning: ${warning}`, "yellow", color));
  }
  for (const note of comparison.notes) lines.push(`note: ${note}`);
  const table = new Table({
    head: ["case", "baseline", "current", "change", `${ciPercent(comparison)} CI`, "p", "verdict"],
    style: color ? { head: ["cyan"], border: ["grey"] } : { head: [], border: [] },
    wordWrap: true,
    colWidths: [null, null, null, null, null, null, 36],
  });
  for (const c of comparison.cases) {
    const r = c.result;
    table.push([
      c.id,
      sideText(c, c.baseline),
      sideText(c, c.current),
      changeText(c),
      ciText(c),
      r ? formatP(r.pValue).replace("= ", "") : "",
      paint(
        `${c.status}${c.reason ? `: ${c.reason}` : ""}`,
        c.fails ? "red" : COLOR_OF[c.status],
        color,
      ),
    ]);
  }
  lines.push(table.toString(), summaryLine(comparison));
  return `${lines.join("\n")}\n`;
}

/** Markdown: a headline, warnings as a quote, the table, then the verdict counts. */
export function renderComparisonMarkdown(comparison: ProfileComparison): string {
  const lines = [
    `### ${
      comparison.exitCode === 0
        ? "No regression"
        : comparison.counts.regression > 0
        ? "Regression"
        : "Failed"
    }: ${escape(summaryLine(comparison))}`,
    "",
    escape(headline(comparison)),
    "",
  ];
  for (const warning of comparison.warnings) lines.push(`> **Warning:** ${escape(warning)}`, "");
  if (comparison.notes.length > 0) {
    lines.push(`Notes: ${comparison.notes.map(escape).join("; ")}`, "");
  }
  lines.push(
    `| case | baseline | current | change | ${ciPercent(comparison)} CI | p | verdict |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const c of comparison.cases) {
    const r = c.result;
    const status = c.fails ? `**${c.status}**` : c.status;
    lines.push(
      `| ${
        [
          `\`${c.id}\``,
          escape(sideText(c, c.baseline)),
          escape(sideText(c, c.current)),
          changeText(c),
          ciText(c),
          r ? escape(formatP(r.pValue).replace("= ", "")) : "",
          `${status}${c.reason ? `: ${escape(c.reason)}` : ""}`,
        ].join(" | ")
      } |`,
    );
  }
  lines.push(
    "",
    `A regression needs a two-sided Mann-Whitney U p-value below ${comparison.alpha}, ` +
      `a median ${comparison.by === "efficiency" ? "efficiency" : "time"} change beyond ` +
      `${(comparison.threshold * 100).toFixed(1)}%, and a bootstrap interval that agrees.` +
      (comparison.cases.some((c) => c.by === "efficiency")
        ? " By efficiency, a change is of the fraction of each machine's own limit: up is better."
        : ""),
  );
  return `${lines.join("\n")}\n`;
}

/**
 * The change a reader expects: of the load time (up is slower), or, for a row
 * compared by efficiency, of the fraction of the machine's limit (up is better).
 */
function changeText(c: CaseComparison): string {
  if (!c.result) return "";
  return formatChange(c.by === "efficiency" ? 1 / c.result.ratio : c.result.ratio);
}

function ciText(c: CaseComparison): string {
  if (!c.result) return "";
  const { low, high } = c.result.ci;
  return c.by === "efficiency"
    ? `${formatChange(1 / high)} … ${formatChange(1 / low)}`
    : `${formatChange(low)} … ${formatChange(high)}`;
}

function headline(c: ProfileComparison): string {
  const describe = (ref: ProfileComparison["baseline"]) =>
    `${ref.path ?? ref.id} (${ref.host}, ${ref.createdAt.slice(0, 16).replace("T", " ")}${
      ref.commit ? `, ${ref.commit.slice(0, 10)}${ref.dirty ? "+dirty" : ""}` : ""
    })`;
  return `baseline ${describe(c.baseline)} → current ${describe(c.current)}; by ${c.by}, ` +
    `threshold ${(c.threshold * 100).toFixed(1)}%, alpha ${c.alpha}`;
}

function summaryLine(c: ProfileComparison): string {
  const parts = Object.entries(c.counts).filter(([, n]) => n > 0).map(([status, n]) =>
    `${n} ${status}`
  );
  const failing = c.cases.filter((row) => row.fails).length;
  return `${c.cases.length} case${c.cases.length === 1 ? "" : "s"}: ${parts.join(", ") || "none"}${
    failing > 0 ? `; ${failing} fail${failing === 1 ? "s" : ""} the gate` : ""
  }`;
}

function ciPercent(c: ProfileComparison): string {
  const level = c.cases.find((row) => row.result)?.result?.ci.level ?? 0.95;
  return `${Math.round(level * 100)}%`;
}

function sideText(c: CaseComparison, s: CaseSide | null): string {
  if (s === null) return "—";
  const on = s.node === undefined ? "" : ` on ${s.node}`;
  if (s.state !== "completed") return `${s.state}${on}`;
  if (c.by === "efficiency" && s.ofLimit !== null) {
    return `${(s.ofLimit * 100).toFixed(1)}% of limit${on}`;
  }
  return s.medianMs === null
    ? `no samples${on}`
    : `${formatDuration(s.medianMs)} (n=${s.samples})${on}`;
}

function escape(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

const COLOR_OF = {
  regression: "red",
  errored: "red",
  improvement: "green",
  unchanged: "none",
  inconclusive: "yellow",
  missing: "yellow",
  new: "none",
  skipped: "yellow",
} as const;

const COLORS = { red: 31, green: 32, yellow: 33, none: 0 } as const;

function paint(text: string, name: keyof typeof COLORS, color: boolean): string {
  return color && name !== "none" ? `\x1b[${COLORS[name]}m${text}\x1b[39m` : text;
}
