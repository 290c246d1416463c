import assert from "node:assert/strict";
import { baselineProfile, currentProfile, INJECTION } from "./_fixtures.ts";
import { buildReport } from "./model.ts";
import { renderIndex } from "./site.ts";

const STUB = { chartJs: "/* chart.js */", clientJs: "/* client */" };

Deno.test("the index lists runs newest first, draws a trend per case and names files that are not profiles", () => {
  const runs = [baselineProfile(), currentProfile()].map((profile, i) => ({
    profile: buildReport([{ profile }]).profiles[0]!,
    href: `run-${i}.html`,
  }));
  const page = renderIndex({
    title: "nightly",
    runs,
    skipped: [{ file: `bad${INJECTION}.json`, reason: "not valid JSON (truncated?)" }],
  }, STUB);
  const links = [...page.matchAll(/<tr class="run"><td class="num"><a href="([^"]+)">/g)].map((m) =>
    m[1]
  );
  assert.deepEqual(links, ["run-1.html", "run-0.html"]);
  // Every completed case id gets a chart: 4 in both runs, 1 only in the second.
  assert.equal(page.split('data-chart="trend"').length - 1, 5);
  const data = JSON.parse(
    /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page)![1]!,
  ) as { trends: { label: string; points: number[][] }[] };
  assert.equal(data.trends[0]!.points.length, 2);
  assert.ok(data.trends[0]!.points[0]![0]! < data.trends[0]!.points[1]![0]!, "oldest first");
  assert.match(page, /<code>bad&lt;\/script&gt;.*<\/code>: not valid JSON \(truncated\?\)/);
  assert.ok(!page.includes(INJECTION));
});

Deno.test("an index of runs with nothing completed says so", () => {
  const page = renderIndex({ title: "empty", runs: [], skipped: [] }, STUB);
  assert.match(page, /No completed case in these runs: nothing to draw/);
});
