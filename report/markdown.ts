/**
 * A markdown summary of a report, for CI step summaries (`$GITHUB_STEP_SUMMARY`)
 * and pull-request comments: one table of every case for one profile; for
 * several, each case against the first profile with the ratio of medians,
 * its interval, p-value and verdict, and the cases that could not be compared.
 *
 * Text from profiles is escaped so it cannot break a table or inject HTML,
 * links or emphasis.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 * import { renderMarkdown } from "./markdown.ts";
 *
 * const md = renderMarkdown(buildReport([{ profile: syntheticProfile() }]));
 * assert.ok(md.startsWith("## weightbench: synthetic"));
 * assert.ok(md.includes("| full-read · cold |"));
 * ```
 *
 * @module
 */

import * as f from "./_format.ts";
import { type CaseView, type ProfileView, type Report, verdictText } from "./model.ts";
import { adviceLines, hasAnswer, projectionTable, verdictLines } from "./answer.ts";

/** Escapes text for a markdown table cell: no pipes, no HTML, no markup, one line. */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/([\\`*_[\]|~])/g, "\\$1");
}

const e = escapeMarkdown;

/** The report as markdown. */
export function renderMarkdown(report: Report): string {
  const lines: string[] = [];
  if (report.profiles.length === 1) {
    const p = report.profiles[0]!;
    lines.push(`## weightbench: ${e(p.scenario)}`, "", context(p), "");
    if (p.partial !== null) lines.push(`> **${e(p.partial)}**`, "");
    lines.push(...answer(p), ...summary(p));
  } else {
    lines.push(`## weightbench: ${report.profiles.length} profiles compared`, "");
    report.profiles.forEach((p, i) => {
      lines.push(`${i + 1}. ${i === 0 ? "**baseline** " : ""}${context(p)}`);
    });
    lines.push("");
    report.profiles.forEach((p, i) => {
      if (p.partial !== null) lines.push(`> **${e(p.partial)}** (profile ${i + 1})`, "");
    });
    const comparison = report.comparison!;
    if (comparison.unrelated !== null) lines.push(`> ${e(comparison.unrelated)}`, "");
    if (comparison.rows.length > 0) {
      const counts = new Map<string, number>();
      for (const row of comparison.rows) {
        for (const cell of row.cells) {
          if (cell.verdict) counts.set(cell.verdict, (counts.get(cell.verdict) ?? 0) + 1);
        }
      }
      const n = (v: string) => counts.get(v) ?? 0;
      const rest = `${f.count(n("improvement"), "improvement")}, ${n("unchanged")} unchanged, ${
        n("inconclusive")
      } inconclusive.`;
      lines.push(
        n("regression") > 0
          ? `**${f.count(n("regression"), "regression")}**, ${rest}`
          : `No regression: ${rest}`,
        "",
        "| case | profile | median | 95% CI | ratio to first | 95% CI of ratio | p | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
      );
      for (const row of comparison.rows) {
        for (const cell of row.cells) {
          const s = cell.case?.stats ?? null;
          const verdict = cell.verdict
            ? `${verdictText(cell.verdict)}${
              cell.verdict === "inconclusive" && cell.reason ? `: ${cell.reason}` : ""
            }`
            : cell.profile === 0
            ? "baseline"
            : `not comparable: ${cell.reason ?? ""}`;
          lines.push(
            `| ${cell.profile === 0 ? e(row.label) : ""} | ${cell.profile + 1}${
              cell.case?.node ? ` · ${e(cell.case.node)}` : ""
            } | ${f.ms(s?.median ?? null)} | ${s ? f.ci(s.ci, s.samples) : f.DASH} | ${
              f.ratio(cell.ratio)
            } | ${cell.ci ? `${f.ratio(cell.ci.low)} – ${f.ratio(cell.ci.high)}` : f.DASH} | ${
              f.pValue(cell.pValue)
            } | ${e(verdict)} |`,
          );
        }
      }
      lines.push("");
    }
    if (comparison.notComparable.length > 0) {
      lines.push("Not comparable:", "");
      for (const n of comparison.notComparable) {
        lines.push(`- ${e(n.label)} (${e(n.id)}): ${e(n.reason)}`);
      }
      lines.push("");
    }
    if (comparison.rows.length === 0) {
      for (const p of report.profiles) {
        lines.push(`### ${e(p.label)}`, "", ...summary(p));
      }
    }
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** The verdict, advice and projection, before the table. */
function answer(p: ProfileView): string[] {
  if (!hasAnswer(p.answer)) return [];
  const lines = [
    ...verdictLines(p.answer.verdict).map((v) => `- ${e(v.text)}`),
    "",
    ...adviceLines(p.answer.verdict).map((a) => `**${e(a)}**`),
    "",
  ];
  for (const projection of p.answer.projections) {
    const table = projectionTable(projection);
    const head = table.columns.map((c) => `${c.cache}: ${e(c.head)}`);
    lines.push(
      `_${e(table.caption)}_`,
      "",
      `| model | size | ${head.join(" | ")} |`,
      `| --- | ---: |${table.columns.map(() => " ---: |").join("")}`,
      ...table.rows.map((row) => `| ${row.map(e).join(" | ")} |`),
      "",
      ...table.notes.map((note) => `${e(note)}`),
      ...(table.notes.length > 0 ? [""] : []),
    );
  }
  return lines;
}

function context(p: ProfileView): string {
  return `${e(p.label)} · ${e(p.scenario)} · ${e(p.weights)} · target ${e(p.targets.join(", "))}`;
}

function summary(p: ProfileView): string[] {
  const perNode = p.nodes.length > 0;
  const lines = [
    `| case |${
      perNode ? " node |" : ""
    } median | 95% CI | GB/s | % of limit | verified | cache | notes |`,
    `| --- |${perNode ? " --- |" : ""} ---: | ---: | ---: | ---: | --- | --- | --- |`,
    ...p.cases.map((c) => row(c, perNode)),
    "",
  ];
  if (!p.hasLimits) {
    lines.push("% of limit: no machine limits in this profile (run `deno task probe`).", "");
  }
  if (perNode) lines.push(...nodes(p));
  if (p.herd) lines.push(...herd(p));
  return lines;
}

function nodes(p: ProfileView): string[] {
  const lines = [
    `Merged from ${p.nodes.length} ${
      p.merged?.mode === "herd"
        ? "herd members"
        : p.merged?.mode === "shards"
        ? "shards"
        : "profiles"
    }${
      p.merged && p.merged.missing.length > 0
        ? `; **missing: ${e(p.merged.missing.join(", "))}**`
        : ""
    }:`,
    "",
    "| node | part | scheduler | host | completed | errored | skipped |",
    "| --- | --- | --- | --- | ---: | ---: | ---: |",
  ];
  for (const n of p.nodes) {
    lines.push(
      `| ${e(n.label)} | ${e(n.part ?? "whole run")} | ${e(n.scheduler ?? f.DASH)} | ${
        e(n.host)
      } | ${n.completed} | ${n.errored} | ${n.skipped} |`,
    );
  }
  lines.push("");
  return lines;
}

function herd(p: ProfileView): string[] {
  const h = p.herd!;
  const lines = [
    `Thundering herd of ${h.members}: median load time per node, spread (slowest / fastest node), start skew, and the fleet's throughput from the shared storage.`,
    "",
    `| case | ${h.nodes.map(e).join(" | ")} | spread | start skew | fleet GB/s |`,
    `| --- | ${h.nodes.map(() => "---:").join(" | ")} | ---: | ---: | ---: |`,
  ];
  for (const c of h.cases) {
    const cells = h.nodes.map((_, node) => {
      const r = c.nodes.find((x) => x.node === node);
      return r === undefined ? f.DASH : r.medianMs === null ? e(r.state) : f.ms(r.medianMs);
    });
    lines.push(
      `| ${e(`${c.strategy} · ${c.cache}`)} | ${cells.join(" | ")} | ${
        c.spread === null ? f.DASH : `${c.spread.toFixed(2)}×`
      } | ${f.ms(c.startSkewMs)} | ${f.gbps(c.fleetGBps)} |`,
    );
  }
  lines.push("");
  return lines;
}

function row(c: CaseView, perNode = false): string {
  const s = c.stats;
  const node = perNode ? ` ${e(c.node ?? f.DASH)} |` : "";
  if (s === null) {
    const text = c.state === "completed" ? c.flags.join("; ") : `${c.state}: ${c.message ?? ""}`;
    return `| ${e(c.label)} |${node} ${f.DASH} | | | | | | ${e(text)} |`;
  }
  return `| ${e(c.label)} |${node} ${f.ms(s.median)} | ${f.ci(s.ci, s.samples)} | ${
    f.gbps(s.gbps.median)
  } | ${f.ofLimit(s.ofLimit)} | ${f.verified(s.verified)} | ${e(c.cache)} ${
    f.percent(s.residency)
  } | ${e(c.flags.join("; "))} |`;
}
