/**
 * Generated reports opened as a person would: in headless Chromium, from
 * file://. Each page must load with no console message, no error, no dialog
 * and no request but its own file; every chart's canvas must have drawn
 * pixels; the tables must have their rows. Screenshots go to
 * `report/.artifacts/` (git-ignored) for a look. Skipped, with the reason
 * printed, where Chromium is not installed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import type { Profile } from "../profiles/schema.ts";
import { testUnless, withTempDir } from "../bench/util/testing.ts";
import { browserSkipReason, checkPage, launchBrowser, type PageCheck } from "./_browser.ts";
import {
  baselineProfile,
  currentProfile,
  hostileProfile,
  limitsProfile,
  quickProfile,
  unrelatedProfile,
} from "./_fixtures.ts";
import { loadAssets } from "./assets.ts";
import { renderHtml } from "./html.ts";
import { buildReport } from "./model.ts";
import { renderIndex } from "./site.ts";

const ARTIFACTS = new URL(".artifacts/", import.meta.url);

/** The checks every page must pass. */
function assertClean(check: PageCheck, file: string, name: string): void {
  assert.deepEqual(check.console, [], `${name}: console messages`);
  assert.deepEqual(check.pageErrors, [], `${name}: page errors`);
  assert.deepEqual(check.dialogs, [], `${name}: dialogs`);
  assert.deepEqual(check.requests, [pathToFileURL(file).href], `${name}: requests`);
  assert.ok(check.ready, `${name}: the drawing script did not finish`);
  assert.ok(check.charts.length > 0, `${name}: no charts`);
  assert.equal(check.chartsDrawn, check.charts.length, `${name}: charts drawn`);
  for (const chart of check.charts) {
    assert.ok(
      chart.width > 100 && chart.height > 50,
      `${name}: ${chart.chart} is ${chart.width}×${chart.height}`,
    );
    // Axes alone are a few thousand pixels; a chart with its data has many more.
    assert.ok(
      chart.drawnPixels > 5_000,
      `${name}: ${chart.chart} drew ${chart.drawnPixels} pixels`,
    );
  }
}

/** A box on the page, in CSS pixels from the viewport's top left. */
interface Box {
  readonly top: number;
  readonly right: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Where the answer's parts are on a freshly opened page: the verdict, the
 * advice, and the first row of numbers of the projection.
 */
const ANSWER_BOXES = `(() => {
  const box = (selector) => {
    const element = document.querySelector(selector);
    if (!element) return null;
    const r = element.getBoundingClientRect();
    return { top: r.top, right: r.right, width: r.width, height: r.height };
  };
  return {
    verdict: box('[data-answer="verdict"]'),
    advice: box('[data-answer="advice"]'),
    projection: box('[data-answer="projection"] table.projection tbody tr'),
  };
})()`;

async function count(page: Page, selector: string): Promise<number> {
  return await page.locator(selector).count();
}

testUnless(
  browserSkipReason(),
  "reports open from file:// in Chromium: no errors, no network, every chart drawn",
  async (t) => {
    const assets = await loadAssets();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using browser = await launchBrowser();
    await withTempDir(async (dir) => {
      const open = async (
        name: string,
        html: string,
        inspect: (page: Page) => Promise<void>,
      ) => {
        const file = join(dir, `${name}.html`);
        await Deno.writeTextFile(file, html);
        const check = await checkPage(browser, file, {
          screenshot: new URL(`${name}.png`, ARTIFACTS).pathname,
          inspect,
        });
        assertClean(check, file, name);
        return check;
      };
      const report = (...profiles: Profile[]) =>
        renderHtml(buildReport(profiles.map((profile) => ({ profile }))), assets);

      await t.step("one profile, with machine limits and GPU memory", async () => {
        const check = await open("one", report(limitsProfile()), async (page) => {
          assert.equal(await count(page, "table.summary tbody tr"), 6);
          assert.equal(await count(page, "table.env tbody tr") > 15, true);
          assert.equal(await count(page, ".gpu-none"), 0);
        });
        const kinds = check.charts.map((c) => c.chart).sort();
        assert.deepEqual([...new Set(kinds)], [
          "distribution",
          "gpu",
          "phases",
          "throughput",
          "timeline",
        ]);
      });

      await t.step(
        "one profile of the host target: the GPU panel says there are no samples",
        async () => {
          await open("host", report(baselineProfile()), async (page) => {
            assert.match(
              await page.locator(".gpu-none").innerText(),
              /No GPU memory samples in this profile \(host target\)/,
            );
          });
        },
      );

      await t.step("two profiles compared", async () => {
        const check = await open(
          "compare",
          report(baselineProfile(), currentProfile()),
          async (page) => {
            assert.equal(await count(page, "table.comparison tbody tr"), 8);
            assert.equal(await count(page, "table.comparison .verdict-regression"), 2);
            assert.equal(await count(page, "ul.not-comparable li"), 3);
            assert.equal(await count(page, "table.summary"), 2);
          },
        );
        assert.ok(check.charts.some((c) => c.chart === "compare-time"));
      });

      await t.step("unrelated profiles: a notice, and each profile on its own", async () => {
        await open("unrelated", report(baselineProfile(), unrelatedProfile()), async (page) => {
          assert.match(
            await page.locator(".notice.unrelated").innerText(),
            /No case could be compared/,
          );
          assert.equal(await count(page, "table.summary tbody tr"), 12);
        });
      });

      await t.step("a hostile profile: its strings show as text and nothing runs", async () => {
        await open("hostile", report(hostileProfile()), async (page) => {
          assert.equal(await count(page, "img"), 0);
          assert.equal(await count(page, "script"), 3);
          assert.match(await page.locator("h1").innerText(), /<\/script><script>alert\(1\)/);
          assert.equal(await count(page, "table.summary tbody tr"), 6);
        });
      });

      await t.step(
        "the answer first: verdict, advice and projection above the fold, wide and narrow",
        async () => {
          const file = join(dir, "answer.html");
          await Deno.writeTextFile(file, report(quickProfile()));
          for (const [width, height] of [[1400, 900], [420, 900]] as const) {
            const name = `answer-${width}`;
            const check = await checkPage(browser, file, {
              width,
              height,
              screenshot: new URL(`${name}.png`, ARTIFACTS).pathname,
              screenshotFold: new URL(`${name}-fold.png`, ARTIFACTS).pathname,
              inspect: async (page) => {
                const boxes = await page.evaluate(ANSWER_BOXES) as Record<string, Box | null>;
                for (const [what, box] of Object.entries(boxes)) {
                  assert.ok(box !== null, `${name}: no ${what}`);
                  assert.ok(box.width > 0 && box.height > 0, `${name}: ${what} is not shown`);
                  assert.ok(
                    box.top >= 0 && box.top + Math.min(box.height, 40) <= height,
                    `${name}: ${what} starts at ${box.top} px, below the fold at ${height} px`,
                  );
                  assert.ok(box.right <= width + 1, `${name}: ${what} is ${box.right} px wide`);
                }
                assert.match(
                  await page.locator(".answer .advice").innerText(),
                  /^Advice for host: on this machine, load with \S+/,
                );
              },
            });
            assertClean(check, file, name);
          }
        },
      );

      await t.step("the index of a folder of runs", async () => {
        const runs = [baselineProfile(), currentProfile()].map((profile, i) => ({
          profile: buildReport([{ profile }]).profiles[0]!,
          href: `run-${i}.html`,
        }));
        const check = await open(
          "index",
          renderIndex({ title: "nightly", runs, skipped: [] }, assets),
          async (page) => {
            assert.equal(await count(page, "table.runs tbody tr"), 2);
          },
        );
        assert.ok(check.charts.every((c) => c.chart === "trend"));
      });
    });
  },
);
