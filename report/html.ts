/**
 * The HTML report: one self-contained page (chart.js inlined, data embedded
 * as JSON, no network) for one profile or several side by side. A pure
 * function of the {@link Report} model and the inlined {@link Assets}.
 *
 * For each profile: a summary table of every case; per weights and target,
 * stacked bars of phase medians, throughput against the machine limits, the
 * distribution of load times; a timeline of one representative sample per
 * case; GPU memory over a sample, or a panel saying the profile has none; the
 * environment. For several profiles, first: which profiles, each case's
 * ratio to the first profile with its confidence interval and verdict, the
 * cases that could not be compared and why, charts grouped by profile, and
 * the environments side by side.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 * import { renderHtml } from "./html.ts";
 *
 * const html = renderHtml(buildReport([{ profile: syntheticProfile() }]), {
 *   chartJs: "/* chart.js *\/",
 *   clientJs: "/* client *\/",
 * });
 * assert.ok(html.startsWith("<!doctype html>"));
 * assert.ok(html.includes('<table class="summary"'));
 * ```
 *
 * @module
 */

import { DEFAULT_ALPHA, DEFAULT_THRESHOLD } from "../bench/compare/significance.ts";
import { MIN_SAMPLES_FOR_CI } from "../bench/compare/verdict.ts";
import type { Assets } from "./assets.ts";
import { escapeHtml as h } from "./_escape.ts";
import * as f from "./_format.ts";
import {
  type CaseView,
  type Comparison,
  type ProfileView,
  type Report,
  type SampleView,
  verdictText,
} from "./model.ts";
import { page } from "./_page.ts";
import { answerHtml } from "./answer_html.ts";
import { scalingHtml, scalingPayload } from "./scaling.ts";

/** How the page is put together. */
export interface HtmlOptions {
  /** A link back to the site's index page, for run pages of `--index`. */
  readonly indexHref?: string;
}

/** Most timelines drawn per profile (one per case). @default 24 */
export const MAX_TIMELINES = 24;
/** Timelines of samples with more spans than this leave out each span's detail. @default 300 */
export const MAX_DETAILED_SPANS = 300;
/** Most lanes per phase in a timeline; further overlapping spans share the last. @default 8 */
export const MAX_LANES = 8;

/** The report as one HTML document. */
export function renderHtml(report: Report, assets: Assets, options: HtmlOptions = {}): string {
  const several = report.profiles.length > 1;
  const first = report.profiles[0];
  const title = several
    ? `weightbench: ${report.profiles.length} profiles compared`
    : first
    ? `weightbench: ${first.scenario} · ${first.label}`
    : "weightbench report";
  const body = [
    header(report, options),
    several && report.comparison ? comparisonSection(report, report.comparison) : "",
    ...report.profiles.map((p, i) => profileSection(p, i, several)),
    footer(report),
  ].join("\n");
  return page({ title, body, data: payload(report) }, assets);
}

function header(report: Report, options: HtmlOptions): string {
  const several = report.profiles.length > 1;
  const p = report.profiles[0];
  const back = options.indexHref === undefined
    ? ""
    : `<p class="sub"><a href="${h(options.indexHref)}">← all runs</a></p>\n`;
  if (!p) {
    return `<header>${back}<h1>weightbench report</h1><p class="notice">No profiles.</p></header>`;
  }
  const heading = several
    ? `<h1>Weight loading: ${report.profiles.length} profiles compared</h1>
<p class="sub">Each case against the same case in the first profile, <strong>${
      h(p.label)
    }</strong>.</p>`
    : `<h1>Weight loading: ${h(p.scenario)}</h1>${partialNotice(p)}
<p class="sub">${h(p.weights)} · target ${h(p.targets.join(", ") || "none")}</p>
${answerHtml(p, 0)}
<p class="sub">${h(p.host)} · commit ${h(p.commit)} · ${h(f.dateTime(p.createdAt))}</p>${
      p.merged ? `\n<p class="sub">${h(mergedLine(p))}</p>` : ""
    }${p.description ? `\n<p class="sub">Scenario ${h(p.scenario)}: ${h(p.description)}</p>` : ""}`;
  const links = several
    ? [
      `<a href="#comparison">Comparison</a>`,
      ...report.profiles.map((q, i) => `<a href="#profile-${i}">${h(q.label)}</a>`),
    ]
    : [
      `<a href="#profile-0-answer">Answer</a>`,
      `<a href="#profile-0-summary">Summary</a>`,
      ...(p.nodes.length > 0 ? [`<a href="#profile-0-nodes">Nodes</a>`] : []),
      ...(p.herd ? [`<a href="#profile-0-herd">Herd</a>`] : []),
      `<a href="#profile-0-phases">Phases</a>`,
      `<a href="#profile-0-throughput">Throughput</a>`,
      `<a href="#profile-0-distribution">Distribution</a>`,
      `<a href="#profile-0-timeline">Timeline</a>`,
      `<a href="#profile-0-gpu">GPU memory</a>`,
      `<a href="#profile-0-environment">Environment</a>`,
    ];
  return `<header>
${back}${heading}
<nav>${links.join(" ")}</nav>
<noscript><p class="notice">The charts need JavaScript; the tables are complete without it.</p></noscript>
</header>`;
}

function footer(report: Report): string {
  const sources = report.profiles.map((p) =>
    `${h(p.source ?? p.id)} (created ${h(f.dateTime(p.createdAt))})`
  );
  return `<footer>Made by weightbench from ${
    sources.join(", ")
  }. Times are wall-clock load times; ` +
    `GB/s are decimal gigabytes of tensor bytes per second at the median; intervals are 95% bootstrap ` +
    `intervals of the median.</footer>`;
}

// ---------------------------------------------------------------------------
// One profile

function profileSection(p: ProfileView, index: number, several: boolean): string {
  const id = `profile-${index}`;
  const heading = several
    ? `<h2 id="${id}">${h(p.label)}</h2>
<p class="sub">${h(p.scenario)} · ${h(p.weights)} · target ${h(p.targets.join(", "))}</p>`
    : `<h2 id="${id}">${h(p.scenario)} on ${h(p.host)}</h2>`;
  const completed = p.cases.some((c) => c.stats !== null);
  const parts = [
    `<section class="profile" id="${id}-section">`,
    // One profile says it in the page's header; several, each at the top of its own section.
    several ? `${heading}${partialNotice(p)}\n${answerHtml(p, index)}` : heading,
    `<h3 id="${id}-summary">Summary</h3>`,
    summaryTable(p),
  ];
  if (p.nodes.length > 0) {
    parts.push(`<h3 id="${id}-nodes">Nodes</h3>`, nodesTable(p));
  }
  if (p.herd) {
    parts.push(`<h3 id="${id}-herd">Thundering herd</h3>`, herdTable(p));
  }
  if (!completed) {
    parts.push(
      `<p class="notice">No case of this profile completed with timed samples: nothing to chart.</p>`,
    );
  } else {
    parts.push(
      `<h3 id="${id}-phases">Where the time goes</h3>`,
      `<p class="note">Median time of each phase per strategy, stacked; the black tick is the median load time. ${
        h(overlapNote(p))
      }</p>`,
      chartGrid(p, index, "phases"),
      `<h3 id="${id}-throughput">Throughput</h3>`,
      p.hasLimits
        ? `<p class="note">GB/s at the median load time, with its 95% interval; the red mark is the machine's limit for that case, measured by the probe.</p>`
        : `<p class="note">GB/s at the median load time, with its 95% interval. No machine limits in this profile: run <code>deno task probe</code> to set results against what this machine can do.</p>`,
      chartGrid(p, index, "throughput"),
      ...scalingHtml(p, index),
      `<h3 id="${id}-distribution">Distribution of load times</h3>`,
      `<p class="note">Every timed sample (dots), the interquartile box, min–max whiskers and the median (black tick).</p>`,
      chartGrid(p, index, "distribution"),
      `<h3 id="${id}-timeline">Timeline of one sample</h3>`,
      `<p class="note">The spans of the sample closest to each case's median, in ms from the start of the load; spans that overlap get lanes of their own.</p>`,
      timelines(p, index),
    );
  }
  parts.push(`<h3 id="${id}-gpu">GPU memory</h3>`, gpuPanel(p, index));
  if (!several) {
    parts.push(
      `<h3 id="${id}-environment">Environment</h3>`,
      p.nodes.length > 0 ? nodeEnvironmentTable(p) : environmentTable([p]),
    );
  }
  parts.push(`</section>`);
  return parts.join("\n");
}

/** The line saying a run did not finish, on a line of its own; empty for a complete run. */
function partialNotice(p: ProfileView): string {
  return p.partial === null ? "" : `\n<p class="notice partial">${h(p.partial)}</p>`;
}

function summaryTable(p: ProfileView): string {
  const perNode = p.nodes.length > 0;
  const rows = p.cases.map((c) => summaryRow(c, perNode));
  const limitNote = p.hasLimits
    ? ""
    : `<p class="note">% of limit: — because this profile has no machine limits (run <code>deno task probe</code>).</p>`;
  return `<div class="table-wrap"><table class="summary" data-profile="${h(p.id)}">
<thead><tr><th>case</th>${
    perNode ? "<th>node</th>" : ""
  }<th class="num">median</th><th class="num">95% CI</th><th class="num">IQR</th><th class="num">GB/s</th><th class="num">% of limit</th><th>verified</th><th>cache</th><th>flags</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>
${limitNote}`;
}

function summaryRow(c: CaseView, perNode: boolean): string {
  const name = `<td class="case" title="${h(c.id)}">${h(c.label)}</td>${
    perNode ? `<td class="node">${h(c.node ?? f.DASH)}</td>` : ""
  }`;
  if (c.stats === null) {
    const cls = c.state === "errored" ? "failed" : c.state === "skipped" ? "skipped" : "failed";
    const text = c.state === "completed" ? c.flags.join("; ") : `${c.state}: ${c.message ?? ""}`;
    return `<tr class="case ${cls}" data-case-id="${
      h(c.id)
    }">${name}<td class="message" colspan="8">${h(text)}</td></tr>`;
  }
  const s = c.stats;
  const ci = f.ci(s.ci, s.samples);
  const verified = `<span class="ok">${h(f.verified(s.verified))}</span>`;
  const ofLimit = s.ofLimit
    ? `<span title="${h(`${s.ofLimit.limit}: ${f.gbps(s.ofLimit.limitGBps)} GB/s`)}">${
      f.ofLimit(s.ofLimit)
    }</span>`
    : f.DASH;
  const residency = ` ${f.percent(s.residency)}`;
  return `<tr class="case" data-case-id="${h(c.id)}">${name}<td class="num">${
    f.ms(s.median)
  }</td><td class="num">${ci}</td><td class="num">${f.iqr(s.iqr, s.samples)}</td><td class="num">${
    f.gbps(s.gbps.median)
  }</td><td class="num">${ofLimit}</td><td>${verified}</td><td>${h(c.cache)}${
    h(residency)
  }</td><td class="flags">${h(c.flags.join("; "))}</td></tr>`;
}

type GroupChart = "phases" | "throughput" | "distribution";

function chartGrid(p: ProfileView, index: number, kind: GroupChart): string {
  const figures = p.groups.map((g, gi) => {
    const cases = g.cases.map((i) => p.cases[i]!).filter((c) => c.stats !== null);
    if (cases.length === 0) return "";
    const height = kind === "distribution" ? 300 : 70 + 30 * cases.length;
    return `<figure><figcaption><strong>${
      h(g.title)
    }</strong></figcaption><div class="canvas" style="height:${height}px"><canvas data-chart="${kind}" data-profile="${index}" data-group="${gi}" role="img" aria-label="${
      h(`${kind} of ${g.title}`)
    }"></canvas></div></figure>`;
  }).filter((s) => s !== "");
  return `<div class="charts">\n${figures.join("\n")}\n</div>`;
}

function timelines(p: ProfileView, index: number): string {
  const drawn = p.cases.map((c, i) => ({ c, i })).filter(({ c }) => c.representative !== null);
  const chosen = timelineCases(p);
  const shown = drawn.filter(({ i }) => chosen.has(i));
  const figures = shown.map(({ c, i }) => {
    const sample = c.representative!;
    const lanes = laneLayout(sample).lanes.length;
    const left = sample.spansLeftOut > 0 ? ` · ${sample.spansLeftOut} shortest spans left out` : "";
    return `<figure><figcaption><strong>${h(c.label)}</strong> · sample ${sample.round}, ${
      h(f.ms(sample.durationMs))
    }${h(left)}</figcaption><div class="canvas" style="height:${
      60 + 22 * lanes
    }px"><canvas data-chart="timeline" data-profile="${index}" data-case="${i}" role="img" aria-label="${
      h(`timeline of ${c.label}`)
    }"></canvas></div></figure>`;
  });
  const more = drawn.length > shown.length
    ? `<p class="note">${drawn.length - shown.length} more cases not drawn.</p>`
    : "";
  return `<div class="charts">\n${figures.join("\n")}\n</div>${more}`;
}

function gpuPanel(p: ProfileView, index: number): string {
  const withGpu = p.cases.filter((c) => c.representative?.gpuMemory);
  if (withGpu.length === 0) {
    return `<div class="panel gpu-none">No GPU memory samples in this profile (${
      h(p.targets.join(", ") || "no")
    } target${p.targets.length === 1 ? "" : "s"}).</div>`;
  }
  return `<figure><figcaption>GPU memory in use during the representative sample of each case</figcaption><div class="canvas" style="height:320px"><canvas data-chart="gpu" data-profile="${index}" role="img" aria-label="GPU memory"></canvas></div></figure>`;
}

function environmentTable(profiles: readonly ProfileView[]): string {
  const keys: string[] = [];
  for (const p of profiles) {
    for (const [key] of p.environment) if (!keys.includes(key)) keys.push(key);
  }
  const value = (p: ProfileView, key: string) =>
    p.environment.find(([k]) => k === key)?.[1] ?? f.DASH;
  const head = profiles.length > 1
    ? `<thead><tr><th></th>${profiles.map((p) => `<th>${h(p.label)}</th>`).join("")}</tr></thead>`
    : "";
  const rows = keys.map((key) => {
    const values = profiles.map((p) => value(p, key));
    const differs = profiles.length > 1 && new Set(values).size > 1;
    return `<tr${differs ? ' class="differs"' : ""}><th>${h(key)}</th>${
      values.map((v) => `<td>${h(v)}</td>`).join("")
    }</tr>`;
  });
  return `<div class="table-wrap"><table class="env">${head}<tbody>
${rows.join("\n")}
</tbody></table></div>${
    profiles.length > 1 ? `<p class="note">Highlighted rows differ between profiles.</p>` : ""
  }`;
}

/** `merged from 4 shards; missing: shard 3/4`. */
function mergedLine(p: ProfileView): string {
  const m = p.merged!;
  const what = m.mode === "shards"
    ? `${p.nodes.length} shards`
    : m.mode === "herd"
    ? `a herd of ${p.nodes.length} nodes loading at once`
    : `${p.nodes.length} profiles, combined`;
  return `Merged from ${what}${m.missing.length > 0 ? `; missing: ${m.missing.join(", ")}` : ""}`;
}

function nodesTable(p: ProfileView): string {
  const rows = p.nodes.map((n) =>
    `<tr data-node="${h(n.key)}"><td>${h(n.label)}</td><td>${h(n.part ?? "whole run")}</td><td>${
      h(n.scheduler ?? f.DASH)
    }</td><td>${
      h(n.host)
    }</td><td class="num">${n.completed}</td><td class="num">${n.errored}</td><td class="num">${n.skipped}</td><td>${
      h(f.dateTime(n.startedAt))
    }</td><td class="num">${f.ms(n.durationMs)}</td><td class="id">${
      h(n.source ?? f.DASH)
    }</td></tr>`
  );
  const missing = p.merged && p.merged.missing.length > 0
    ? `<p class="notice">Missing from this merge: ${h(p.merged.missing.join(", "))}.</p>`
    : "";
  return `<div class="table-wrap"><table class="nodes">
<thead><tr><th>node</th><th>part</th><th>scheduler</th><th>host</th><th class="num">completed</th><th class="num">errored</th><th class="num">skipped</th><th>started</th><th class="num">run</th><th>profile</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>${missing}`;
}

function herdTable(p: ProfileView): string {
  const herd = p.herd!;
  const start = herd.start
    ? `Every node started its loads together: the first at ${
      h(f.dateTime(new Date(herd.start.startAt).toISOString()))
    } (${
      herd.start.source === "start-at" ? "--start-at" : `barrier ${h(herd.start.source)}`
    }), then one every ${h(f.ms(herd.start.slotMs))}.`
    : "The start was not synchronised (no --start-at or --barrier): loads may not overlap.";
  const head = herd.nodes.map((n) => `<th class="num">${h(n)}</th>`).join("");
  const rows = herd.cases.map((c) => {
    const cells = herd.nodes.map((_, node) => {
      const r = c.nodes.find((x) => x.node === node);
      if (!r) return `<td class="num">${f.DASH}</td>`;
      if (r.medianMs === null) return `<td class="num warn">${h(r.state)}</td>`;
      const slow = c.slowestMs !== null && r.medianMs === c.slowestMs && (c.spread ?? 1) > 1;
      const late = r.lateMs !== null && r.lateMs > 1000 ? ` (late ${f.ms(r.lateMs)})` : "";
      return `<td class="num${slow ? " bad" : ""}">${h(f.ms(r.medianMs) + late)}</td>`;
    }).join("");
    return `<tr data-case-id="${h(c.id)}"><td class="case">${
      h(`${c.strategy} · ${c.cache}`)
    }</td>${cells}<td class="num">${
      c.spread === null ? f.DASH : `${c.spread.toFixed(2)}×`
    }</td><td class="num">${f.ms(c.startSkewMs)}</td><td class="num">${
      f.gbps(c.fleetGBps)
    }</td></tr>`;
  });
  return `<p class="note">${start} Median load time on each node; spread is the slowest node's median over the fastest's; start skew is how far apart the nodes' loads really started; fleet GB/s is every node's bytes over the time from the first start to the last finish (median over rounds): what the shared storage gave the fleet at once.</p>
<div class="table-wrap"><table class="herd">
<thead><tr><th>case</th>${head}<th class="num">spread</th><th class="num">start skew</th><th class="num">fleet GB/s</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>`;
}

/** A merged profile's environment: one column per node. */
function nodeEnvironmentTable(p: ProfileView): string {
  const keys: string[] = [];
  for (const n of p.nodes) {
    for (const [key] of n.environment) if (!keys.includes(key)) keys.push(key);
  }
  const value = (n: ProfileView["nodes"][number], key: string) =>
    n.environment.find(([k]) => k === key)?.[1] ?? f.DASH;
  const head = `<thead><tr><th></th>${
    p.nodes.map((n) => `<th>${h(n.label)}${n.part ? ` (${h(n.part)})` : ""}</th>`).join("")
  }</tr></thead>`;
  const rows = keys.map((key) => {
    const values = p.nodes.map((n) => value(n, key));
    const differs = p.nodes.length > 1 && new Set(values).size > 1;
    return `<tr${differs ? ' class="differs"' : ""}><th>${h(key)}</th>${
      values.map((v) => `<td>${h(v)}</td>`).join("")
    }</tr>`;
  });
  return `<div class="table-wrap"><table class="env nodes-env">${head}<tbody>
${rows.join("\n")}
</tbody></table></div>
<p class="note">One column per node of the merged profile. Highlighted rows differ between nodes.</p>`;
}

// ---------------------------------------------------------------------------
// Several profiles

function comparisonSection(report: Report, comparison: Comparison): string {
  const profiles = report.profiles;
  const list = profiles.map((p, i) =>
    `<tr><td class="num">${i + 1}</td><td>${h(p.label)}${
      i === 0 ? " <em>(baseline)</em>" : ""
    }</td><td>${h(p.scenario)}</td><td>${h(p.weights)}</td><td>${
      h(p.targets.join(", "))
    }</td><td class="id">${h(p.source ?? p.id)}</td></tr>`
  );
  const parts = [
    `<section id="comparison">`,
    `<h2>Comparison</h2>`,
    `<div class="table-wrap"><table class="profiles"><thead><tr><th class="num">#</th><th>profile</th><th>scenario</th><th>weights</th><th>target</th><th>file</th></tr></thead><tbody>
${list.join("\n")}
</tbody></table></div>`,
  ];
  if (comparison.unrelated !== null) {
    parts.push(`<p class="notice unrelated">${h(comparison.unrelated)}</p>`);
  }
  if (comparison.rows.length > 0) {
    const counts = new Map<string, number>();
    for (const row of comparison.rows) {
      for (const cell of row.cells) {
        if (cell.verdict) counts.set(cell.verdict, (counts.get(cell.verdict) ?? 0) + 1);
      }
    }
    const n = (v: string) => counts.get(v) ?? 0;
    const tally = `${f.count(n("regression"), "regression")}, ${
      f.count(n("improvement"), "improvement")
    }, ${n("unchanged")} unchanged, ${n("inconclusive")} inconclusive`;
    parts.push(
      `<p>${
        h(tally)
      }. A regression needs a significant Mann-Whitney U test (p &lt; ${DEFAULT_ALPHA}), a ratio of medians beyond ${
        DEFAULT_THRESHOLD * 100
      }% and a 95% interval of the ratio above 1; an improvement the same the other way.</p>`,
      comparisonTable(report, comparison),
    );
  }
  if (comparison.notComparable.length > 0) {
    parts.push(
      `<h3>Not comparable</h3>`,
      `<ul class="plain not-comparable">${
        comparison.notComparable.map((n) =>
          `<li data-case-id="${h(n.id)}"><strong>${h(n.label)}</strong> <span class="id">(${
            h(n.id)
          })</span>: ${h(n.reason)}</li>`
        ).join("\n")
      }</ul>`,
    );
  }
  if (comparison.rows.length > 0) {
    const height = 70 + 22 * comparison.rows.length * Math.min(profiles.length, 4);
    parts.push(
      `<h3>Charts by profile</h3>`,
      `<div class="charts">`,
      `<figure><figcaption><strong>Median load time</strong> per case, by profile</figcaption><div class="canvas" style="height:${height}px"><canvas data-chart="compare-time" role="img" aria-label="median load time by profile"></canvas></div></figure>`,
      `<figure><figcaption><strong>Throughput</strong> per case, by profile</figcaption><div class="canvas" style="height:${height}px"><canvas data-chart="compare-gbps" role="img" aria-label="throughput by profile"></canvas></div></figure>`,
      `</div>`,
    );
  }
  parts.push(`<h3>Environments</h3>`, environmentTable(profiles), `</section>`);
  return parts.join("\n");
}

function comparisonTable(report: Report, comparison: Comparison): string {
  const rows: string[] = [];
  for (const row of comparison.rows) {
    row.cells.forEach((cell, i) => {
      const p = report.profiles[cell.profile]!;
      const s = cell.case?.stats ?? null;
      const first = i === 0
        ? `<td class="case" rowspan="${row.cells.length}" title="${h(row.id)}">${h(row.label)}</td>`
        : "";
      const verdict = cell.verdict
        ? `<span class="verdict-${cell.verdict}" title="${h(cell.reason ?? "")}">${
          h(verdictText(cell.verdict))
        }</span>${
          cell.verdict === "inconclusive" && cell.reason
            ? `<br><span class="note">${h(cell.reason)}</span>`
            : ""
        }`
        : cell.profile === 0
        ? `<span class="sub">baseline</span>`
        : `<span class="warn">not comparable: ${h(cell.reason ?? "")}</span>`;
      rows.push(
        `<tr class="compare${i === 0 ? " first" : ""}" data-case-id="${
          h(row.id)
        }" data-profile="${cell.profile}">${first}<td class="profile-ref" title="${h(p.label)}">#${
          cell.profile + 1
        }${cell.profile === 0 ? " baseline" : ` · ${h(p.commit)}`}${
          cell.case?.node ? ` · ${h(cell.case.node)}` : ""
        }</td><td class="num">${f.ms(s?.median ?? null)}</td><td class="num">${
          s ? f.ci(s.ci, s.samples) : f.DASH
        }</td><td class="num">${f.gbps(s?.gbps.median ?? null)}</td><td class="num">${
          f.ratio(cell.ratio)
        }</td><td class="num">${
          cell.ci ? `${f.ratio(cell.ci.low)} – ${f.ratio(cell.ci.high)}` : f.DASH
        }</td><td class="num">${f.pValue(cell.pValue)}</td><td>${verdict}</td></tr>`,
      );
    });
  }
  return `<div class="table-wrap"><table class="comparison">
<thead><tr><th>case</th><th>profile</th><th class="num">median</th><th class="num">95% CI</th><th class="num">GB/s</th><th class="num">ratio to first</th><th class="num">95% CI of ratio</th><th class="num">p</th><th>verdict</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>`;
}

// ---------------------------------------------------------------------------
// The data the drawing script reads

/** A number kept to 6 significant digits, so the embedded JSON stays small and stable. */
function r(value: number | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value.toPrecision(6));
}

/**
 * Why some stacks pass the tick: the cases whose phases ran at the same time
 * (readers side by side, chunks read while earlier ones are copied), named
 * with how far their phases' sum goes past the load's wall time.
 */
function overlapNote(p: ProfileView): string {
  const overlapping = p.cases.flatMap((c) => {
    const s = c.stats;
    if (s === null || !(s.median > 0)) return [];
    const sum = s.phases.filter((ph) => ph.phase !== "verify").reduce((t, ph) => t + ph.median, 0);
    return sum > s.median * 1.1 ? [`${c.label} (${(sum / s.median).toFixed(1)}×)`] : [];
  });
  if (overlapping.length === 0) return "No phases overlap: each stack is the load's own time.";
  return `Phases that run at the same time — readers side by side, chunks read while earlier ones ` +
    `are copied — each count their own wall time, so their stack passes the tick: ${
      overlapping.join(", ")
    }. The timeline below draws every span of one load on its own lane.`;
}

/** Lanes of a sample's timeline: one per phase, more where spans of a phase overlap. */
export function laneLayout(sample: SampleView): {
  lanes: string[];
  spans: [lane: number, start: number, end: number, phase: string, detail: string | null][];
} {
  const byPhase = new Map<string, SampleView["spans"][number][]>();
  for (const span of [...sample.spans].sort((a, b) => a.start - b.start)) {
    let list = byPhase.get(span.phase);
    if (!list) byPhase.set(span.phase, list = []);
    list.push(span);
  }
  const lanes: string[] = [];
  const spans: [number, number, number, string, string | null][] = [];
  for (const [phase, list] of byPhase) {
    const ends: number[] = [];
    const assigned = list.map((span) => {
      let lane = ends.findIndex((end) => end <= span.start);
      if (lane < 0) {
        lane = ends.length < MAX_LANES ? ends.length : MAX_LANES - 1;
        if (lane === ends.length) ends.push(span.end);
      }
      ends[lane] = Math.max(ends[lane] ?? 0, span.end);
      return { span, lane };
    });
    const base = lanes.length;
    for (let i = 0; i < ends.length; i++) {
      lanes.push(ends.length === 1 ? phase : `${phase} ${i + 1}`);
    }
    for (const { span, lane } of assigned) {
      spans.push([
        base + lane,
        r(span.start)!,
        r(span.end)!,
        phase,
        // Details (file, tensor) help with a few spans; with many they would only bloat the page.
        span.detail === null || sample.spans.length > MAX_DETAILED_SPANS
          ? null
          : span.detail.slice(-80),
      ]);
    }
  }
  return { lanes, spans };
}

/** Indices of the cases whose timeline is drawn: the first {@linkcode MAX_TIMELINES} with a sample. */
function timelineCases(p: ProfileView): Set<number> {
  return new Set(
    p.cases.map((c, i) => c.representative === null ? -1 : i).filter((i) => i >= 0)
      .slice(0, MAX_TIMELINES),
  );
}

function payload(report: Report) {
  const profiles = report.profiles.map((p) => {
    const drawnTimelines = timelineCases(p);
    return {
      label: p.label,
      hasLimits: p.hasLimits,
      groups: p.groups,
      ...scalingPayload(p),
      cases: p.cases.map((c, i) => {
        const s = c.stats;
        // An interval that was never measured (too few samples) is not drawn.
        const measured = s !== null && s.samples >= MIN_SAMPLES_FOR_CI;
        return {
          label: c.label,
          cache: c.cache,
          completed: s !== null,
          median: r(s?.median),
          ciLow: measured ? r(s.ci.low) : null,
          ciHigh: measured ? r(s.ci.high) : null,
          q1: r(s?.q1),
          q3: r(s?.q3),
          min: r(s?.min),
          max: r(s?.max),
          gbps: r(s?.gbps.median),
          gbpsLow: measured ? r(s.gbps.low) : null,
          gbpsHigh: measured ? r(s.gbps.high) : null,
          limitGBps: r(s?.ofLimit?.limitGBps),
          limitName: s?.ofLimit?.limit ?? null,
          phases: (s?.phases ?? []).map(({ phase, median }) => [phase, r(median)]),
          durations: c.durations.map(r),
          timeline: c.representative === null || !drawnTimelines.has(i) ? null : {
            durationMs: r(c.representative.durationMs),
            ...laneLayout(c.representative),
          },
          gpu: c.representative?.gpuMemory?.map((g) => [r(g.t), g.usedBytes]) ?? null,
        };
      }),
    };
  });
  const comparison = report.comparison && report.comparison.rows.length > 0
    ? {
      labels: report.comparison.rows.map((row) => row.label),
      profiles: report.profiles.map((p) => p.label),
      medians: report.profiles.map((_, pi) =>
        report.comparison!.rows.map((row) =>
          r(row.cells.find((c) => c.profile === pi)?.case?.stats?.median)
        )
      ),
      gbps: report.profiles.map((_, pi) =>
        report.comparison!.rows.map((row) =>
          r(row.cells.find((c) => c.profile === pi)?.case?.stats?.gbps.median)
        )
      ),
    }
    : null;
  return { profiles, comparison, trends: [] };
}
