/**
 * Reports of weightbench profiles: a self-contained HTML page (chart.js
 * inlined, no network), a markdown summary, the dashboard formats Bencher
 * (BMF) and github-action-benchmark take, and the index page of a folder of
 * runs. Every builder is a pure function of the {@link Report} model, which
 * {@link buildReport} reads out of typed profiles (`profiles/schema.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport, loadAssets, renderHtml, renderMarkdown } from "./mod.ts";
 *
 * const report = buildReport([{ profile: syntheticProfile() }]);
 * const html = renderHtml(report, await loadAssets());
 * assert.ok(html.length < 400_000);
 * assert.match(renderMarkdown(report), /\| mmap · warm \|/);
 * ```
 *
 * @module
 */

export { type Assets, loadAssets } from "./assets.ts";
export { renderBmf, renderCsv, renderGab } from "./dashboards.ts";
export { type HtmlOptions, renderHtml } from "./html.ts";
export { renderMarkdown } from "./markdown.ts";
export {
  buildReport,
  type CaseView,
  type Comparison,
  type GpuMemorySample,
  type ProfileView,
  type Report,
  type ReportInput,
  type ReportOptions,
} from "./model.ts";
export { type IndexInput, renderIndex } from "./site.ts";
