import assert from "node:assert/strict";
import { phaseTotals, phaseWallTimes, Recorder, type Span } from "./recorder.ts";

Deno.test("wall time counts overlapping spans of a phase once; totals add them up", () => {
  const spans: Span[] = [
    { phase: "read", start: 0, end: 10 },
    { phase: "read", start: 5, end: 15 },
    { phase: "read", start: 20, end: 25 },
    { phase: "copy", start: 10, end: 12 },
  ];
  assert.deepEqual(phaseWallTimes(spans), { read: 20, copy: 2 });
  assert.deepEqual(phaseTotals(spans), { read: 25, copy: 2 });
  assert.deepEqual(phaseWallTimes([]), {});
});

Deno.test("spans are recorded even when the work throws", async () => {
  const recorder = new Recorder();
  assert.throws(() =>
    recorder.time("parse", () => {
      throw new Error("bad header");
    })
  );
  await assert.rejects(() => recorder.timeAsync("read", () => Promise.reject(new Error("EIO"))));
  assert.deepEqual(recorder.spans.map((s) => s.phase), ["parse", "read"]);
  for (const span of recorder.spans) assert.ok(span.end >= span.start && span.start >= 0);
});
