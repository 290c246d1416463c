/**
 * The scaling curves of a profile, where it has them: GB/s and the memory
 * each load added against the model's size, one line per strategy and cache
 * state (the `scaling` scenario: the same strategies at 64 MiB … 4 GiB), and
 * GB/s against the number of shard readers (the `sharded-scaling` scenario).
 * Pure functions of the report's view of a profile: the curves, the chart.js
 * configurations the page draws them with (plain data, no code), and the HTML
 * section with a table that holds every figure without JavaScript.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scalingView } from "./scaling.ts";
 * import type { ProfileView } from "./model.ts";
 *
 * const at = (weights: string, bytes: number, gbps: number) => ({
 *   weights, bytes, strategy: "mmap", strategyOptions: {}, target: "host", cache: "cold",
 *   stats: { gbps: { median: gbps }, loadRssBytes: bytes, peakRssBytes: 2 * bytes },
 * });
 * const view = scalingView({ cases: [at("big", 2 ** 30, 2), at("small", 2 ** 26, 1.5)] } as unknown as ProfileView);
 * assert.deepEqual(view?.sizes, [2 ** 26, 2 ** 30]);
 * assert.deepEqual(view?.series[0]?.points.map((p) => p.gbps), [1.5, 2]);
 * ```
 *
 * @module
 */

import { escapeHtml as h } from "./_escape.ts";
import * as f from "./_format.ts";
import type { CaseView, ProfileView } from "./model.ts";

/** One case of a size curve. */
export interface ScalingPoint {
  /** Tensor bytes the load placed: the model's size. */
  readonly bytes: number;
  readonly gbps: number;
  /** Memory the load added (peak during it, less before it), where measured. */
  readonly loadRssBytes: number | null;
  readonly peakRssBytes: number | null;
}

/** One strategy on one target in one cache state, across model sizes. */
export interface ScalingSeries {
  readonly strategy: string;
  readonly target: string;
  readonly cache: string;
  /** By size, smallest first. */
  readonly points: readonly ScalingPoint[];
}

/** The sharded strategy on one model, across reader counts. */
export interface ReadersSeries {
  readonly weights: string;
  readonly target: string;
  readonly cache: string;
  readonly points: readonly { readonly readers: number; readonly gbps: number }[];
}

/** A profile's scaling curves. */
export interface ScalingView {
  /** Every model size of the size curves, smallest first. */
  readonly sizes: readonly number[];
  /** Series with at least two sizes. */
  readonly series: readonly ScalingSeries[];
  /** Series with at least two reader counts. */
  readonly readers: readonly ReadersSeries[];
}

/** The size and readers curves of `profile`, or null when it has neither. */
export function scalingView(profile: Pick<ProfileView, "cases">): ScalingView | null {
  const done = profile.cases.filter((c) => c.stats !== null && c.bytes !== null);
  const bySeries = new Map<string, { series: Omit<ScalingSeries, "points">; cases: CaseView[] }>();
  for (const c of done) {
    const key = `${c.strategy}\n${c.target}\n${c.cache}`;
    const entry = bySeries.get(key) ??
      { series: { strategy: c.strategy, target: c.target, cache: c.cache }, cases: [] };
    entry.cases.push(c);
    bySeries.set(key, entry);
  }
  const series: ScalingSeries[] = [];
  for (const { series: s, cases } of bySeries.values()) {
    const points = cases.map((c) => ({
      bytes: c.bytes!,
      gbps: c.stats!.gbps.median,
      loadRssBytes: c.stats!.loadRssBytes,
      peakRssBytes: c.stats!.peakRssBytes,
    })).sort((a, b) => a.bytes - b.bytes);
    if (new Set(points.map((p) => p.bytes)).size >= 2) series.push({ ...s, points });
  }
  const readers = readersSeries(done);
  if (series.length === 0 && readers.length === 0) return null;
  const sizes = [...new Set(series.flatMap((s) => s.points.map((p) => p.bytes)))]
    .sort((a, b) => a - b);
  return { sizes, series, readers };
}

/** The shard readers `K` of a case of the sharded strategy, from its resolved options. */
export function readersOf(c: Pick<CaseView, "strategy" | "strategyOptions">): number | undefined {
  const readers = c.strategyOptions.readers;
  return c.strategy.replace(/\(.*$/, "") === "sharded" && typeof readers === "number"
    ? readers
    : undefined;
}

function readersSeries(cases: readonly CaseView[]): ReadersSeries[] {
  const groups = new Map<
    string,
    { weights: string; target: string; cache: string; points: { readers: number; gbps: number }[] }
  >();
  for (const c of cases) {
    const readers = readersOf(c);
    if (readers === undefined) continue;
    const key = `${c.weights}\n${c.target}\n${c.cache}`;
    const group = groups.get(key) ??
      { weights: c.weights, target: c.target, cache: c.cache, points: [] };
    group.points.push({ readers, gbps: c.stats!.gbps.median });
    groups.set(key, group);
  }
  return [...groups.values()]
    .map((g) => ({ ...g, points: g.points.sort((a, b) => a.readers - b.readers) }))
    .filter((g) => new Set(g.points.map((p) => p.readers)).size >= 2);
}

/** The palette of the report's other charts. */
const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];

/** A series' look: one color per strategy, solid when cold, dashed when warm. */
function look(index: number, cache: string) {
  const color = COLORS[index % COLORS.length]!;
  return {
    borderColor: color,
    backgroundColor: color,
    borderDash: cache === "warm" ? [6, 4] : [],
    pointRadius: 3,
    spanGaps: true,
  };
}

/**
 * A size for an axis, to three significant digits in the unit it nearly
 * fills: `64 MiB`, `1 GiB` (for a model of 1 GiB less its header).
 */
export function sizeText(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 * 0.95 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toPrecision(3))} ${units[unit]}`;
}

/** The chart.js configurations of the curves, by the name the page's canvases use. */
export function scalingCharts(view: ScalingView): Record<string, unknown> {
  const strategies = [...new Set(view.series.map((s) => s.strategy))];
  const targets = new Set(view.series.map((s) => s.target));
  const name = (s: ScalingSeries) =>
    [s.strategy, targets.size > 1 ? s.target : null, s.cache].filter(Boolean).join(" · ");
  const lineChart = (
    labels: string[],
    datasets: unknown[],
    x: string,
    y: string,
    log = false,
  ) => ({
    type: "line",
    data: { labels, datasets },
    options: {
      scales: {
        x: { title: { display: true, text: x } },
        y: { type: log ? "logarithmic" : "linear", title: { display: true, text: y } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
  const at = (s: ScalingSeries, pick: (p: ScalingPoint) => number | null) =>
    view.sizes.map((size) => {
      const value = s.points.find((p) => p.bytes === size);
      return value === undefined ? null : pick(value);
    });
  const charts: Record<string, unknown> = {};
  if (view.series.length > 0) {
    const labels = view.sizes.map(sizeText);
    charts.gbps = lineChart(
      labels,
      view.series.map((s) => ({
        label: name(s),
        data: at(s, (p) => round(p.gbps)),
        ...look(strategies.indexOf(s.strategy), s.cache),
      })),
      "model size",
      "GB/s at the median",
    );
    charts.rss = lineChart(
      labels,
      view.series.map((s) => ({
        label: name(s),
        data: at(s, (p) => p.loadRssBytes === null ? null : round(p.loadRssBytes / 2 ** 20)),
        ...look(strategies.indexOf(s.strategy), s.cache),
      })),
      "model size",
      "MiB added by a load (log)",
      true,
    );
  }
  if (view.readers.length > 0) {
    const counts = [...new Set(view.readers.flatMap((r) => r.points.map((p) => p.readers)))]
      .sort((a, b) => a - b);
    const models = [...new Set(view.readers.map((r) => r.weights))];
    charts.readers = lineChart(
      counts.map(String),
      view.readers.map((r) => ({
        label: `${r.weights} · ${r.cache}`,
        data: counts.map((k) => {
          const point = r.points.find((p) => p.readers === k);
          return point === undefined ? null : round(point.gbps);
        }),
        ...look(models.indexOf(r.weights), r.cache),
      })),
      "shard readers",
      "GB/s at the median",
    );
  }
  return charts;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * The page's section for the curves of profile `index`, as lines of HTML:
 * charts and a table; none without curves.
 */
export function scalingHtml(profile: Pick<ProfileView, "cases">, index: number): string[] {
  const view = scalingView(profile);
  if (view === null) return [];
  const id = `profile-${index}-scaling`;
  const canvas = (metric: string, label: string) =>
    `<figure><figcaption><strong>${
      h(label)
    }</strong></figcaption><div class="canvas" style="height:320px"><canvas data-chart="scaling" data-metric="${metric}" data-profile="${index}" role="img" aria-label="${
      h(label)
    }"></canvas></div></figure>`;
  const parts = [`<h3 id="${id}">Scaling</h3>`];
  if (view.series.length > 0) {
    parts.push(
      `<p class="note">Each strategy at every model size: GB/s at the median load time, and the memory a load added (its peak less what the process held before it). From 1 GiB up the rate should stay flat; a streaming strategy's memory stays at its staging whatever the size. Solid lines are cold, dashed warm.</p>`,
      `<div class="charts">`,
      canvas("gbps", "GB/s against model size"),
      canvas("rss", "Memory added by a load against model size"),
      `</div>`,
      sizeTable(view),
    );
  }
  if (view.readers.length > 0) {
    parts.push(
      `<p class="note">The sharded strategy with K shard readers at once: GB/s at the median against K.</p>`,
      `<div class="charts">`,
      canvas("readers", "GB/s against shard readers"),
      `</div>`,
    );
  }
  return parts;
}

function sizeTable(view: ScalingView): string {
  const head = view.sizes.map((s) => `<th class="num">${h(sizeText(s))}</th>`).join("");
  const rows = view.series.map((s) => {
    const cells = view.sizes.map((size) => {
      const p = s.points.find((q) => q.bytes === size);
      if (p === undefined) return `<td class="num">${f.DASH}</td>`;
      const memory = p.loadRssBytes === null ? "" : ` · +${f.bytes(p.loadRssBytes)}`;
      return `<td class="num">${h(`${f.gbps(p.gbps)} GB/s${memory}`)}</td>`;
    }).join("");
    return `<tr><td>${h(`${s.strategy} · ${s.target} · ${s.cache}`)}</td>${cells}</tr>`;
  });
  return `<div class="table-wrap"><table class="scaling">
<thead><tr><th>strategy</th>${head}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>`;
}

/** What the page's embedded data carries for `profile`: its charts' configurations, if any. */
export function scalingPayload(
  profile: Pick<ProfileView, "cases">,
): { readonly scaling?: Record<string, unknown> } {
  const view = scalingView(profile);
  return view === null ? {} : { scaling: scalingCharts(view) };
}
