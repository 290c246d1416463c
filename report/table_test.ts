import assert from "node:assert/strict";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { limitFor } from "../profiles/limits.ts";
import { assertSnapshot } from "../bench/util/testing.ts";
import { formatDuration, renderHeading, renderTable } from "./table.ts";

Deno.test("the table of a profile matches its snapshot", async () => {
  await assertSnapshot(
    renderTable(syntheticProfile()),
    new URL("./testdata/table.txt", import.meta.url),
  );
});

Deno.test("the table shows every case, its spread and its flags", () => {
  const text = renderTable(syntheticProfile());
  for (
    const label of [
      "full-read · cold",
      "mmap · warm",
      "mmap(advice=sequential) · cold",
    ]
  ) {
    assert.ok(text.includes(label), label);
  }
  assert.match(text, /skipped: not on this target/);
  assert.match(text, /errored: Tensor "w" differs on host/);
  assert.match(text, /noisy \(CV \d+% > 10%\)/);
  assert.match(text, /✓ 5 /);
  assert.ok(!text.includes("\x1b["), "no colour unless asked");
  assert.ok(renderTable(syntheticProfile(), { color: true }).includes("\x1b["));
});

Deno.test("the heading names what every case shares", () => {
  const profile = syntheticProfile();
  assert.equal(
    renderHeading(profile),
    "synthetic · target host\nlimits: not measured (deno task probe --path DIR rates results against this machine)",
  );
  const limits = {
    measuredAt: "2026-01-01T00:00:00.000Z",
    key: "k",
    storage: { path: "/m", cold: { gbps: 2.5, blockSize: 8 << 20, depth: 4 }, warm: { gbps: 9 } },
    memoryCopyGBps: 21.3,
    devices: [],
  };
  assert.match(
    renderHeading({ ...profile, limits }),
    /limits: storage 2\.50 GB\/s \(O_DIRECT, 8\.00 MiB × 4\), page cache 9\.00 GB\/s, memory copy 21\.3 GB\/s \(measured 2026-01-01\)$/,
  );
});

Deno.test("the heading says when the run did not finish", () => {
  const profile = syntheticProfile();
  const heading = (run: typeof profile.run) => renderHeading({ ...profile, run }).split("\n");
  assert.deepEqual(heading({ ...profile.run, state: "interrupted", interruptedBy: "SIGINT" }), [
    "synthetic · target host",
    "Partial run: interrupted by SIGINT — 4 of 6 cases measured, with the samples taken before the interruption",
    "limits: not measured (deno task probe --path DIR rates results against this machine)",
  ]);
  assert.match(
    heading({ ...profile.run, state: "running" })[1]!,
    /^Partial run: the profile was written while running and the run did not finish \(killed\?\)/,
  );
});

Deno.test("the verified column says how the samples were checked", () => {
  const profile = syntheticProfile();
  const sampled = {
    ...profile,
    cases: profile.cases.map((c) =>
      c.stats
        ? { ...c, stats: { ...c.stats, verified: { samples: 5, mode: "sampled" as const } } }
        : c
    ),
  };
  const cells = renderTable(sampled).split("\n").filter((line) => line.startsWith("│"))
    .map((line) => line.split("│").slice(1, -1).map((cell) => cell.trim()))
    .filter((row) => row.length === 10 && row[0] !== "" && row[0] !== "case")
    .map((row) => row[7]);
  assert.deepEqual(cells, ["✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled"]);
});

Deno.test("each case is rated against the limit that bounds it", () => {
  const limits = {
    measuredAt: "2026-01-01T00:00:00.000Z",
    key: "k",
    storage: { path: "/m", cold: { gbps: 2, blockSize: 8 << 20, depth: 4 }, warm: { gbps: 10 } },
    memoryCopyGBps: 20,
    devices: [],
  };
  const profile = syntheticProfile();
  const rated = {
    ...profile,
    cases: profile.cases.map((c) =>
      c.stats
        ? {
          ...c,
          stats: {
            ...c.stats,
            ofLimit: limitFor(c.cache, c.target, c.stats.throughputGBps.median, limits),
          },
        }
        : c
    ),
  };
  const text = renderTable(rated);
  const cold = profile.cases[0]!.stats!.throughputGBps.median / 2;
  assert.ok(text.includes(`${Math.round(cold * 100)}%`), text);
  assert.match(text, /storage \(O_DIRECT\)/);
  assert.match(text, /page cache/);
  assert.match(renderTable(profile), /│ — /, "no limits, no rating");
});

Deno.test("durations read naturally at every scale", () => {
  assert.equal(formatDuration(0.0421), "0.042 ms");
  assert.equal(formatDuration(9.999), "9.999 ms");
  assert.equal(formatDuration(10), "10.0 ms");
  assert.equal(formatDuration(999.94), "999.9 ms");
  assert.equal(formatDuration(61_000), "61.000 s");
});

Deno.test("strategies' own facts appear as notes: bytes by tier, dequantization path", () => {
  const profile = syntheticProfile();
  const [first, ...rest] = profile.cases;
  const noted = {
    ...first!,
    samples: first!.samples.map((s) => ({
      ...s,
      bytesBySource: { source: 512 * 1024 ** 2, staging: 0 },
      details: { path: "cpu", readers: 4, effectiveReaders: 2 },
    })),
  };
  const text = renderTable({ ...profile, cases: [noted, ...rest] });
  // The notes column of the first case, its wrapped lines joined.
  const lines = text.split("\n");
  const row = lines.findIndex((line) => line.includes("full-read · cold"));
  const end = lines.findIndex((line, i) => i > row && line.startsWith("├"));
  const notes = lines.slice(row, end).map((line) => line.split("│").at(-2)!.trim()).join(" ");
  assert.match(notes, /512\.00 MiB from source, 0 B from staging/);
  assert.match(notes, /dequantized on cpu/);
  assert.match(notes, /2 readers had work/);
});
