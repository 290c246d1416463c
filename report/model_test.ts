import assert from "node:assert/strict";
import type { Profile } from "../profiles/schema.ts";
import {
  baselineProfile,
  currentProfile,
  limitsProfile,
  partialProfile,
  sampledProfile,
  unrelatedProfile,
} from "./_fixtures.ts";
import { buildReport } from "./model.ts";

Deno.test("one profile: every case with its label, load times and representative sample", () => {
  const report = buildReport([{ profile: baselineProfile(), source: "a.json" }]);
  assert.equal(report.comparison, null);
  const p = report.profiles[0]!;
  assert.equal(p.source, "a.json");
  assert.equal(p.label, "bench-host @ 0123456 · 2026-01-01 00:00 UTC");
  assert.deepEqual(p.cases.map((c) => c.label), [
    "full-read · cold",
    "full-read · warm",
    "mmap · cold",
    "mmap · warm",
    "mmap(advice=sequential) · cold",
    "mmap(advice=sequential) · warm",
  ]);
  assert.deepEqual(p.groups, [{
    title: "llama-3-8b-512MiB-F16-2shards · host",
    cases: [0, 1, 2, 3, 4, 5],
  }]);
  const first = p.cases[0]!;
  assert.equal(first.durations.length, 5, "warmup samples are left out");
  const sample = first.representative!;
  const closest = Math.min(...first.durations.map((d) => Math.abs(d - first.stats!.median)));
  assert.equal(Math.abs(sample.durationMs - first.stats!.median), closest);
  assert.ok(
    sample.spans.every((s) => s.start < sample.durationMs),
    "spans after the load left out",
  );
  assert.ok(!sample.spans.some((s) => s.phase === "verify"));
  assert.equal(sample.gpuMemory, null);
  assert.equal(p.cases[4]!.state, "skipped");
  assert.equal(p.cases[4]!.message, "not on this target");
  assert.equal(p.cases[5]!.message, 'Tensor "w" differs on host');
  assert.match(p.cases[3]!.flags.join(), /noisy \(CV \d+%\)/);
  assert.equal(p.hasLimits, false);
  assert.ok(
    p.environment.some(([k, v]) => k === "machine limits" && v.includes("deno task probe")),
  );
});

Deno.test("machine limits and GPU memory samples are read when present", () => {
  const p = buildReport([{ profile: limitsProfile() }]).profiles[0]!;
  assert.equal(p.hasLimits, true);
  const cold = p.cases[0]!.stats!.ofLimit!;
  assert.equal(cold.limit, "storage cold");
  assert.equal(cold.limitGBps, 2.5);
  assert.equal(p.cases[0]!.representative!.gpuMemory!.length, 21);
  assert.ok(p.environment.some(([k]) => k === "limit: cuda:0"));
});

Deno.test("several profiles: cases matched by id, ratio, interval and verdict against the first", () => {
  const report = buildReport([{ profile: baselineProfile() }, { profile: currentProfile() }]);
  const comparison = report.comparison!;
  assert.equal(comparison.unrelated, null);
  const verdicts = Object.fromEntries(
    comparison.rows.map((row) => [row.label, row.cells[1]!.verdict]),
  );
  assert.deepEqual(verdicts, {
    "full-read · cold": "regression",
    "full-read · warm": "regression",
    "mmap · cold": "improvement",
    "mmap · warm": "inconclusive",
  });
  const slower = comparison.rows[0]!.cells[1]!;
  assert.ok(Math.abs(slower.ratio! - 1.3) < 1e-9);
  assert.ok(slower.ci!.low > 1 && slower.ci!.high > slower.ratio!);
  assert.ok(slower.pValue! < 0.01);
  assert.deepEqual(
    comparison.notComparable.map((n) => [n.label, n.reason.replace(/ in .*?UTC/, " in X")]),
    [
      ["mmap(advice=sequential) · cold", "skipped in X: not on this target"],
      ["mmap(advice=sequential) · warm", 'errored in X: Tensor "w" differs on host'],
      ["mmap(advice=willneed) · warm", "not in X"],
    ],
  );
});

Deno.test("profiles of unrelated scenarios: nothing compared, and the report says why", () => {
  const comparison = buildReport([
    { profile: baselineProfile() },
    { profile: unrelatedProfile() },
  ]).comparison!;
  assert.equal(comparison.rows.length, 0);
  assert.match(
    comparison.unrelated!,
    /No case could be compared: these profiles measured different things/,
  );
  assert.match(
    comparison.unrelated!,
    /synthetic on llama-3-8b-512MiB-F16-2shards; other on other-weights/,
  );
  assert.equal(comparison.notComparable.length, 12);
});

Deno.test("the same case id over different weights is not comparable", () => {
  const other = structuredClone(currentProfile()) as unknown as {
    cases: { samples: { bytes: number }[] }[];
  };
  for (const s of other.cases[0]!.samples) s.bytes *= 2;
  const comparison = buildReport([
    { profile: baselineProfile() },
    { profile: other as unknown as Profile },
  ]).comparison!;
  const reason = comparison.notComparable.find((n) => n.label === "full-read · cold")?.reason;
  assert.match(reason ?? "", /different weights: 512\.00 MiB of tensors in .*, 1\.00 GiB in/);
});

Deno.test("a case's verification: how many samples, and how they were checked", () => {
  const p = buildReport([{ profile: sampledProfile() }]).profiles[0]!;
  assert.deepEqual(p.cases.slice(0, 4).map((c) => c.stats!.verified), [
    { samples: 5, mode: "all" },
    { samples: 5, mode: "all" },
    { samples: 5, mode: "sampled" },
    { samples: 5, mode: "mixed" },
  ]);
});

Deno.test("a run that did not finish says so, with how much it measured", () => {
  const complete = buildReport([{ profile: baselineProfile() }]).profiles[0]!;
  assert.equal(complete.partial, null);
  assert.ok(!complete.environment.some(([k, v]) => k === "run" && v.includes(";")));
  const interrupted = buildReport([{ profile: partialProfile("interrupted", "SIGTERM") }])
    .profiles[0]!;
  assert.equal(
    interrupted.partial,
    "Partial run: interrupted by SIGTERM — 4 of 6 cases measured, with the samples taken before the interruption",
  );
  assert.deepEqual(interrupted.cases[2]!.durations.length, 2, "the samples taken are kept");
  assert.match(
    interrupted.environment.find(([k]) => k === "run")![1],
    /warmup samples per case; interrupted by SIGTERM$/,
  );
  const running = buildReport([{ profile: partialProfile("running") }]).profiles[0]!;
  assert.match(
    running.partial!,
    /^Partial run: the profile was written while running and the run did not finish \(killed\?\) — 4 of 6 cases measured/,
  );
  const unnamed = buildReport([{ profile: partialProfile("interrupted", null) }]).profiles[0]!;
  assert.match(unnamed.partial!, /^Partial run: interrupted — 4 of 6 cases/);
});

Deno.test("environment rows read as text: a target's facts as key and value, never JSON", () => {
  const p = buildReport([{ profile: limitsProfile() }]).profiles[0]!;
  const row = (key: string) => p.environment.find(([k]) => k === key)?.[1];
  assert.equal(row("target host"), "kind host, arenaBytes 512.00 MiB, copyThreads 2");
  assert.equal(
    row("limit: storage, cold (O_DIRECT)"),
    "2.50 GB/s (block 1.00 MiB, depth 8)",
  );
  assert.equal(row("Deno"), "2.0.0 (V8 13.0, TypeScript 5.6)");
  for (const [key, value] of p.environment) {
    assert.ok(!/[{}"]/.test(value), `${key}: ${value}`);
  }
  const odd = { ...baselineProfile(), targets: { "cuda:0": { name: "H100", uuid: null } } };
  const gpu = buildReport([{ profile: odd }]).profiles[0]!;
  assert.equal(gpu.environment.find(([k]) => k === "target cuda:0")?.[1], "name H100, uuid —");
});
