import assert from "node:assert/strict";
import { assertSnapshot } from "../bench/util/testing.ts";
import { baselineProfile, limitsProfile, sampledProfile } from "./_fixtures.ts";
import {
  type BmfMetric,
  CSV_COLUMNS,
  type GabEntry,
  renderBmf,
  renderCsv,
  renderGab,
} from "./dashboards.ts";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { buildReport } from "./model.ts";
import { measuredProfile } from "../bench/compare/_testing.ts";

const view = (profile = baselineProfile()) => buildReport([{ profile }]).profiles[0]!;

Deno.test("BMF and github-action-benchmark JSON match their snapshots", async () => {
  await assertSnapshot(renderBmf(view()), new URL("./testdata/one.bmf.json.snap", import.meta.url));
  await assertSnapshot(renderGab(view()), new URL("./testdata/one.gab.json.snap", import.meta.url));
});

Deno.test("BMF: latency in ns with its interval, GB/s as a measure of its own, completed cases only", () => {
  const p = view();
  const bmf = JSON.parse(renderBmf(p)) as Record<string, Record<string, BmfMetric>>;
  assert.deepEqual(Object.keys(bmf), p.cases.filter((c) => c.stats).map((c) => c.id));
  for (const c of p.cases.filter((c) => c.stats)) {
    const latency = bmf[c.id]!.latency!;
    assert.ok(Math.abs(latency.value - c.stats!.median * 1e6) < 1);
    assert.ok(latency.lower_value! <= latency.value && latency.value <= latency.upper_value!);
    const gbps = bmf[c.id]!["throughput-gbps"]!;
    assert.ok(gbps.lower_value! <= gbps.value && gbps.value <= gbps.upper_value!);
  }
});

Deno.test("github-action-benchmark: customSmallerIsBetter entries in ms, with range and extra", () => {
  const gab = JSON.parse(renderGab(view(limitsProfile()))) as GabEntry[];
  assert.equal(gab.length, 4);
  for (const entry of gab) {
    assert.deepEqual(Object.keys(entry).sort(), ["extra", "name", "range", "unit", "value"]);
    assert.equal(entry.unit, "ms");
    assert.equal(typeof entry.value, "number");
    assert.match(entry.range!, /^95% CI \d/);
  }
  assert.match(gab[0]!.extra!, /GB\/s\n5\d% of storage cold\n5 samples\nverified ✓ 5$/);
  const sampled = JSON.parse(renderGab(view(sampledProfile()))) as GabEntry[];
  assert.deepEqual(sampled.map((e) => e.extra!.split("\n").find((l) => l.startsWith("verified"))), [
    "verified ✓ 5",
    "verified ✓ 5",
    "verified ✓ 5 sampled",
    "verified ✓ 5 mixed",
  ]);
});

Deno.test("dashboards: no interval where the samples are too few for one", () => {
  const p = view(measuredProfile([{ strategy: "mmap", cache: "cold", durations: [400, 410] }]));
  const bmf = JSON.parse(renderBmf(p)) as Record<string, Record<string, BmfMetric>>;
  assert.deepEqual(Object.keys(bmf[p.cases[0]!.id]!.latency!), ["value"]);
  const [entry] = JSON.parse(renderGab(p)) as GabEntry[];
  assert.equal(entry!.range, undefined);
  assert.match(entry!.extra!, /2 samples/);
});

Deno.test("CSV: a header and a row per case, every state, quoted where it must be", () => {
  const report = buildReport([{ profile: syntheticProfile() }]);
  const csv = renderCsv(report.profiles[0]!);
  assert.ok(csv.endsWith("\r\n"));
  const lines = csv.trimEnd().split("\r\n");
  assert.equal(lines[0], CSV_COLUMNS.join(","));
  assert.equal(lines.length, 1 + report.profiles[0]!.cases.length);
  const first = lines[1]!.split(",");
  assert.equal(first[0], "llama-3-8b-512MiB-F16-2shards/full-read/host/cold");
  assert.equal(first[5], "completed");
  assert.equal(first[6], "5");
  assert.ok(Math.abs(Number(first[7]) - report.profiles[0]!.cases[0]!.stats!.median) < 1e-6);
  assert.match(
    csv,
    /,errored,.*,"?Tensor ""w"" differs on host"?\r\n/,
    "quotes doubled inside quotes",
  );
  assert.match(csv, /,skipped,(,){13}not on this target\r\n/, "nothing measured: empty cells");
});
