/**
 * Opens generated pages in headless Chromium (Debian's `chromium` driven by
 * playwright-core) and reports what a person would notice: console messages
 * and page errors, every network request, whether each chart's canvas drew
 * anything, and a screenshot. For tests and for looking at a report by hand:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-run --allow-sys --allow-ffi \
 *   report/_browser.ts /tmp/report.html /tmp/report.png
 * ```
 *
 * @module
 */

import fs from "node:fs";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";

/** Where Chromium is: `WEIGHTBENCH_CHROMIUM`, or Debian's package. @default "/usr/bin/chromium" */
export function chromiumPath(): string {
  return Deno.env.get("WEIGHTBENCH_CHROMIUM") ?? "/usr/bin/chromium";
}

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserSkipReason(): string | undefined {
  const path = chromiumPath();
  try {
    if (!Deno.statSync(path).isFile) return `${path} is not a file`;
  } catch {
    return `no Chromium at ${path} (apt-get install chromium, or set WEIGHTBENCH_CHROMIUM)`;
  }
  return undefined;
}

/** Flags for a quiet, offline, throwaway browser. */
const ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
];

/**
 * Launches Chromium (a fresh profile in a temporary folder, which playwright
 * makes and removes). Close it with `await using` or `close()`.
 */
export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  // playwright-core probes for WSL at import with fs.existsSync("/proc/sys/…"), which
  // Node answers false but Deno 2 throws NotCapable for without --allow-all. Give it
  // Node's behaviour (existsSync never throws) before the import.
  const existsSync = fs.existsSync;
  if (!(existsSync as { patched?: boolean }).patched) {
    const safe = (path: fs.PathLike) => {
      try {
        return existsSync(path);
      } catch {
        return false;
      }
    };
    (safe as { patched?: boolean }).patched = true;
    (fs as { existsSync: typeof fs.existsSync }).existsSync = safe;
  }
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ARGS });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** One chart on the page. */
export interface ChartCheck {
  readonly chart: string;
  readonly width: number;
  readonly height: number;
  /** Pixels that are not fully transparent. */
  readonly drawnPixels: number;
}

/** What opening a page showed. */
export interface PageCheck {
  /** Every console message, `type: text`. */
  readonly console: readonly string[];
  /** Uncaught errors. */
  readonly pageErrors: readonly string[];
  /** URL of every request the page made, its own file included. */
  readonly requests: readonly string[];
  /** alert(), confirm() or prompt() calls: there should never be any. */
  readonly dialogs: readonly string[];
  /** Whether the drawing script finished. */
  readonly ready: boolean;
  /** How many charts the drawing script says it drew. */
  readonly chartsDrawn: number;
  readonly charts: readonly ChartCheck[];
}

/** Counts the drawn pixels of every canvas on the page. */
const COUNT_PIXELS = `(() => {
  const charts = [...document.querySelectorAll("canvas")].map((canvas) => {
    const context = canvas.getContext("2d");
    let drawn = 0;
    if (context && canvas.width > 0 && canvas.height > 0) {
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn++;
    }
    return { chart: canvas.dataset.chart || "", width: canvas.width, height: canvas.height, drawnPixels: drawn };
  });
  return { charts, chartsDrawn: Number(document.documentElement.dataset.charts || "0") };
})()`;

/**
 * Opens `htmlPath` from file://, waits for the drawing script, and checks the
 * page; with `screenshot`, saves a full-page PNG there. `inspect` runs with
 * the page before it is closed.
 */
export async function checkPage(
  browser: Browser,
  htmlPath: string,
  options: {
    /** A full-page PNG. */
    screenshot?: string;
    /** A PNG of the viewport only: what a person sees before scrolling. */
    screenshotFold?: string;
    /** @default 1280 */
    width?: number;
    /** @default 900 */
    height?: number;
    inspect?: (page: Page) => Promise<void>;
  } = {},
): Promise<PageCheck> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const consoleMessages: string[] = [];
  const pageErrors: string[] = [];
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("request", (r) => requests.push(r.url()));
  page.on("dialog", (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  try {
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: "load" });
    // Page code as strings: it runs in the browser, where Deno's types do not apply.
    const ready = await page.waitForFunction(
      `document.documentElement.dataset.ready === "true"`,
      undefined,
      { timeout: 10_000 },
    ).then(() => true, () => false);
    const result = await page.evaluate(COUNT_PIXELS) as {
      charts: ChartCheck[];
      chartsDrawn: number;
    };
    if (options.screenshot) await page.screenshot({ path: options.screenshot, fullPage: true });
    if (options.screenshotFold) await page.screenshot({ path: options.screenshotFold });
    if (options.inspect) await options.inspect(page);
    return {
      console: consoleMessages,
      pageErrors,
      requests,
      dialogs,
      ready,
      chartsDrawn: result.chartsDrawn,
      charts: result.charts,
    };
  } finally {
    await context.close();
  }
}

if (import.meta.main) {
  const [html, png] = Deno.args;
  if (!html) {
    console.error("usage: report/_browser.ts PAGE.html [SCREENSHOT.png] [WIDTH]");
    Deno.exit(2);
  }
  await using browser = await launchBrowser();
  const check = await checkPage(browser, html, {
    ...(png ? { screenshot: png } : {}),
    ...(Deno.args[2] ? { width: Number(Deno.args[2]) } : {}),
  });
  console.log(JSON.stringify(check, null, 2));
}
