import assert from "node:assert/strict";
import { formatSeconds, PIPED_EVERY_MS, Progress } from "./progress.ts";

Deno.test("progress: piped, a line every few seconds with time elapsed and left, and one at the end", () => {
  const lines: string[] = [];
  let now = 0;
  const progress = new Progress(false, { write: (line) => lines.push(line), now: () => now });
  const sample = (done: number) => ({
    kind: "sample" as const,
    done,
    total: 10,
    caseId: `m/full-read/host/${done % 2 ? "cold" : "warm"}`,
    warmup: false,
  });
  for (let done = 1; done <= 10; done++) {
    now += PIPED_EVERY_MS / 2;
    progress.update(sample(done));
  }
  assert.deepEqual(lines, [
    "measured 3/10 samples 5.0 s elapsed, about 17.5 s left · m/full-read/host/cold",
    "measured 5/10 samples 10.0 s elapsed, about 12.5 s left · m/full-read/host/cold",
    "measured 7/10 samples 15.0 s elapsed, about 7.5 s left · m/full-read/host/cold",
    "measured 9/10 samples 20.0 s elapsed, about 2.5 s left · m/full-read/host/cold",
    "measured 10/10 samples in 22.5 s",
  ]);
});

Deno.test("progress: quiet says nothing; fixture generation reports bytes", () => {
  const lines: string[] = [];
  let now = 0;
  const quiet = new Progress(false, { quiet: true, write: (line) => lines.push(line) });
  quiet.update({ kind: "sample", done: 1, total: 1, caseId: "x", warmup: false });
  assert.equal(lines.length, 0, "quiet writes nothing");
  const progress = new Progress(false, { write: (line) => lines.push(line), now: () => now });
  now = 6_000;
  progress.update({ kind: "fixture", label: "llama", done: 1 << 20, total: 2 << 20 });
  now = 12_000;
  progress.update({ kind: "fixture", label: "llama", done: 2 << 20, total: 2 << 20 });
  assert.equal(lines.length, 1, "the first event starts the clock; the end gets a line");
  assert.match(lines[0]!, /^generating llama: 2\.00 MiB of 2\.00 MiB in 6\.0 s$/);
});

Deno.test("formatSeconds", () => {
  assert.equal(formatSeconds(4.24), "4.2 s");
  assert.equal(formatSeconds(65), "1 min 05 s");
  assert.equal(formatSeconds(NaN), "?");
});
