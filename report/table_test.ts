import assert from "node:assert/strict";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { limitFor } from "../profiles/limits.ts";
import { assertSnapshot } from "../bench/util/testing.ts";
import { measuredProfile } from "../bench/compare/_testing.ts";
import { formatDuration, formatOfLimit, renderHeading, renderTable, TABLE_WIDTH } from "./table.ts";

/** Each row of a cli-table3 table as its cells, the lines of wrapped cells joined by spaces. */
function rows(text: string): string[][] {
  const blocks: string[][][] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("│")) {
      blocks.push([]);
      continue;
    }
    blocks.at(-1)!.push(line.split("│").slice(1, -1).map((cell) => cell.trim()));
  }
  return blocks.filter((block) => block.length > 0).map((block) =>
    block[0]!.map((_, i) => block.map((line) => line[i] ?? "").filter((t) => t !== "").join(" "))
  );
}

Deno.test("the table of a profile matches its snapshot", async () => {
  await assertSnapshot(
    renderTable(syntheticProfile()),
    new URL("./testdata/table.txt", import.meta.url),
  );
});

Deno.test("the wide table of a profile matches its snapshot", async () => {
  await assertSnapshot(
    renderTable(syntheticProfile(), { wide: true }),
    new URL("./testdata/table-wide.txt", import.meta.url),
  );
});

Deno.test("the table fits 100 columns: five columns, long labels and messages wrapped", () => {
  const profile = syntheticProfile();
  const long = {
    ...profile,
    cases: profile.cases.map((c, i) => ({
      ...c,
      weights: i % 2 === 0 ? "llama-3-70b-instruct-2GiB-BF16-8shards" : "tiny",
      target: i < 3 ? "host" : "cuda:0",
      strategyLabel: i === 0 ? "streamed(chunkSize=16777216,buffers=3,readers=4)" : c.strategyLabel,
    })),
  };
  for (const text of [renderTable(profile), renderTable(long)]) {
    for (const line of text.split("\n")) {
      assert.ok(line.length <= TABLE_WIDTH, `${line.length} columns: ${line}`);
    }
  }
  const [head, ...cases] = rows(renderTable(long));
  assert.deepEqual(head, ["case", "median ± 95% CI", "GB/s", "of limit", "status"]);
  // Labels are broken, never cut short.
  assert.equal(
    cases[0]![0]!.replaceAll(" ", ""),
    "llama-3-70b-instruct-2GiB-BF16-8shards·streamed(chunkSize=16777216,buffers=3,readers=4)·host·cold",
  );
});

Deno.test("a spread that was never measured is named, not shown as zero", () => {
  const profile = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: [531] },
    { strategy: "mmap", cache: "cold", durations: [400, 410] },
    { strategy: "direct", cache: "cold", durations: [400, 410, 420] },
  ]);
  const cells = rows(renderTable(profile)).slice(1).map((row) => row[1]);
  assert.deepEqual(cells, [
    "531.0 ms (1 sample)",
    "405.0 ms (n too small for a CI)",
    cells[2],
  ]);
  assert.match(cells[2]!, /^410\.0 ms ± \d+\.\d+ ms$/);
  const wide = rows(renderTable(profile, { wide: true })).slice(1).map((row) => row[2]);
  assert.equal(wide[0], "1 sample", "no IQR of one sample");
  assert.doesNotMatch(renderTable(profile), /± 0\.000 ms/);
});

Deno.test("colour is painted by the table, never asked of the library", () => {
  const plain = renderTable(syntheticProfile());
  const painted = renderTable(syntheticProfile(), { color: true });
  assert.ok(!plain.includes("\x1b["), "no colour unless asked");
  assert.ok(painted.includes("\x1b[36mcase\x1b[39m"), "the header, painted by paint()");
  const escape = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, "g");
  assert.equal(painted.replace(escape, ""), plain, "the same table without its colours");
});

Deno.test("the table shows every case, its spread and its flags", () => {
  const text = renderTable(syntheticProfile());
  const labels = rows(text).map((row) => row[0]);
  for (const label of ["full-read · cold", "mmap · warm", "mmap(advice=sequential) · cold"]) {
    assert.ok(labels.includes(label), label);
  }
  assert.match(text, /skipped: not on this target/);
  assert.match(text, /errored: Tensor "w" differs on host/);
  const status = rows(text).map((row) => row.at(-1)!).join("\n");
  assert.match(status, /noisy \(CV \d+% > 10%\)/);
  assert.match(status, /✓ 5 · cold 0\.0%/);
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
  assert.deepEqual(renderHeading({ ...profile, limits }).split("\n").slice(1), [
    "limits: storage 2.50 GB/s (O_DIRECT, 8.00 MiB × 4), page cache 9.00 GB/s, memory copy 21.3 GB/s",
    "  (measured 2026-01-01)",
  ]);
});

Deno.test("the heading says when the run did not finish", () => {
  const profile = syntheticProfile();
  const heading = (run: typeof profile.run) => renderHeading({ ...profile, run }).split("\n");
  assert.deepEqual(heading({ ...profile.run, state: "interrupted", interruptedBy: "SIGINT" }), [
    "synthetic · target host",
    "Partial run: interrupted by SIGINT — 4 of 6 cases measured, with the samples taken before the",
    "  interruption",
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
  const cells = rows(renderTable(sampled, { wide: true }))
    .filter((row) => row.length === 10 && row[0] !== "case")
    .map((row) => row[7]);
  assert.deepEqual(cells, ["✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled"]);
  const status = rows(renderTable(sampled)).slice(1, 5).map((row) => row[4]!.split(" · ")[0]);
  assert.deepEqual(status, ["✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled", "✓ 5 sampled"]);
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
  assert.equal(rows(text)[1]![3], `${Math.round(cold * 100)}%`);
  const wide = renderTable(rated, { wide: true });
  assert.match(wide, /storage \(O_DIRECT\)/);
  assert.match(wide, /page cache/);
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
  const text = renderTable({ ...profile, cases: [noted, ...rest] }, { wide: true });
  // The notes column of the first case, its wrapped lines joined.
  const lines = text.split("\n");
  const row = lines.findIndex((line) => line.includes("full-read · cold"));
  const end = lines.findIndex((line, i) => i > row && line.startsWith("├"));
  const notes = lines.slice(row, end).map((line) => line.split("│").at(-2)!.trim()).join(" ");
  assert.match(notes, /512\.00 MiB from source, 0 B from staging/);
  assert.match(notes, /dequantized on cpu/);
  assert.match(notes, /2 readers had work/);
});

Deno.test("a case above its measured limit says the limit looks low, never 130%", () => {
  const profile = syntheticProfile();
  const limit = { fraction: 1.3, limit: "page cache", limitGBps: 5 };
  const above = {
    ...profile,
    cases: profile.cases.map((c, i) =>
      i === 1 && c.stats ? { ...c, stats: { ...c.stats, ofLimit: limit } } : c
    ),
  };
  for (const wide of [false, true]) {
    const text = renderTable(above, { wide });
    assert.doesNotMatch(text, /130%/);
    assert.match(text, /> limit/);
    assert.match(text, /exceeds the measured/);
  }
  assert.equal(formatOfLimit({ fraction: 0.78 }), "78%");
  assert.equal(formatOfLimit({ fraction: 1.04 }), "104%", "within the limit's own noise");
  assert.equal(formatOfLimit(null), "—");
});
