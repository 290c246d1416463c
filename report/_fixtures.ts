/**
 * Deterministic profiles for the report's tests, derived from
 * `syntheticProfile()`: a later run that is slower in some cases, one with
 * machine limits and GPU memory samples, one of an unrelated scenario, and a
 * hostile one whose strings try to inject HTML and script.
 *
 * @module
 */

import { syntheticProfile } from "../profiles/_synthetic.ts";
import { caseStats } from "../profiles/case_stats.ts";
import type { MachineLimits, Profile, ProfileCase, Sample } from "../profiles/schema.ts";
import type { GpuMemorySample } from "./model.ts";
import { measuredProfile } from "../bench/compare/_testing.ts";

/** A string that must never run or render as markup anywhere in a report. */
export const INJECTION = `</script><script>alert(1)</script><img src=x onerror="alert(2)">"'&<!--`;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function clone(profile: Profile): Mutable<Profile> {
  return structuredClone(profile) as Mutable<Profile>;
}

/** `c` with every sample's time (and spans) scaled by `factor`, statistics recomputed. */
function scaled(c: ProfileCase, factor: number): ProfileCase {
  if (c.state !== "completed") return c;
  const samples: Sample[] = c.samples.map((s) => ({
    ...s,
    durationMs: s.durationMs * factor,
    spans: s.spans.map((span) => ({ ...span, start: span.start * factor, end: span.end * factor })),
  }));
  return { ...c, samples, stats: caseStats(samples) };
}

/** The synthetic profile: the baseline of comparisons. */
export function baselineProfile(): Profile {
  return syntheticProfile();
}

/**
 * A later run on another commit: full-read 30% slower, mmap cold 30% faster,
 * mmap warm as noisy as before, and one case the baseline does not have.
 */
export function currentProfile(): Profile {
  const p = clone(syntheticProfile());
  p.createdAt = "2026-01-02T00:00:20.000Z";
  p.id = "2026-01-02T00-00-20-000Z-synthetic";
  p.environment = {
    ...p.environment,
    git: { commit: "fedcba9876543210fedcba9876543210fedcba98", dirty: false },
  };
  const cases = p.cases.map((c) => {
    if (c.strategy.name === "full-read") return scaled(c, 1.3);
    if (c.id.includes("/mmap/") && c.cache === "cold") return scaled(c, 0.7);
    return c;
  });
  const extra = cases[3]!;
  cases.push({
    ...extra,
    index: cases.length,
    id: extra.id.replace("/mmap/", "/mmap(advice=willneed)/"),
    strategy: { name: "mmap", options: { advice: "willneed" } },
    strategyLabel: "mmap(advice=willneed)",
  });
  p.cases = cases;
  return p;
}

/** The probe's figures for the synthetic machine. */
export const LIMITS: MachineLimits = {
  measuredAt: "2025-12-31T12:00:00.000Z",
  key: "bench-host/vda/ext4",
  storage: {
    path: "/models/demo",
    cold: { gbps: 2.5, blockSize: 1 << 20, depth: 8 },
    warm: { gbps: 9 },
  },
  memoryCopyGBps: 12,
  devices: [{
    id: "cuda:0",
    pinnedH2DGBps: 25,
    pageableH2DGBps: 11,
    pinnedD2HGBps: 26,
    pageableD2HGBps: 10,
  }],
};

/** The synthetic profile with machine limits, `ofLimit` per case and GPU memory samples. */
export function limitsProfile(): Profile {
  const p = clone(syntheticProfile());
  p.limits = LIMITS;
  p.cases = p.cases.map((c) => {
    if (c.stats === null) return c;
    const limitGBps = c.cache === "cold" ? 2.5 : 9;
    const samples = c.samples.map((s) => ({
      ...s,
      gpuMemory: gpuMemory(s.durationMs, s.bytes),
    }));
    return {
      ...c,
      samples,
      stats: {
        ...c.stats,
        ofLimit: {
          fraction: c.stats.throughputGBps.median / limitGBps,
          limit: c.cache === "cold" ? "storage cold" : "page cache",
          limitGBps,
        },
      },
    };
  });
  return p;
}

function gpuMemory(durationMs: number, bytes: number): GpuMemorySample[] {
  const base = 400 * 1024 ** 2;
  return Array.from({ length: 21 }, (_, i) => ({
    t: (durationMs * i) / 20,
    usedBytes: base + Math.round((bytes * i) / 20),
  }));
}

/**
 * The synthetic profile as a run that did not finish: `interrupted` by
 * `signal` (null: not named), or left `running` by a run that was killed. The last two cases
 * that completed keep only their first timed samples.
 */
export function partialProfile(
  state: "interrupted" | "running",
  signal: string | null = "SIGINT",
): Profile {
  const p = clone(syntheticProfile());
  p.run = {
    ...p.run,
    state,
    ...(state === "interrupted" && signal !== null ? { interruptedBy: signal } : {}),
  };
  p.cases = p.cases.map((c, i) => {
    if (i < 2 || c.state !== "completed") return c;
    const samples = c.samples.slice(0, 3);
    return { ...c, samples, stats: caseStats(samples) };
  });
  return p;
}

/**
 * The synthetic profile with the mmap cases verified by sampled windows, and
 * one of them with one sample that hashed every byte (`mixed`).
 */
export function sampledProfile(): Profile {
  const p = clone(syntheticProfile());
  p.cases = p.cases.map((c) => {
    if (c.state !== "completed" || c.strategy.name !== "mmap") return c;
    const samples: Sample[] = c.samples.map((s, i) => ({
      ...s,
      verification: c.cache === "warm" && i === 1
        ? s.verification
        : { mode: "sampled" as const, checkedBytes: 4096 },
    }));
    return { ...c, samples, stats: caseStats(samples) };
  });
  return p;
}

/** A run of another scenario on other weights: no case id in common with the synthetic one. */
export function unrelatedProfile(): Profile {
  const p = clone(syntheticProfile());
  p.scenario = { ...p.scenario, name: "other" };
  p.createdAt = "2026-01-03T00:00:00.000Z";
  p.weights = p.weights.map((w) => ({ ...w, label: "other-weights" }));
  p.cases = p.cases.map((c) => ({
    ...c,
    weights: "other-weights",
    id: c.id.replace(/^[^/]+/, "other-weights"),
  }));
  return p;
}

/** A profile whose every free-text field carries {@link INJECTION}. */
export function hostileProfile(): Profile {
  const p = clone(syntheticProfile());
  p.scenario = { ...p.scenario, name: INJECTION, description: INJECTION };
  p.environment = { ...p.environment, host: INJECTION, cpu: { model: INJECTION, cores: 2 } };
  p.targets = { host: { kind: INJECTION, arenaBytes: 1 << 20 } };
  p.run = { ...p.run, state: "interrupted", interruptedBy: INJECTION };
  p.cases = p.cases.map((c, i) => {
    const hostile = {
      ...c,
      strategyLabel: `${c.strategyLabel}${INJECTION}`,
      id: `${c.id}${INJECTION}`,
    };
    if (c.state === "errored") return { ...hostile, error: INJECTION };
    if (c.state === "skipped") return { ...hostile, reason: INJECTION };
    if (i === 0) {
      return {
        ...hostile,
        samples: hostile.samples.map((s) => ({
          ...s,
          spans: s.spans.map((span) => ({ ...span, detail: INJECTION })),
        })),
      };
    }
    return hostile;
  });
  return p;
}

/**
 * A run of the built-in quick scenario as this project's 2-core machine gave
 * it: nine strategies cold and warm (medians from a real run), a tie cold, a
 * clear winner warm, machine limits, and gds skipped.
 */
export function quickProfile(): Profile {
  const medians: readonly [string, number, number][] = [
    ["full-read", 330.3, 152.9],
    ["mmap", 230.2, 59.5],
    ["parallel", 279.6, 104.5],
    ["direct", 260.0, 240.9],
    ["pinned", 274.3, 123.3],
    ["streamed", 294.2, 109.5],
    ["prestaged", 235.0, 60.8],
    ["quantized", 264.0, 113.9],
    ["sharded", 226.3, 94.7],
  ];
  const spread = (ms: number, relative: number) =>
    [0, 1, -1, 0.5, -0.5].map((k) => ms * (1 + relative * k));
  const limits: MachineLimits = {
    ...LIMITS,
    storage: {
      ...LIMITS.storage,
      cold: { gbps: 3.2, blockSize: 1 << 20, depth: 8 },
      warm: { gbps: 18.5 },
    },
    devices: [],
  };
  const p = clone(measuredProfile(
    medians.flatMap(([strategy, cold, warm]) => [
      {
        strategy,
        cache: "cold" as const,
        durations: spread(cold, 0.08),
        weights: "llama-3-8b-512MiB-F16-2shards",
      },
      {
        strategy,
        cache: "warm" as const,
        durations: spread(warm, 0.04),
        weights: "llama-3-8b-512MiB-F16-2shards",
      },
    ]),
    { limits, memoryBytes: 24 * 1024 ** 3 },
  ));
  p.scenario = { ...p.scenario, name: "quick" };
  const gds = p.cases[0]!;
  p.cases = [
    ...p.cases,
    ...(["cold", "warm"] as const).map((cache, i): ProfileCase => ({
      ...gds,
      index: p.cases.length + i,
      id: `${gds.weights}/gds/host/${cache}`,
      strategy: { name: "gds", options: {} },
      strategyLabel: "gds",
      cache,
      state: "skipped",
      reason: 'GPUDirect Storage reads into GPU memory, which target "host" does not expose',
      samples: [],
      stats: null,
    })),
  ];
  return p;
}
