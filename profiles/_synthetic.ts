/**
 * A deterministic profile built through {@link buildProfile} from made-up
 * samples, for tests of everything that reads profiles (tables, reports,
 * comparisons) without running a benchmark.
 *
 * @module
 */

import type { RunResult } from "../bench/run/runner.ts";
import type { Sample } from "./schema.ts";
import { planCases } from "../bench/run/plan.ts";
import type { Phase } from "../bench/core/recorder.ts";
import { parseScenario } from "../bench/scenarios/schema.ts";
import { seededRandom } from "../bench/util/random.ts";
import type { Environment } from "./schema.ts";
import { buildProfile } from "../bench/run/profile.ts";
import { type Profile } from "./schema.ts";

/** A fixed environment. */
export const SYNTHETIC_ENVIRONMENT: Environment = {
  host: "bench-host",
  os: "linux",
  arch: "x86_64",
  kernel: "6.1.0",
  cpu: { model: "Test CPU", cores: 2 },
  memoryBytes: 24 * 1024 ** 3,
  transparentHugePages: "madvise",
  deno: { deno: "2.0.0", v8: "13.0", typescript: "5.6" },
  git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false },
  storage: [{
    path: "/models/demo",
    fileSystem: "ext4",
    mountPoint: "/",
    source: "/dev/vda",
    device: "254:0",
    deviceModel: null,
    rotational: false,
  }],
};

const BYTES = 512 * 1024 ** 2;

/** Samples around `medianMs`, with `spread` relative noise, from a seed. */
function samples(
  seed: string,
  medianMs: number,
  spread: number,
  count: number,
  cold: boolean,
): Sample[] {
  const random = seededRandom(seed);
  return Array.from({ length: count + 1 }, (_, i) => {
    const durationMs = medianMs * (1 + (random() - 0.5) * 2 * spread);
    const read = durationMs * 0.7;
    const spans: { phase: Phase; start: number; end: number }[] = [
      { phase: "open", start: 0, end: 0.1 },
      { phase: "parse", start: 0.1, end: 0.6 },
      { phase: "alloc", start: 0.6, end: 1 },
      { phase: "read", start: 1, end: 1 + read },
      { phase: "copy", start: 1 + read, end: durationMs - 1 },
      { phase: "free", start: durationMs - 1, end: durationMs },
      { phase: "verify", start: durationMs, end: durationMs + 300 },
    ];
    return {
      round: i,
      warmup: i === 0,
      startedAt: i * 1000,
      durationMs,
      bytes: BYTES,
      bytesRead: BYTES + 40_000,
      cache: { residentFraction: cold ? 0 : 1, residentBytes: cold ? 0 : BYTES, established: true },
      peakRssBytes: 900 * 1024 ** 2,
      rssBeforeBytes: 600 * 1024 ** 2,
      harnessMs: 0.2,
      cachePrepMs: cold ? 3 : 1,
      verification: { mode: "all" as const, checkedBytes: BYTES },
      spans,
    };
  });
}

/** A profile of the quick scenario's shape: two strategies, cold and warm, one skipped and one errored case. */
export function syntheticProfile(): Profile {
  const scenario = parseScenario({
    name: "synthetic",
    weights: [{ fixture: { layout: "llama-3-8b", size: "512MiB", shards: 2 } }],
    strategies: ["full-read", "mmap", { name: "mmap", options: { advice: "sequential" } }],
    targets: ["host"],
    cache: ["cold", "warm"],
    runs: 5,
  }, "synthetic.json");
  const cases = planCases(scenario);
  const result: RunResult = {
    state: "complete",
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 20_000,
    targets: { host: { kind: "host", arenaBytes: BYTES, copyThreads: 2 } },
    weights: [],
    cases: cases.map((c, i) => {
      if (i === 4) {
        return {
          case: c,
          outcome: { state: "skipped", reason: "not on this target", samples: [] },
        };
      }
      if (i === 5) {
        return {
          case: c,
          outcome: { state: "errored", error: 'Tensor "w" differs on host', samples: [] },
        };
      }
      const cold = c.cache === "cold";
      return {
        case: c,
        outcome: {
          state: "completed",
          samples: samples(c.id, cold ? 400 : 80, i === 3 ? 0.3 : 0.02, 5, cold),
        },
      };
    }),
  };
  return buildProfile({
    scenario,
    scenarioSource: "synthetic.json",
    command: ["bench"],
    environment: SYNTHETIC_ENVIRONMENT,
    result,
    now: new Date("2026-01-01T00:00:20.000Z"),
  });
}
