import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../util/testing.ts";
import {
  arriveAtBarrier,
  type Clock,
  parseDuration,
  parseStartAt,
  prepareOnce,
  slotStart,
  timetableGate,
} from "./herd_sync.ts";

/** A clock that moves only when slept on. */
function fakeClock(start = 1_000_000): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

Deno.test("parseDuration and parseStartAt reject what they cannot read, naming the flag", () => {
  assert.equal(parseDuration("--slot", "250ms"), 250);
  assert.equal(parseDuration("--slot", "45"), 45_000);
  assert.equal(parseDuration("--slot", "1h"), 3_600_000);
  for (const bad of ["", "0s", "-1s", "3 days", "1e3"]) {
    assert.throws(() => parseDuration("--slot", bad), /Invalid --slot ".*": expected a duration/);
  }
  assert.equal(
    parseStartAt("2030-01-01T00:00:00.500+01:00", 0),
    Date.UTC(2029, 11, 31, 23, 0, 0, 500),
  );
  for (const bad of ["tomorrow", "2030-01-01", "12345", "2030-01-01T00:00:00"]) {
    assert.throws(() => parseStartAt(bad, 0), /Invalid --start-at/, bad);
  }
});

Deno.test("arriveAtBarrier: three members get the same T0, the latest arrival plus the margin", async () => {
  await withTempDir(async (dir) => {
    const member = (index: number, delay: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() =>
        arriveAtBarrier(dir, { index, count: 3 }, { host: `n${index}`, marginMs: 100, pollMs: 5 })
      );
    const before = Date.now();
    const starts = await Promise.all([member(1, 0), member(2, 30), member(3, 60)]);
    assert.equal(new Set(starts).size, 1, `${starts}`);
    assert.ok(starts[0]! >= before + 60 + 100, "after the last arrival and the margin");
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(files, ["member-1-of-3.json", "member-2-of-3.json", "member-3-of-3.json"]);
  });
});

Deno.test("arriveAtBarrier: names the members that never came, and refuses a mixed-up folder", async () => {
  await withTempDir(async (dir) => {
    const clock = fakeClock();
    await assert.rejects(
      arriveAtBarrier(dir, { index: 2, count: 3 }, { host: "n2", clock, timeoutMs: 1_000 }),
      /Herd barrier ".*": 1 of 3 members arrived within 1 s; missing member 1\/3, 3\/3/,
    );
    await assert.rejects(
      arriveAtBarrier(dir, { index: 1, count: 4 }, { host: "n1", clock, timeoutMs: 1_000 }),
      /holds "member-2-of-3.json", a member of a herd of 3, not 4/,
    );
  });
  await withTempDir(async (dir) => {
    const clock = fakeClock();
    await Deno.writeTextFile(
      join(dir, "member-1-of-2.json"),
      JSON.stringify({ member: 1, count: 2, host: "old", arrivedAt: 1 }),
    );
    await assert.rejects(
      arriveAtBarrier(dir, { index: 2, count: 2 }, { host: "n2", clock, timeoutMs: 1_000 }),
      /is stale/,
    );
  });
});

Deno.test("prepareOnce: member 1 prepares, the others wait for it or fail with it", async () => {
  await withTempDir(async (dir) => {
    let prepared = 0;
    const prepare = async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      prepared++;
    };
    await Promise.all([
      prepareOnce(dir, { index: 2, count: 3 }, prepare, { host: "b", pollMs: 5 }),
      prepareOnce(dir, { index: 3, count: 3 }, prepare, { host: "c", pollMs: 5 }),
      prepareOnce(dir, { index: 1, count: 3 }, prepare, { host: "a", pollMs: 5 }),
    ]);
    assert.equal(prepared, 1);
  });
  await withTempDir(async (dir) => {
    const failing = () => Promise.reject(new Error("disk full"));
    await assert.rejects(
      prepareOnce(dir, { index: 1, count: 2 }, failing, { host: "a" }),
      /disk full/,
    );
    await assert.rejects(
      prepareOnce(dir, { index: 2, count: 2 }, failing, { host: "b" }),
      /member 1 could not prepare the weights/,
    );
  });
  await withTempDir(async (dir) => {
    await assert.rejects(
      prepareOnce(dir, { index: 2, count: 2 }, () => Promise.resolve(), {
        host: "b",
        clock: fakeClock(),
        timeoutMs: 500,
      }),
      /member 1\/2 did not prepare the weights within 0.5 s/,
    );
  });
});

Deno.test("timetableGate: each sample waits for its slot; an overrun makes the next one late", async () => {
  const clock = fakeClock(0);
  let started = 0;
  const gate = timetableGate(
    () => {
      started++;
      return Promise.resolve(10_000);
    },
    1_000,
    4,
    { clock },
  );
  assert.deepEqual(await gate({ caseIndex: 0, round: 0 }), { lateMs: 0 });
  assert.equal(clock.now(), 10_000);
  assert.deepEqual(await gate({ caseIndex: 2, round: 0 }), { lateMs: 0 });
  assert.equal(clock.now(), 12_000, "case 1 was skipped here, its slot stays empty");
  await clock.sleep(2_500); // the load of case 2 overran into case 3's slot
  assert.deepEqual(await gate({ caseIndex: 3, round: 0 }), { lateMs: 1_500 });
  assert.deepEqual(await gate({ caseIndex: 0, round: 1 }), { lateMs: 500 }, "still late");
  assert.deepEqual(await gate({ caseIndex: 1, round: 1 }), { lateMs: 0 }, "back on time");
  assert.equal(clock.now(), 15_000);
  assert.equal(started, 1, "T0 is fixed once");
  assert.equal(slotStart({ startAt: 5, slotMs: 10, planCases: 3 }, { caseIndex: 1, round: 2 }), 75);
});
