/**
 * The shell every HTML page shares: a strict Content-Security-Policy (no
 * network at all; only the page's own inline scripts run, by hash), the
 * style sheet, the embedded data as JSON, chart.js and the drawing script.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import { escapeHtml, inlineScript, jsonForScript, scriptHash } from "./_escape.ts";

/** What a page is made of. */
export interface PageParts {
  readonly title: string;
  /** The page body, already escaped HTML. */
  readonly body: string;
  /** The data the drawing script reads, embedded as JSON. */
  readonly data: unknown;
}

/** A whole self-contained HTML document. */
export function page(parts: PageParts, assets: Assets): string {
  const chart = inlineScript(assets.chartJs);
  const client = inlineScript(assets.clientJs);
  const csp = [
    "default-src 'none'",
    `script-src ${scriptHash(chart)} ${scriptHash(client)}`,
    "style-src 'unsafe-inline'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; "); // Base64 hashes and keywords: nothing to escape in the attribute.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="generator" content="weightbench">
<title>${escapeHtml(parts.title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${parts.body}
<script type="application/json" id="report-data">${jsonForScript(parts.data)}</script>
<script>${chart}</script>
<script>${client}</script>
</body>
</html>
`;
}

/** The style sheet: readable on a laptop, sensible on paper. */
export const STYLE = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa; --bad: #b42318;
  --good: #1a7f37; --warn: #9a6700; --accent: #0969da; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-top: 8px; border-top: 2px solid var(--line); }
h3 { font-size: 15px; margin: 24px 0 8px; }
p { margin: 6px 0; }
a { color: var(--accent); }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--bg-alt); padding: 1px 4px; border-radius: 4px; }
.sub, .note, figcaption { color: var(--muted); }
.note { font-size: 12.5px; }
header { margin-bottom: 8px; }
nav { margin: 10px 0 0; font-size: 13px; }
nav a { margin-right: 14px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.case { font-weight: 500; min-width: 9em; max-width: 26em; overflow-wrap: anywhere; }
td.profile-ref { white-space: nowrap; }
td.id { color: var(--muted); font-size: 12px; }
tr.failed td.message { color: var(--bad); }
tr.skipped td.message { color: var(--warn); }
.ok { color: var(--good); }
.bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); }
.flags { color: var(--warn); font-size: 12.5px; }
.verdict-regression { color: var(--bad); font-weight: 600; }
.verdict-improvement { color: var(--good); font-weight: 600; }
.verdict-unchanged { color: var(--muted); }
.verdict-inconclusive { color: var(--warn); }
table.env th { width: 24%; white-space: normal; font-weight: 500; }
table.env td { word-break: break-word; }
tr.differs th, tr.differs td { background: #fff8c5; }
.notice { border: 1px solid #d4a72c; background: #fff8c5; padding: 10px 14px; border-radius: 6px; margin: 10px 0; }
.panel { border: 1px dashed var(--line); background: var(--bg-alt); color: var(--muted);
  padding: 18px; border-radius: 6px; text-align: center; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 18px 26px; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 13px; margin-bottom: 4px; }
figcaption strong { color: var(--fg); }
.canvas { position: relative; width: 100%; }
.chart-error { color: var(--bad); }
ul.plain { padding-left: 18px; margin: 6px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
.answer { margin: 10px 0 14px; }
.answer h2.answer-h { font-size: 15px; margin: 12px 0 4px; padding: 0; border: 0; }
.answer .verdict li { margin: 3px 0; }
.answer .advice { font-size: 15px; border-left: 4px solid var(--good); padding: 4px 10px; margin: 10px 0; background: var(--bg-alt); }
table.projection { width: auto; font-size: 12.5px; }
table.projection tbody th { background: none; font-weight: 500; }
table.projection tr.user th, table.projection tr.user td { background: #ddf4ff; }
@media (max-width: 700px) { body { padding: 12px; } .charts { grid-template-columns: 1fr; }
  h1 { font-size: 20px; } .answer .advice { font-size: 14px; }
  table.projection th, table.projection td { padding: 3px 4px; } }
@media (max-width: 560px) { table.projection .more { display: none; } }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav { display: none; }
  h2 { break-before: auto; break-after: avoid; }
  h3 { break-after: avoid; }
  tr { break-inside: avoid; }
  .charts { display: block; }
  figure { margin: 0 0 12px; }
  canvas { max-width: 100% !important; height: auto !important; }
  a { color: inherit; text-decoration: none; }
}
`.trim();
