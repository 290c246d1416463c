import assert from "node:assert/strict";
import { around, measuredProfile, testLimits } from "../bench/compare/_testing.ts";
import { parseModelSize } from "../bench/compare/projection.ts";
import {
  adviceLines,
  answerOf,
  formatModelBytes,
  formatSeconds,
  listWords,
  projectionTable,
  renderAnswer,
  verdictLines,
} from "./answer.ts";

const LIMITS = testLimits(3.2);

/** A run like the quick scenario's on a small machine: a tie cold, a clear winner warm. */
function quickLike() {
  return measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(330, 0.02) },
    { strategy: "sharded", cache: "cold", durations: around(226, 0.1) },
    { strategy: "mmap", cache: "cold", durations: around(230, 0.1) },
    { strategy: "direct", cache: "cold", durations: around(300, 0.02) },
    { strategy: "full-read", cache: "warm", durations: around(153, 0.02) },
    { strategy: "sharded", cache: "warm", durations: around(95, 0.02) },
    { strategy: "mmap", cache: "warm", durations: around(59.5, 0.02) },
    { strategy: "direct", cache: "warm", durations: around(241, 0.02) },
  ], { limits: LIMITS, memoryBytes: 24 * 1024 ** 3 });
}

Deno.test("the verdict says which is fastest, by how much, how close to the limit, and how sure", () => {
  const [cold, warm] = verdictLines(answerOf(quickLike()).verdict);
  assert.match(
    cold!.text,
    /^Cold: sharded is fastest — 226\.0 ms, 2\.38 GB\/s, 74% of storage \(O_DIRECT\); 1\.46× faster than full-read\. A tie within noise: mmap overlaps its 95% interval\.$/,
  );
  assert.match(
    warm!.text,
    /^Warm: mmap is fastest — 59\.5 ms, 9\.02 GB\/s, 45% of page cache; 2\.57× faster than full-read\. Sure: its 95% interval is apart from every other strategy's\.$/,
  );
});

Deno.test("too few samples, noise and a missing full-read are said in words", () => {
  const few = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: [800] },
    { strategy: "mmap", cache: "cold", durations: [400] },
  ]);
  assert.match(
    verdictLines(answerOf(few).verdict)[0]!.text,
    /Not ranked for sure: n too small for a CI \(1 sample; a 95% interval needs 3\)\.$/,
  );
  const noisy = measuredProfile([{ strategy: "mmap", cache: "warm", durations: around(60, 0.4) }]);
  assert.match(
    verdictLines(answerOf(noisy).verdict)[0]!.text,
    /full-read was not measured\. It is the only strategy measured\. Its samples are noisy \(CV \d+%\)/,
  );
});

Deno.test("a throughput above the measured limit says the limit looks low", () => {
  const low = {
    ...LIMITS,
    storage: { ...LIMITS.storage, cold: { gbps: 1, blockSize: 1, depth: 1 } },
  };
  const profile = measuredProfile([{ strategy: "mmap", cache: "cold", durations: around(400) }], {
    limits: low,
  });
  assert.match(
    verdictLines(answerOf(profile).verdict)[0]!.text,
    /134% of storage \(O_DIRECT\).* That is above the storage \(O_DIRECT\) limit the probe measured \(1\.00 GB\/s\), which looks low: deno task probe measures it again\.$/,
  );
});

Deno.test("advice: one strategy for both states, or one each, never hard-coded", () => {
  assert.deepEqual(adviceLines(answerOf(quickLike()).verdict), [
    "Advice for host: on this machine, load with mmap (1.43× full-read cold, 2.57× warm): fastest warm, within noise of the fastest cold (sharded).",
  ]);
  const split = measuredProfile([
    { strategy: "full-read", cache: "cold", durations: around(800) },
    { strategy: "direct", cache: "cold", durations: around(400) },
    { strategy: "mmap", cache: "cold", durations: around(600) },
    { strategy: "full-read", cache: "warm", durations: around(160) },
    { strategy: "direct", cache: "warm", durations: around(300) },
    { strategy: "mmap", cache: "warm", durations: around(60) },
  ]);
  assert.deepEqual(adviceLines(answerOf(split).verdict), [
    "Advice for host: on this machine, load with direct from cold storage (2.00× full-read) and mmap when the weights are in the page cache (2.67× full-read).",
  ]);
});

Deno.test("the projection table: the fastest, the limit and full-read per state, and what does not fit", () => {
  const answer = answerOf(quickLike(), [parseModelSize("13B@FP8")]);
  const table = projectionTable(answer.projections[0]!);
  assert.deepEqual(table.columns.map((c) => `${c.cache} ${c.head}`), [
    "cold sharded",
    "cold at limit",
    "cold full-read",
    "warm mmap",
    "warm at limit",
    "warm full-read",
  ]);
  assert.match(
    table.caption,
    /^Projection for host, not a measurement: the rate measured on 512\.00 MiB held flat with size/,
  );
  assert.deepEqual(table.rows.map((row) => row[0]), [
    "8B · FP16",
    "8B · FP8",
    "8B · 4-bit",
    "70B · FP16 *",
    "70B · FP8 *",
    "70B · 4-bit *",
    "405B · FP16 *",
    "405B · FP8 *",
    "405B · 4-bit *",
    "13B · FP8",
  ]);
  assert.deepEqual(table.user, [...Array(9).fill(false), true]);
  // 16 GB at the storage limit of 3.2 GB/s: 5 s.
  assert.equal(table.rows[0]![3], "5.00 s");
  assert.match(table.notes[0]!, /^\* larger than host memory \(24\.00 GiB\)/);
});

Deno.test("the whole answer fits 100 columns, and names a small run's weakness", () => {
  const text = renderAnswer(answerOf(quickLike()));
  for (const line of text.split("\n")) assert.ok(line.length <= 100, `${line.length}: ${line}`);
  assert.match(text, /^ +cold ─+ +warm ─+$/m);
  assert.match(text, /^8B · FP16 +16 GB +\d/m);
  const tiny = measuredProfile([{
    strategy: "mmap",
    cache: "cold",
    durations: around(1),
    bytes: 4700,
  }]);
  assert.match(renderAnswer(answerOf(tiny)), /too small to project from/);
  assert.equal(
    renderAnswer(answerOf({ ...tiny, cases: [] })),
    "No case completed: nothing to rank or project.",
  );
});

Deno.test("numbers read as people write them", () => {
  assert.equal(formatSeconds(0.8712), "0.87 s");
  assert.equal(formatSeconds(12.34), "12.3 s");
  assert.equal(formatSeconds(252), "4.2 min");
  assert.equal(formatSeconds(7200), "2.0 h");
  assert.equal(formatModelBytes(16e9), "16 GB");
  assert.equal(formatModelBytes(202.5e9), "202.5 GB");
  assert.equal(formatModelBytes(1.62e12), "1.62 TB");
  assert.equal(listWords(["a"]), "a");
  assert.equal(listWords(["a", "b"]), "a and b");
  assert.equal(listWords(["a", "b", "c", "d", "e", "f"]), "a, b, c and 3 more");
});
