import assert from "node:assert/strict";
import type { MachineLimits, Profile, ProfileCase } from "../../profiles/schema.ts";
import {
  type CheckInput,
  evaluateGoals,
  notMeasured,
  renderResults,
  verdict,
} from "./gpu_check_report.ts";

/** A completed cuda:0 case at `gbps`, as much of it as the summary reads. */
function gpuCase(
  label: string,
  cache: "cold" | "warm",
  gbps: number,
  established = 3,
): ProfileCase {
  return {
    id: `m/${label}/cuda:0/${cache}`,
    strategyLabel: label,
    target: "cuda:0",
    cache,
    state: "completed",
    samples: [{
      warmup: false,
      device: { h2dEventMs: 150, peakMemoryBytes: 2 ** 33 },
      gpuMemory: [{}, {}],
    }],
    stats: {
      samples: 3,
      throughputGBps: { median: gbps, low: gbps, high: gbps },
      phases: { h2d: { median: 160 } },
      cache: { established, residentFraction: { min: 0, max: 0 } },
    },
  } as unknown as ProfileCase;
}

const LIMITS = {
  storage: { path: "/m", cold: { gbps: 6, blockSize: 16 << 20, depth: 16 }, warm: { gbps: 20 } },
  memoryCopyGBps: 30,
  devices: [{
    id: "cuda:0",
    pinnedH2DGBps: 50,
    pageableH2DGBps: 20,
    pinnedD2HGBps: 48,
    pageableD2HGBps: 15,
  }],
} as unknown as MachineLimits;

function input(cases: ProfileCase[], safetensorsWarm = 7.5): CheckInput {
  return {
    device: "NVIDIA H100 80GB HBM3",
    gpu: true,
    limits: LIMITS,
    peers: {
      loads: {
        "safetensors.load_file": {
          cold: { seconds: [2], median: 2, gbps: 4.5 },
          warm: { seconds: [1], median: 1, gbps: safetensorsWarm },
        },
      },
      raw: { pinnedH2DGBps: 51, pageableH2DGBps: 21 },
    },
    large: { cases, run: { state: "complete" } } as unknown as Profile,
    quick: null,
    steps: [{ name: "GPU tests", state: "ok", seconds: 12.5 }],
  };
}

Deno.test("the goals pass when the best cases reach their limits", () => {
  const goals = evaluateGoals(input([
    gpuCase("streamed", "warm", 47),
    gpuCase("full-read", "warm", 12),
    gpuCase("streamed", "cold", 5.8),
  ]));
  assert.deepEqual(goals.map((g) => g.pass), [true, true, true, true]);
  assert.match(goals[0]!.detail, /^47\.00 is 0\.940 of 50\.00 \(want ≥ 0\.92\)$/);
  assert.match(goals[1]!.detail, /^47\.00 is 6\.27× 7\.50 \(want ≥ 6×\)$/);
});

Deno.test("the goals fail below their limits, and are unproven without a figure", () => {
  const goals = evaluateGoals(
    input([gpuCase("mmap", "warm", 30), gpuCase("mmap", "cold", 3, 1)], 10),
  );
  assert.deepEqual(goals.map((g) => g.pass), [false, false, false, false, true]);
  assert.equal(goals[3]!.name, "cold samples were cold");
  const none = evaluateGoals({ ...input([]), peers: null, limits: null });
  assert.deepEqual(none.slice(0, 3).map((g) => g.pass), [null, null, null]);
  assert.match(none[0]!.detail, /^unproven: a warm cuda:0 case was not measured$/);
});

Deno.test("the results table sets every loader against the limits and the peers", () => {
  const text = renderResults(
    input([gpuCase("streamed", "warm", 47), gpuCase("streamed", "cold", 5.8)]),
  );
  assert.match(text, /\| pinned H2D \| 50\.00 \| 51\.00 \| 0\.980 \|/);
  assert.match(text, /\| weightbench streamed \| 5\.80 \| 47\.00 \| 0\.940 \| 6\.27× \| 0\.967 \|/);
  assert.match(
    text,
    /\| safetensors\.load_file \(peer\) \| 4\.50 \| 7\.50 \| 0\.150 \| 1\.00× \| 0\.750 \|/,
  );
  assert.match(text, /\| m\/streamed\/cuda:0\/warm \| 150\.0 \| 160\.0 \| 8\.00 GiB \| 2 \|/);
  assert.match(text, /^- PASS: warm best ≥ 0\.92× the probe's pinned H2D/m);
});

Deno.test("the verdict: exit 0 when every goal is met, 1 otherwise, 3 without a GPU", () => {
  const good = input([
    gpuCase("streamed", "warm", 47),
    gpuCase("full-read", "warm", 12),
    gpuCase("streamed", "cold", 5.8),
  ]);
  assert.deepEqual(verdict(good), { code: 0, text: "PASS: 4 of 4 goals met, every step ok" });
  const slow = input([gpuCase("mmap", "warm", 30), gpuCase("mmap", "cold", 3, 1)], 10);
  assert.equal(verdict(slow).code, 1);
  assert.match(verdict(slow).text, /^FAIL: 1 of 5 goals met, 4 failed; 0 step\(s\) not ok$/);
  const stopped = {
    ...good,
    steps: [...good.steps, { name: "peers", state: "timed out" as const, seconds: 150, note: "x" }],
  };
  assert.equal(verdict(stopped).code, 1);
  const none = { ...good, gpu: false, device: "the CUDA driver found no GPU: cuInit failed" };
  assert.deepEqual(verdict(none), {
    code: 3,
    text:
      "no GPU here: the CUDA driver found no GPU: cuInit failed; nothing was measured on cuda:0 (the steps ran on host as a rehearsal)",
  });
  assert.match(renderResults(none), /^Verdict: no GPU here: .* \(exit 3\)$/m);
});

Deno.test("what was not measured: steps not ok, skipped cases, a run cut short, unproven goals", () => {
  const cases = [
    gpuCase("streamed", "warm", 47),
    {
      ...gpuCase("gds", "cold", 0),
      state: "skipped",
      reason: "GPUDirect Storage is not available here",
    } as unknown as ProfileCase,
  ];
  const base = input(cases);
  const partial: CheckInput = {
    ...base,
    large: { cases, run: { state: "running" } } as unknown as Profile,
    steps: [
      { name: "GPU tests", state: "ok", seconds: 60 },
      { name: "large scenario", state: "running", seconds: 0 },
      { name: "peers", state: "pending", seconds: 0 },
      { name: "quick scenario", state: "skipped", seconds: 0, note: "no time left in the budget" },
    ],
  };
  assert.deepEqual(notMeasured(partial), [
    "large scenario: running when this summary was written (if this is the last summary, the check was stopped during it)",
    "peers: not started when this summary was written",
    "quick scenario: skipped: no time left in the budget",
    "the large scenario's run is running: its profile keeps every sample taken",
    "m/gds/cuda:0/cold: skipped: GPUDirect Storage is not available here",
    'goal "cold best ≥ 0.95× the probe\'s storage bandwidth": unproven: a cold cuda:0 case was not measured',
  ]);
  assert.match(renderResults(partial), /## Not measured\n\n- large scenario: running/);
});
