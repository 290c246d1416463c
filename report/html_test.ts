import assert from "node:assert/strict";
import { assertSnapshot } from "../bench/util/testing.ts";
import {
  baselineProfile,
  currentProfile,
  hostileProfile,
  INJECTION,
  limitsProfile,
  partialProfile,
  quickProfile,
  sampledProfile,
  unrelatedProfile,
} from "./_fixtures.ts";
import { measuredProfile } from "../bench/compare/_testing.ts";
import { loadAssets } from "./assets.ts";
import { renderHtml } from "./html.ts";
import { buildReport } from "./model.ts";
import type { Profile } from "../profiles/schema.ts";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { caseStats } from "../profiles/case_stats.ts";

/** Stand-ins for chart.js and the drawing script, so snapshots show only the report. */
const STUB = { chartJs: "/* chart.js */", clientJs: "/* client */" };

const html = (...profiles: Profile[]) =>
  renderHtml(buildReport(profiles.map((profile) => ({ profile }))), STUB);

/** The JSON embedded in the page, parsed back. */
function embedded(page: string): {
  profiles: { cases: { label: string; durations: number[] }[] }[];
  comparison: { labels: string[] } | null;
} {
  const match = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page);
  assert.ok(match, "no embedded data");
  return JSON.parse(match[1]!);
}

Deno.test("the HTML of one profile matches its snapshot", async () => {
  await assertSnapshot(
    html(baselineProfile()),
    new URL("./testdata/one.html.snap", import.meta.url),
  );
});

Deno.test("the HTML of two profiles matches its snapshot", async () => {
  await assertSnapshot(
    html(baselineProfile(), currentProfile()),
    new URL("./testdata/compare.html.snap", import.meta.url),
  );
});

Deno.test("one profile: a row per case, a chart per view, no limits said plainly, no GPU panel", () => {
  const page = html(baselineProfile());
  assert.equal(page.match(/<tr class="case[ "]/g)?.length, 6);
  for (const chart of ["phases", "throughput", "distribution"]) {
    assert.equal(page.split(`data-chart="${chart}"`).length - 1, 1, chart);
  }
  assert.equal(
    page.split('data-chart="timeline"').length - 1,
    4,
    "one timeline per completed case",
  );
  assert.match(
    page,
    /% of limit: — because this profile has no machine limits \(run <code>deno task probe<\/code>\)/,
  );
  assert.match(page, /No GPU memory samples in this profile \(host target\)/);
  assert.match(page, /skipped: not on this target/);
  assert.match(page, /errored: Tensor &quot;w&quot; differs on host/);
  assert.ok(!page.includes('data-chart="gpu"'));
  assert.equal(embedded(page).profiles[0]!.cases[0]!.durations.length, 5);
});

Deno.test("with machine limits: % of limit per case and a GPU memory chart", () => {
  const page = html(limitsProfile());
  assert.match(page, /title="storage cold: 2\.50 GB\/s">5\d%</);
  assert.ok(!page.includes("because this profile has no machine limits"));
  assert.ok(page.includes('data-chart="gpu"'));
  assert.ok(!page.includes("No GPU memory samples"));
});

Deno.test("two profiles: ratios, verdicts, not comparable cases and environments side by side", () => {
  const page = html(baselineProfile(), currentProfile());
  assert.equal(page.match(/<tr class="compare/g)?.length, 8);
  assert.equal(page.match(/▲ slower/g)?.length, 2);
  assert.equal(page.match(/▼ faster/g)?.length, 1);
  assert.match(
    page,
    /<li data-case-id="[^"]*willneed[^"]*"><strong>mmap\(advice=willneed\) · warm<\/strong>.*not in bench-host @ 0123456/,
  );
  assert.match(page, /<tr class="differs"><th>commit<\/th>/);
  assert.ok(page.includes('data-chart="compare-time"'));
  assert.deepEqual(embedded(page).comparison!.labels, [
    "full-read · cold",
    "full-read · warm",
    "mmap · cold",
    "mmap · warm",
  ]);
});

Deno.test("unrelated profiles: a notice naming both scenarios, each profile still shown", () => {
  const page = html(baselineProfile(), unrelatedProfile());
  assert.match(
    page,
    /<p class="notice unrelated">No case could be compared: these profiles measured different things/,
  );
  assert.equal(page.match(/<section class="profile"/g)?.length, 2);
  assert.equal(page.match(/<tr class="case[ "]/g)?.length, 12);
  assert.ok(!page.includes('data-chart="compare-time"'));
});

Deno.test("a profile with no completed case says so instead of drawing empty charts", () => {
  const p = structuredClone(baselineProfile()) as unknown as { cases: Record<string, unknown>[] };
  p.cases = p.cases.map((c) => ({ ...c, state: "errored", error: "boom", stats: null }));
  const page = html(p as unknown as Profile);
  assert.match(page, /No case of this profile completed with timed samples/);
  assert.ok(!page.includes("<canvas"));
  assert.equal(page.match(/errored: boom/g)?.length, 6);
});

Deno.test("verification: the samples checked, and `sampled` or `mixed` when not every byte was", () => {
  const page = html(sampledProfile());
  const cells = [...page.matchAll(/<td><span class="ok">([^<]*)<\/span><\/td>/g)].map((m) => m[1]);
  assert.deepEqual(cells, ["✓ 5", "✓ 5", "✓ 5 sampled", "✓ 5 mixed"]);
});

Deno.test("a run that did not finish says so at the top of the page, and of its section when compared", () => {
  const interrupted = html(partialProfile("interrupted"));
  const notice =
    `<p class="notice partial">Partial run: interrupted by SIGINT — 4 of 6 cases measured, with the samples taken before the interruption</p>`;
  assert.ok(interrupted.includes(notice));
  assert.ok(interrupted.indexOf(notice) < interrupted.indexOf("</header>"), "in the header");
  assert.match(
    html(partialProfile("running")),
    /<p class="notice partial">Partial run: the profile was written while running and the run did not finish \(killed\?\) — 4 of 6 cases measured/,
  );
  assert.ok(!html(baselineProfile()).includes("Partial run"));
  const compared = html(baselineProfile(), partialProfile("interrupted"));
  assert.equal(compared.match(/class="notice partial"/g)?.length, 1);
  assert.ok(
    compared.indexOf(notice) > compared.indexOf('<section class="profile" id="profile-1-section">'),
    "in the section of the partial profile",
  );
});

Deno.test("strings from a profile cannot inject markup or script", () => {
  const page = html(hostileProfile());
  assert.ok(!page.includes(INJECTION), "the raw string appears nowhere");
  assert.ok(!/<script>alert/i.test(page));
  assert.ok(!/<img/i.test(page));
  assert.ok(!page.includes("<!--"));
  // Exactly the page's own three script elements, and each closes where it should.
  assert.equal(page.match(/<script/g)?.length, 3);
  assert.equal(page.match(/<\/script>/g)?.length, 3);
  assert.ok(
    page.includes(
      "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;",
    ),
  );
  const data = embedded(page);
  assert.ok(data.profiles[0]!.cases[0]!.label.includes(INJECTION), "the data round-trips intact");
  // Only the page's own scripts may run, by hash; nothing may be fetched.
  const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(page)?.[1] ?? "";
  assert.match(
    csp,
    /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+';/,
  );
  assert.ok(!/script-src[^;]*unsafe-inline/.test(csp));
});

Deno.test("the same profiles always give the same page", () => {
  assert.equal(
    html(baselineProfile(), currentProfile()),
    html(baselineProfile(), currentProfile()),
  );
});

Deno.test("with the real chart.js inlined, one profile's page stays under 400 KB", async () => {
  const assets = await loadAssets();
  const page = renderHtml(buildReport([{ profile: limitsProfile() }]), assets);
  const size = new TextEncoder().encode(page).length;
  assert.ok(size < 400_000, `${size} bytes`);
  assert.ok(page.includes("Chart.js v4.6.1"));
  assert.ok(!page.includes("sourceMappingURL"), "no source map to fetch");
  assert.ok(!/(src|href)="https?:/.test(page), "nothing loaded from the network");
});

Deno.test("the page opens on the answer: verdict, advice and projection before the summary", () => {
  const page = html(quickProfile());
  const at = (text: string) => {
    const i = page.indexOf(text);
    assert.ok(i >= 0, `${text} not on the page`);
    return i;
  };
  const summary = at('<table class="summary"');
  for (
    const part of ['data-answer="verdict"', 'data-answer="advice"', 'data-answer="projection"']
  ) {
    assert.ok(at(part) < summary, `${part} after the summary`);
  }
  assert.ok(at('data-answer="verdict"') < at("<nav>"), "the answer before the navigation");
  assert.match(page, /<strong>Cold:<\/strong> sharded is fastest — 226\.3 ms/);
  assert.match(page, /<strong>Advice for host:<\/strong> on this machine, load with mmap/);
  assert.match(page, /<th>405B · FP16 \*<\/th>/);
});

Deno.test("one sample: no interval and no IQR shown, in the table or the charts' data", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: [531] },
    { strategy: "mmap", cache: "cold", durations: [400, 410] },
  ]);
  const page = html(profile);
  assert.doesNotMatch(page, /531\.0 ms – 531\.0 ms/);
  assert.match(page, /<td class="num">1 sample<\/td><td class="num">1 sample<\/td>/);
  assert.match(page, /<td class="num">n too small for a CI<\/td>/);
  const data = embedded(page) as unknown as {
    profiles: { cases: { ciLow: number | null; gbpsLow: number | null }[] }[];
  };
  for (const c of data.profiles[0]!.cases) {
    assert.equal(c.ciLow, null);
    assert.equal(c.gbpsLow, null);
  }
});

Deno.test("the phase chart names the cases whose phases overlap, and by how much", async () => {
  const profile = syntheticProfile();
  const first = profile.cases[0]!;
  // Reads and copies at the same time, as a streamed load does: each phase spans the whole load.
  const samples = first.samples.map((s) => ({
    ...s,
    spans: [
      { phase: "read" as const, start: 0, end: s.durationMs },
      { phase: "copy" as const, start: 0, end: s.durationMs },
    ],
  }));
  const overlapping: Profile = {
    ...profile,
    cases: [{ ...first, samples, stats: { ...caseStats(samples)!, ofLimit: null } }],
  };
  const html = renderHtml(buildReport([{ profile: overlapping }]), await loadAssets());
  assert.match(html, /stack passes the tick: full-read · cold \(2\.0×\)/);
});
