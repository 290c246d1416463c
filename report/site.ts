/**
 * The index page of a folder of profiles, for publishing a site: a table of
 * every run (newest first) linking to its own report page, a trend chart over
 * time per case (median load time with its 95% interval), and the files that
 * were not profiles, with the reason. A pure function; the command reads the
 * folder and writes the pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 * import { renderIndex } from "./site.ts";
 *
 * const run = buildReport([{ profile: syntheticProfile() }]).profiles[0]!;
 * const html = renderIndex(
 *   { title: "nightly", runs: [{ profile: run, href: "runs/a.html" }], skipped: [] },
 *   { chartJs: "", clientJs: "" },
 * );
 * assert.ok(html.includes('href="runs/a.html"'));
 * assert.ok(html.includes('data-chart="trend"'));
 * ```
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import { escapeHtml as h } from "./_escape.ts";
import * as f from "./_format.ts";
import type { ProfileView } from "./model.ts";
import { page } from "./_page.ts";

/** What the index shows. */
export interface IndexInput {
  /** The site's title: the folder's name. */
  readonly title: string;
  /** Every run, with the link to its page. */
  readonly runs: readonly { readonly profile: ProfileView; readonly href: string }[];
  /** Files in the folder that could not be read as profiles. */
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
}

/** The index page as one HTML document. */
export function renderIndex(input: IndexInput, assets: Assets): string {
  const runs = [...input.runs].sort((a, b) => time(b.profile) - time(a.profile));
  const trends = trendData(input.runs);
  const rows = runs.map(({ profile: p, href }) => {
    const completed = p.cases.filter((c) => c.stats !== null).length;
    return `<tr class="run"><td class="num"><a href="${h(href)}">${
      h(f.dateTime(p.createdAt))
    }</a></td><td>${h(p.scenario)}</td><td>${h(p.host)}</td><td>${h(p.commit)}</td><td>${
      h(p.targets.join(", "))
    }</td><td class="num">${completed}/${p.cases.length}</td><td>${h(p.weights)}</td></tr>`;
  });
  const figures = trends.map((t, i) =>
    `<figure><figcaption><strong>${h(t.label)}</strong> · ${t.points.length} run${
      t.points.length === 1 ? "" : "s"
    }</figcaption><div class="canvas" style="height:220px"><canvas data-chart="trend" data-trend="${i}" role="img" aria-label="${
      h(`trend of ${t.label}`)
    }"></canvas></div></figure>`
  );
  const skipped = input.skipped.length === 0 ? "" : `<h2>Files that are not profiles</h2>
<ul class="plain skipped">${
    input.skipped.map((s) => `<li><code>${h(s.file)}</code>: ${h(s.reason)}</li>`).join("\n")
  }</ul>`;
  const body = `<header>
<h1>Weight loading: ${h(input.title)}</h1>
<p class="sub">${runs.length} run${runs.length === 1 ? "" : "s"}${
    runs.length > 0
      ? `, ${h(f.dateTime(runs.at(-1)!.profile.createdAt))} to ${
        h(f.dateTime(runs[0]!.profile.createdAt))
      }`
      : ""
  }.</p>
<nav><a href="#runs">Runs</a> <a href="#trends">Trends</a></nav>
</header>
<h2 id="runs">Runs</h2>
<div class="table-wrap"><table class="runs"><thead><tr><th class="num">run</th><th>scenario</th><th>host</th><th>commit</th><th>target</th><th class="num">cases</th><th>weights</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table></div>
<h2 id="trends">Trends</h2>
<p class="note">Median load time of each case over time, with its 95% interval as a band.</p>
${
    figures.length === 0
      ? `<div class="panel">No completed case in these runs: nothing to draw.</div>`
      : `<div class="charts">\n${figures.join("\n")}\n</div>`
  }
${skipped}
<footer>Made by weightbench from ${input.runs.length} profile${
    input.runs.length === 1 ? "" : "s"
  }. Each run's page is self-contained.</footer>`;
  return page(
    {
      title: `weightbench: ${input.title}`,
      body,
      data: { profiles: [], comparison: null, trends, trendRange: timeRange(trends) },
    },
    assets,
  );
}

/** The time axis every trend chart shares: all runs, with a little room on each side. */
function timeRange(trends: ReturnType<typeof trendData>): [number, number] | null {
  const times = trends.flatMap((t) => t.points.map((p) => p[0]));
  if (times.length === 0) return null;
  const min = Math.min(...times);
  const max = Math.max(...times);
  const pad = max > min ? (max - min) * 0.05 : 3_600_000;
  return [min - pad, max + pad];
}

function time(p: ProfileView): number {
  const t = Date.parse(p.createdAt);
  return Number.isFinite(t) ? t : 0;
}

/** Per case id, in order of first appearance: [time, median, ci low, ci high, run label]. */
function trendData(runs: IndexInput["runs"]) {
  const byId = new Map<
    string,
    { label: string; points: [number, number, number, number, string][] }
  >();
  const ordered = [...runs].sort((a, b) => time(a.profile) - time(b.profile));
  for (const { profile } of ordered) {
    const t = Date.parse(profile.createdAt);
    if (!Number.isFinite(t)) continue;
    for (const c of profile.cases) {
      const s = c.stats;
      if (s === null) continue;
      let trend = byId.get(c.id);
      if (!trend) byId.set(c.id, trend = { label: c.id, points: [] });
      const r = (x: number) => Number(x.toPrecision(6));
      trend.points.push([
        t,
        r(s.median),
        r(s.ci.low),
        r(s.ci.high),
        `${profile.host} @ ${profile.commit}`,
      ]);
    }
  }
  return [...byId.values()];
}
