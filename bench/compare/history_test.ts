import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../util/testing.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { appendHistory, historyRun, levelShifts, loadHistory } from "./history.ts";
import { variantProfile } from "./_testing.ts";

/** Night `i` of a history: mmap cold gets 15% slower from night `shiftAt` on. */
function night(i: number, shiftAt: number) {
  return variantProfile({
    createdAt: new Date(Date.UTC(2026, 0, 1 + i, 3)).toISOString(),
    commit: `commit${String(i).padStart(2, "0")}`,
    durations: (c, ms, k) => {
      const wobble = 1 + (((i * 7 + k * 3) % 5) - 2) * 0.004;
      return (c.id.endsWith("/mmap/host/cold") && i >= shiftAt ? ms * 1.15 : ms) * wobble;
    },
  });
}

Deno.test("the history keeps each machine's runs, oldest first", async () => {
  await withTempDir(async (root) => {
    const runs = Array.from({ length: 4 }, (_, i) => night(i, 99));
    for (const profile of [...runs].reverse()) await appendHistory(root, profile);
    const other = variantProfile({ environment: { memoryBytes: 2 * 1024 ** 4 } });
    await appendHistory(root, other);
    await Deno.writeTextFile(join(root, fingerprintOf(runs[0]!).slug, "zz-broken.json"), "{");

    const history = await loadHistory(root, runs[0]!);
    assert.deepEqual(history.runs.map((r) => r.commit), [
      "commit00",
      "commit01",
      "commit02",
      "commit03",
    ]);
    assert.equal(history.unreadable.length, 1);
    assert.match(history.unreadable[0]!, /zz-broken\.json$/);
    assert.equal((await loadHistory(root, other)).runs.length, 1);
    assert.equal((await loadHistory(join(root, "none"), other)).runs.length, 0);
    // The same run twice gets a second file, never an overwrite.
    await appendHistory(root, runs[0]!);
    assert.equal((await loadHistory(root, runs[0]!)).runs.length, 5);
  });
});

Deno.test("a level shift in the history is located and its commit named", () => {
  const runs = Array.from({ length: 20 }, (_, i) => historyRun(night(i, 12)));
  const shifts = levelShifts(runs);
  assert.equal(shifts.length, 1);
  const shift = shifts[0]!;
  assert.equal(shift.caseId, "llama-3-8b-512MiB-F16-2shards/mmap/host/cold");
  assert.equal(shift.run, 12);
  assert.equal(shift.commit, "commit12");
  assert.equal(shift.previousCommit, "commit11");
  assert.ok(Math.abs(shift.ratio - 1.15) < 0.02, String(shift.ratio));
  assert.equal(shift.runs, 20);
  // Below the minimum change it is not reported.
  assert.deepEqual(levelShifts(runs, { minChange: 0.2 }), []);
});
