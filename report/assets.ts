/**
 * The scripts a report inlines, read when a report is built: chart.js's UMD
 * bundle from the npm package pinned in deno.json (through `node_modules/`),
 * and the report's own drawing script, `_client.js`. The HTML builders take
 * them as an argument, so they stay pure and tests can pass stand-ins.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadAssets } from "./assets.ts";
 *
 * const assets = await loadAssets();
 * assert.match(assets.chartJs, /Chart\.js v4/);
 * assert.ok(assets.clientJs.includes("report-data"));
 * ```
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The scripts inlined into every HTML page. */
export interface Assets {
  /** chart.js's UMD bundle, which defines the global `Chart`. */
  readonly chartJs: string;
  /** The script that draws the charts from the page's embedded data. */
  readonly clientJs: string;
}

/** The bundle inside the chart.js package. */
const CHART_BUNDLE = "dist/chart.umd.min.js";

/** Where chart.js's UMD bundle is on this machine. */
export function chartJsPath(): string {
  // The package's module entry (`dist/chart.js` in node_modules); the bundle is beside it.
  const entry = fileURLToPath(import.meta.resolve("chart.js"));
  let dir = dirname(entry);
  for (let up = 0; up < 4; up++) {
    const candidate = join(dir, CHART_BUNDLE);
    try {
      Deno.statSync(candidate);
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  return join(dirname(dirname(entry)), CHART_BUNDLE);
}

/** Reads chart.js and the drawing script. */
export async function loadAssets(): Promise<Assets> {
  const path = chartJsPath();
  let chartJs: string;
  try {
    chartJs = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read chart.js at "${path}": install the npm dependencies (deno install)`,
      { cause: error },
    );
  }
  const clientJs = await Deno.readTextFile(new URL("./_client.js", import.meta.url));
  return { chartJs, clientJs };
}
