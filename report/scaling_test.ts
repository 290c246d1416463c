import assert from "node:assert/strict";
import { join } from "node:path";
import { planBench } from "../bench/run/options.ts";
import { runBench } from "../bench/run/bench.ts";
import { parseScenario } from "../bench/scenarios/schema.ts";
import { testUnless, withTempDir } from "../bench/util/testing.ts";
import type { Profile } from "../profiles/schema.ts";
import { browserSkipReason, checkPage, launchBrowser } from "./_browser.ts";
import { loadAssets } from "./assets.ts";
import { renderHtml } from "./html.ts";
import { buildReport } from "./model.ts";
import { readersOf, scalingCharts, scalingHtml, scalingView, sizeText } from "./scaling.ts";

const MiB = 2 ** 20;

/** A real run: two strategies at three model sizes, and the sharded one at 1 and 2 readers. */
async function scalingProfile(dir: string): Promise<Profile> {
  const fixture = (size: string, shards: number) => ({
    fixture: { layout: "llama-3.2-1b", size, dtype: "F16", shards },
  });
  const plan = await planBench({
    scenario: parseScenario({
      name: "scaling-test",
      weights: [fixture("2MiB", 1), fixture("4MiB", 1), fixture("8MiB", 1), fixture("8MiB", 4)],
      strategies: [
        "mmap",
        "parallel",
        { name: "sharded", options: { readers: 1 } },
        { name: "sharded", options: { readers: 2 } },
      ],
      targets: ["host"],
      cache: ["warm"],
      runs: 1,
      warmup: 0,
    }, "scaling-test"),
    out: join(dir, "profiles"),
    fixtureRoot: join(dir, "fixtures"),
    probe: false,
  });
  return (await runBench(plan)).profile;
}

Deno.test("scaling: a run at several sizes gives a curve per strategy, and the readers curve", async () => {
  await withTempDir(async (dir) => {
    const report = buildReport([{ profile: await scalingProfile(dir) }]);
    const profile = report.profiles[0]!;
    const view = scalingView(profile);
    assert.ok(view, "no scaling view");
    // Three single-file sizes; the 4-shard model holds the same 8 MiB as the third.
    assert.equal(view.sizes.length, 3);
    assert.ok(view.sizes.every((s, i) => i === 0 || s > view.sizes[i - 1]!));
    assert.ok(Math.abs(view.sizes[2]! - 8 * MiB) < MiB, `largest size ${view.sizes[2]}`);
    const strategies = view.series.map((s) => s.strategy).sort();
    // readers=2 is the default on a 2-core machine, and a label names only what differs.
    assert.equal(strategies.length, 4);
    assert.deepEqual(strategies.slice(0, 2), ["mmap", "parallel"]);
    for (const series of view.series) {
      assert.ok(series.points.every((p) => p.gbps > 0 && p.loadRssBytes !== null));
    }
    assert.equal(view.readers.length, 4, "one readers curve per model");
    const sharded = view.readers.find((r) => r.weights.includes("4shards"))!;
    assert.deepEqual(sharded.points.map((p) => p.readers), [1, 2]);

    const charts = scalingCharts(view) as Record<string, { data: { labels: string[] } }>;
    assert.deepEqual(Object.keys(charts).sort(), ["gbps", "readers", "rss"]);
    assert.deepEqual(charts.gbps!.data.labels, ["2 MiB", "4 MiB", "8 MiB"]);
    const html = scalingHtml(profile, 0).join("\n");
    assert.match(html, /<h3 id="profile-0-scaling">Scaling<\/h3>/);
    assert.equal(html.match(/<canvas data-chart="scaling"/g)?.length, 3);
    assert.equal(html.match(/<tr><td>/g)?.length, 4, "one table row per strategy");
  });
});

Deno.test("scaling: one size and no reader counts draw nothing", () => {
  const one = (strategy: string) => ({
    weights: "w",
    bytes: MiB,
    strategy,
    strategyOptions: strategy === "sharded" ? { readers: 2 } : {},
    target: "host",
    cache: "cold",
    stats: { gbps: { median: 1 }, loadRssBytes: MiB, peakRssBytes: MiB },
  });
  const cases = [one("mmap"), one("sharded")];
  // deno-lint-ignore no-explicit-any
  assert.equal(scalingView({ cases } as any), null);
  // deno-lint-ignore no-explicit-any
  assert.deepEqual(scalingHtml({ cases } as any, 0), []);
  assert.equal(sizeText(2 ** 30 - 20_000), "1 GiB");
  assert.equal(sizeText(64 * MiB), "64 MiB");
  assert.equal(sizeText(256 * MiB + 5), "256 MiB");
  assert.equal(readersOf({ strategy: "sharded(depth=1)", strategyOptions: { readers: 8 } }), 8);
  assert.equal(readersOf({ strategy: "sharded", strategyOptions: { readers: 2 } }), 2);
  assert.equal(readersOf({ strategy: "parallel", strategyOptions: { readers: 2 } }), undefined);
});

testUnless(
  browserSkipReason(),
  "scaling: the curves draw in Chromium from file://, with no error",
  async () => {
    await withTempDir(async (dir) => {
      const html = renderHtml(
        buildReport([{ profile: await scalingProfile(dir) }]),
        await loadAssets(),
      );
      const file = join(dir, "scaling.html");
      await Deno.writeTextFile(file, html);
      await using browser = await launchBrowser();
      const artifacts = new URL(".artifacts/", import.meta.url);
      await Deno.mkdir(artifacts, { recursive: true });
      const check = await checkPage(browser, file, {
        screenshot: new URL("scaling.png", artifacts).pathname,
      });
      assert.deepEqual(check.pageErrors, []);
      assert.deepEqual(check.console, []);
      assert.ok(check.ready, "the drawing script did not finish");
      const scaling = check.charts.filter((c) => c.chart === "scaling");
      assert.equal(scaling.length, 3);
      for (const chart of scaling) assert.ok(chart.drawnPixels > 5_000, `${chart.drawnPixels} px`);
      assert.equal(check.chartsDrawn, check.charts.length);
    });
  },
);
