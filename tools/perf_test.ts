import assert from "node:assert/strict";
import { join } from "node:path";
import { testUnless, withTempDir } from "../bench/util/testing.ts";
import { catPeer, fioPeer, parseTimes } from "./_perf_peers.ts";
import { judgeTargets, Rounds, spreadOf } from "./_perf_stats.ts";

const fioMissing = await new Deno.Command("fio", { args: ["--version"], stdout: "null" }).output()
  .then((o) => (o.success ? undefined : "fio does not run"), () => "fio is not installed");

Deno.test("perf: a ratio is taken round by round, and a target holds only if every round meets it", () => {
  const rounds = new Rounds();
  const measured = [[2.0, 2.0], [1.9, 2.0], [1.7, 2.0]];
  for (const [ours, peer] of measured) {
    rounds.next();
    rounds.record("ours", "cold", ours);
    rounds.record("peer", "cold", peer);
    rounds.record("ours", "warm", ours! * 3);
    rounds.record("peer", "warm", peer! * 3);
  }
  rounds.record("peer", "warm", undefined); // a peer that could not run is left out, not zero
  const outcomes = judgeTargets(rounds, [
    { tool: "ours", peer: "peer", cache: "cold" },
    { tool: "ours", peer: "peer", cache: "warm", atLeast: 0.8 },
    { tool: "ours", peer: "absent", cache: "cold" },
  ]);
  assert.deepEqual(outcomes.map((o) => o.verdict), ["met", "held", "not measured"]);
  assert.equal(outcomes[0]!.ratio!.min, 0.85);
  assert.equal(outcomes[0]!.ratio!.max, 1);
  rounds.recordBest("best", ["ours", "peer"], "cold");
  assert.deepEqual(rounds.values("best", "cold"), [2, 2, 2]);
  assert.equal(spreadOf([3, 1, 2, 10])!.median, 2.5);
  assert.equal(spreadOf([]), undefined);
});

Deno.test("perf: the CPU time of a peer comes from bash's times", async () => {
  assert.equal(parseTimes("0m0.001s 0m0.002s\n0m1.250s 0m0.750s\n"), 2);
  assert.equal(parseTimes("garbage"), undefined);
  await withTempDir(async (dir) => {
    const file = join(dir, "data.bin");
    await Deno.writeFile(file, new Uint8Array(8 << 20));
    const run = await catPeer("warm", file, 8 << 20).run();
    assert.ok(run && run.gbps > 0, JSON.stringify(run));
    assert.ok(run.cpuSeconds !== undefined && run.cpuSeconds >= 0);
    assert.equal(await catPeer("warm", join(dir, "missing"), 1).run(), undefined);
  });
});

testUnless(
  fioMissing,
  "perf: fio's rate and command line, in one job and in two over halves",
  async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "data.bin");
      await Deno.writeFile(file, new Uint8Array(8 << 20).fill(7));
      const one = fioPeer("fio", "warm", file, ["--bs=1M", "--ioengine=psync", "--invalidate=0"]);
      assert.match(one.command, /^fio --name=read --filename=\S+ --rw=read --readonly --bs=1M/);
      const two = fioPeer("fio 2 jobs", "warm", file, [
        "--bs=1M",
        "--ioengine=psync",
        "--invalidate=0",
        "--numjobs=2",
        `--size=${4 << 20}`,
        `--offset_increment=${4 << 20}`,
      ]);
      for (const peer of [one, two]) {
        const run = await peer.run();
        assert.ok(run && run.gbps > 0, `${peer.name}: ${JSON.stringify(run)}`);
      }
      const broken = fioPeer("fio", "warm", join(dir, "missing"), ["--bs=1M"]);
      assert.equal(await broken.run(), undefined);
    });
  },
);
