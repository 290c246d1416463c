/**
 * The profile format: what a run leaves behind, one JSON file per run. One zod
 * schema describes every field; the types every reader and writer uses are
 * inferred from it, so the file format and the code cannot drift apart. The
 * schema is strict where the data is weightbench's own (an unknown key is an
 * error naming its path) and open only where a profile records what others
 * said (a strategy's options, a scheduler's variables, a target's facts).
 *
 * {@link parseProfile} checks a parsed JSON value and brings an older layout
 * up to {@link SCHEMA_VERSION} (see `migrate.ts`), so report, compare and
 * merge read one shape only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProfile, SCHEMA_VERSION } from "./schema.ts";
 * import { syntheticProfile } from "./_synthetic.ts";
 *
 * const profile = parseProfile(JSON.parse(JSON.stringify(syntheticProfile())), "p.json");
 * assert.equal(profile.schemaVersion, SCHEMA_VERSION);
 * assert.throws(
 *   () => parseProfile({ ...profile, cases: [{ ...profile.cases[0], surprise: 1 }] }, "p.json"),
 *   /Cannot read profile "p.json": cases\[0\]: unknown key "surprise"/,
 * );
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Summary } from "../bench/stats/summary.ts";
import { PHASES, type Span } from "../bench/core/recorder.ts";
import type { GpuInfo } from "../bench/gpu/inventory.ts";
import { InputError } from "../bench/util/errors.ts";
import { issueText } from "../bench/util/issue_text.ts";
import { migrateProfile } from "./migrate.ts";

/** The version of the profile layout this tool writes and reads. */
export const SCHEMA_VERSION = 2;
/** The tool's version, recorded in every profile. */
export const TOOL_VERSION = "0.2.0";

/** `T` with every property and array read-only, as profiles are handed around. */
export type Frozen<T> = T extends readonly (infer U)[] ? readonly Frozen<U>[]
  : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> }
  : T;

const count = z.number().int().nonnegative();
/** A duration or a time offset in milliseconds: finite, never negative. */
const millis = z.number().finite().nonnegative();
const bytes = z.number().finite().nonnegative();
const rate = z.number().finite().nonnegative();
const fraction = z.number().finite().min(0).max(1);
const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Statistics of repeated timings (`bench/stats/summary.ts`). */
export const summarySchema: z.ZodType<Summary> = z.strictObject({
  n: count,
  median: z.number().finite(),
  q1: z.number().finite(),
  q3: z.number().finite(),
  iqr: z.number().finite(),
  min: z.number().finite(),
  max: z.number().finite(),
  mean: z.number().finite(),
  stddev: z.number().finite(),
  cv: z.number().finite(),
  mad: z.number().finite(),
  ci: z.strictObject({
    low: z.number().finite(),
    high: z.number().finite(),
    level: z.number().gt(0).lt(1),
  }),
  outliers: z.array(count),
  noisy: z.boolean(),
});

/** One timed interval of a phase (`bench/core/recorder.ts`). */
export const spanSchema: z.ZodType<Span> = z.strictObject({
  phase: z.enum(PHASES),
  start: millis,
  end: millis,
  detail: z.string().optional(),
}).refine((span) => span.end >= span.start, { message: "span ends before it starts" });

/** How a load's bytes were checked against the source. */
export const verificationSchema = z.strictObject({
  /** `all`: every byte hashed; `sampled`: every placement and windows of each tensor. */
  mode: z.enum(["all", "sampled"]),
  /** Bytes of tensor content compared with the source; null where a version-1 profile did not say. */
  checkedBytes: bytes.nullable(),
});
export type Verification = Frozen<z.infer<typeof verificationSchema>>;

/** One timed load. */
export const sampleSchema = z.strictObject({
  /** Round of the run (warmup rounds first). */
  round: count,
  /** Warmup samples are kept but left out of the statistics. */
  warmup: z.boolean(),
  /** Milliseconds from the start of the run to the start of the load. */
  startedAt: millis,
  /** Wall-clock time the load started, epoch ms: compares across nodes whose clocks agree. */
  startedAtEpochMs: z.number().finite().optional(),
  /** How late the load started against its slot in a herd's timetable (negative: early). */
  lateMs: z.number().finite().optional(),
  /** Wall time of the load: from the strategy's start to the last byte on the target. */
  durationMs: z.number().finite().positive(),
  /** Tensor bytes placed on the target. */
  bytes,
  /** Bytes the strategy read from storage. */
  bytesRead: bytes,
  /** Bytes by tier, for strategies with several (prestaged: `source`, `staging`). */
  bytesBySource: z.record(z.string(), bytes).optional(),
  /** Facts the strategy reports about this load (dequantization path, cuFile mode, …). */
  details: z.record(z.string(), scalar).optional(),
  /** The page-cache state measured just before the load. */
  cache: z.strictObject({
    residentFraction: fraction,
    residentBytes: bytes,
    established: z.boolean(),
  }),
  /** Peak resident memory of the process during the load, or null where unknown. */
  peakRssBytes: bytes.nullable(),
  /** Resident memory when the load started (the target's arena included), or null where unknown. */
  rssBeforeBytes: bytes.nullable(),
  /** Time the harness spent on this sample besides cache preparation, load, verification and free. */
  harnessMs: z.number().finite(),
  /** Preparing the sample: a garbage collection where exposed, then the cache state (not part of the load). */
  cachePrepMs: millis,
  /** How the loaded bytes were checked; a sample that failed its check errors its case. */
  verification: verificationSchema,
  /** Every phase, in milliseconds from the start of the load; verify and free come after it. */
  spans: z.array(spanSchema),
  /**
   * What a GPU target measured around the load: device memory before, after
   * and once released, its peak, and the host-to-device copies by CUDA events.
   */
  device: z.strictObject({
    memoryBeforeBytes: bytes,
    memoryAfterBytes: bytes,
    peakMemoryBytes: bytes.nullable(),
    gpuMemorySource: z.string(),
    h2dEventMs: millis.nullable(),
    h2dBytes: bytes,
    memoryReleasedBytes: bytes,
  }).optional(),
  /** Device memory in use over the load, `t` in ms from its start (what report/ draws). */
  gpuMemory: z.array(z.strictObject({ t: z.number().finite(), usedBytes: bytes })).nullable()
    .optional(),
});
export type Sample = Frozen<z.infer<typeof sampleSchema>>;

/** A case's throughput against the machine limit that bounds it. */
export const ofLimitSchema = z.strictObject({
  /** Median throughput / limit. */
  fraction: z.number().finite().nonnegative(),
  /** Which limit: `storage (O_DIRECT)`, `page cache`, `cuda:0 pinned h2d`, … */
  limit: z.string(),
  limitGBps: rate,
});
export type OfLimit = Frozen<z.infer<typeof ofLimitSchema>>;

/** Statistics of one case's timed samples. */
export const caseStatsSchema = z.strictObject({
  samples: count,
  /** Load wall time. */
  durationMs: summarySchema,
  /** Decimal GB/s of tensor bytes at the median time, and at the CI's ends. */
  throughputGBps: z.strictObject({ median: rate, low: rate, high: rate }),
  /** Per phase, the wall time its spans cover inside the load (overlapping spans count once). */
  phases: z.partialRecord(z.enum(PHASES), summarySchema),
  /** Time to verify the loaded bytes, after the load. */
  verifyMs: summarySchema.nullable(),
  peakRssBytes: z.strictObject({ median: bytes, max: bytes }).nullable(),
  /** The most a load added to resident memory: its peak less the RSS when it started. */
  loadRssBytes: z.strictObject({ max: z.number().finite() }).nullable(),
  /** How many timed samples were checked, and how (`mixed` when samples differ). */
  verified: z.strictObject({
    samples: count,
    mode: z.enum(["all", "sampled", "mixed"]),
  }),
  cache: z.strictObject({
    established: count,
    residentFraction: z.strictObject({ min: fraction, max: fraction }),
  }),
  harnessMs: z.strictObject({ median: z.number().finite(), max: z.number().finite() }),
  /** Throughput as a fraction of the machine's limit; null without probe figures. */
  ofLimit: ofLimitSchema.nullable().optional(),
});
export type CaseStats = Frozen<z.infer<typeof caseStatsSchema>>;

/** What this machine can do, measured by the probe; throughputs in decimal GB/s. */
export const machineLimitsSchema = z.strictObject({
  /** When the probe ran (ISO 8601). */
  measuredAt: z.string(),
  /** The cache key: host, storage device and file system, GPUs. */
  key: z.string(),
  storage: z.strictObject({
    /** The folder whose storage was measured. */
    path: z.string(),
    /** Best O_DIRECT sequential read, with the settings that reached it; null where O_DIRECT is refused. */
    cold: z.strictObject({ gbps: rate, blockSize: count, depth: count }).nullable(),
    /** Sequential read from the page cache. */
    warm: z.strictObject({ gbps: rate }),
    /** Slowest and fastest repeat of the limit itself (the limit is the fastest). */
    spread: z.strictObject({
      cold: z.strictObject({ min: rate, max: rate }).nullable(),
      warm: z.strictObject({ min: rate, max: rate }),
    }).optional(),
    /**
     * What was read: a probe file of `bytes` written for the purpose (the same
     * whatever is benchmarked), or the weights themselves where the folder
     * could not take one.
     */
    method: z.strictObject({ source: z.enum(["probe file", "weights"]), bytes: bytes })
      .optional(),
  }),
  /** Large host memory copy. */
  memoryCopyGBps: rate,
  /** Host-to-device and device-to-host links, per GPU. */
  devices: z.array(z.strictObject({
    id: z.string(),
    pinnedH2DGBps: rate,
    pageableH2DGBps: rate,
    pinnedD2HGBps: rate,
    pageableD2HGBps: rate,
  })),
  /** Why no device link was measured: `no host-to-device limit: <reason>` (no GPU, no driver). */
  devicesUnavailable: z.string().optional(),
});
export type MachineLimits = Frozen<z.infer<typeof machineLimitsSchema>>;

/** A GPU of the machine (`bench/gpu/inventory.ts`). */
export const gpuInfoSchema: z.ZodType<GpuInfo> = z.strictObject({
  index: count,
  name: z.string(),
  uuid: z.string().optional(),
  pciBusId: z.string().optional(),
  driver: z.string().optional(),
  memoryTotalBytes: bytes.optional(),
  pcieLinkGeneration: count.optional(),
  pcieLinkWidth: count.optional(),
  pcieLinkMaxGeneration: count.optional(),
  pcieLinkMaxWidth: count.optional(),
});

/** Where a set of weights is stored. */
export const storageSchema = z.strictObject({
  /** The path measured. */
  path: z.string(),
  /** File system type: `ext4`, `xfs`, `tmpfs`, `nfs4`, … or `unknown`. */
  fileSystem: z.string(),
  mountPoint: z.string(),
  /** What is mounted: `/dev/nvme0n1p1`, a server export, `tmpfs`. */
  source: z.string(),
  /** Block device numbers `major:minor`. */
  device: z.string(),
  /** The block device's model, where the kernel names one. */
  deviceModel: z.string().nullable(),
  /** Whether the block device is a spinning disk, where known. */
  rotational: z.boolean().nullable(),
});
export type Storage = Frozen<z.infer<typeof storageSchema>>;

/** The machine a profile was measured on. */
export const environmentSchema = z.strictObject({
  host: z.string(),
  os: z.string(),
  arch: z.string(),
  kernel: z.string(),
  cpu: z.strictObject({ model: z.string(), cores: count }),
  memoryBytes: bytes,
  /** `always`, `madvise` or `never`: transparent huge pages change fault costs. */
  transparentHugePages: z.string().nullable(),
  deno: z.strictObject({ deno: z.string(), v8: z.string(), typescript: z.string() }),
  git: z.strictObject({ commit: z.string().nullable(), dirty: z.boolean().nullable() }),
  storage: z.array(storageSchema),
  /** The GPUs (NVML, else nvidia-smi), and where the list came from or why it is empty. */
  gpus: z.array(gpuInfoSchema).optional(),
  gpuInventory: z.strictObject({ source: z.string(), reason: z.string().optional() }).optional(),
});
export type Environment = Frozen<z.infer<typeof environmentSchema>>;

/** The scheduler job a run belonged to. */
export const schedulerIdsSchema = z.strictObject({
  kind: z.enum(["slurm", "kubernetes"]),
  /** Slurm: the array job id, else the job id. Kubernetes: the Job's name. */
  jobId: z.string().nullable(),
  /** Slurm: the array task id, else the task's rank. Kubernetes: the completion index. */
  taskId: z.string().nullable(),
  /** Every scheduler variable that was set, as read. */
  env: z.record(z.string(), z.string()),
});
export type SchedulerIds = Frozen<z.infer<typeof schedulerIdsSchema>>;

/** The machine that ran a profile. */
export const nodeInfoSchema = z.strictObject({
  /** `--node-label`, else the scheduler's node name, else the host name. */
  name: z.string(),
  /** The host name the process saw (a pod's name under Kubernetes). */
  host: z.string(),
  scheduler: schedulerIdsSchema.nullable(),
});
export type NodeInfo = Frozen<z.infer<typeof nodeInfoSchema>>;

/** What identifies a plan across machines: its size and a digest of its case ids, in order. */
export const planIdentitySchema = z.strictObject({
  cases: count,
  /** SHA-256 of the ids joined by newlines, first 16 hex digits. */
  digest: z.string(),
});
export type PlanIdentity = Frozen<z.infer<typeof planIdentitySchema>>;

/** How a run's start was synchronised with the other members of a herd. */
export const herdStartSchema = z.strictObject({
  /** T0, epoch ms: when the first slot started. */
  startAt: z.number().finite(),
  /** Time each sample gets in the timetable. */
  slotMs: millis,
  /** `start-at` (given) or `barrier` (the folder's path). */
  source: z.string(),
});
export type HerdStart = Frozen<z.infer<typeof herdStartSchema>>;

/**
 * Which part of a fleet run a profile is: one slice of a plan (`--shard I/N`,
 * mode `shard`), or one member of a herd running every case (`--herd I/N`,
 * mode `herd`). Indices count from 1.
 */
export const shardInfoSchema = z.strictObject({
  mode: z.enum(["shard", "herd"]),
  index: z.number().int().positive(),
  count: z.number().int().positive(),
  /** The whole plan, before `auto` targets resolve: the same on every node. */
  plan: planIdentitySchema,
  /** Herds: the synchronised start, when there was one. */
  start: herdStartSchema.nullable().optional(),
}).refine((s) => s.index <= s.count, {
  message: "shard index is larger than the shard count",
  path: ["index"],
});
export type ShardInfo = Frozen<z.infer<typeof shardInfoSchema>>;

/** A generated model, described by a layout scaled to a size. */
export const fixtureWeightsSchema = z.strictObject({
  kind: z.literal("fixture"),
  layout: z.string(),
  size: z.number().int().positive(),
  dtype: z.string(),
  shards: z.number().int().positive(),
  /** The file format written. */
  format: z.string(),
});

/** Weights on disk or at a URL: a file, or a folder of shards. */
export const pathWeightsSchema = z.strictObject({ kind: z.literal("path"), path: z.string() });

/** Where the weights of a case come from. */
export const weightsSpecSchema = z.discriminatedUnion("kind", [
  fixtureWeightsSchema,
  pathWeightsSchema,
]);

/** A strategy with its options resolved. */
export const strategyChoiceSchema = z.strictObject({
  name: z.string(),
  options: z.record(z.string(), z.unknown()),
});
export type StrategyChoice = Frozen<z.infer<typeof strategyChoiceSchema>>;

const cacheState = z.enum(["cold", "warm"]);

/** The scenario a profile ran, every default filled in (`bench/scenarios/schema.ts` makes it). */
export const scenarioRecordSchema = z.strictObject({
  name: z.string(),
  description: z.string(),
  weights: z.array(weightsSpecSchema),
  strategies: z.array(strategyChoiceSchema),
  /** `host`, `cuda:N`, or `auto` until the run resolves it. */
  targets: z.array(z.string()),
  cache: z.array(cacheState),
  runs: z.number().int().positive(),
  /** How samples per case were decided (`runs: "auto"`); null or absent: `runs` each. */
  sampling: z.strictObject({
    minRuns: z.number().int().positive(),
    maxRuns: z.number().int().positive(),
    ciTarget: z.number().gt(0).lt(1),
    budgetMs: z.number().int().nonnegative(),
  }).nullable().optional(),
  warmup: count,
  /** The file or built-in name the scenario came from; null when made in code. */
  source: z.string().nullable(),
});
export type ScenarioRecord = Frozen<z.infer<typeof scenarioRecordSchema>>;

/** One case in a profile. */
export const profileCaseSchema = z.strictObject({
  /** `weights/strategy/target/cache`: unique in the profile. */
  id: z.string().min(1),
  index: count,
  weights: z.string(),
  strategy: strategyChoiceSchema,
  strategyLabel: z.string(),
  target: z.string(),
  cache: cacheState,
  state: z.enum(["completed", "errored", "skipped"]),
  error: z.string().optional(),
  reason: z.string().optional(),
  samples: z.array(sampleSchema),
  stats: caseStatsSchema.nullable(),
  /** In a merged profile: the index in `nodes` of the node that ran the case. */
  node: count.optional(),
  /**
   * In a merged profile whose case ids would repeat (a herd: every node runs
   * every case), the id the case had in its node's profile; `id` then ends in
   * `@<node key>`.
   */
  planId: z.string().optional(),
});
export type ProfileCase = Frozen<z.infer<typeof profileCaseSchema>>;

/** The weights a profile measured. */
export const profileWeightsSchema = z.strictObject({
  label: z.string(),
  source: z.string(),
  format: z.string(),
  fixture: z.record(z.string(), z.unknown()).nullable(),
  files: z.array(z.strictObject({ path: z.string(), size: bytes, tensors: count })),
  tensorCount: count,
  tensorBytes: bytes,
  fileBytes: bytes,
  /**
   * What the format readers saw but did not load (STRING tensors of an ONNX
   * model, …), by file and reason; absent when nothing was skipped.
   */
  skipped: z.array(z.strictObject({ file: z.string(), reason: z.string(), count })).optional(),
});
export type ProfileWeights = Frozen<z.infer<typeof profileWeightsSchema>>;

/** Facts a target reports about itself (device name, driver, arena size, …). */
export const targetInfoSchema = z.record(z.string(), z.union([scalar, z.null()]));

const runInfoSchema = z.strictObject({
  startedAt: z.string(),
  durationMs: millis,
  runs: z.number().int().positive(),
  warmup: count,
  /**
   * `complete`; `running` while the run writes it after every sample (a
   * profile left `running` is from a run that was killed); `interrupted` when
   * a signal stopped it, named in `interruptedBy`.
   */
  state: z.enum(["complete", "running", "interrupted"]),
  interruptedBy: z.string().optional(),
});

/** One source profile of a merged profile: the machine and what it ran. */
export const profileNodeSchema = z.strictObject({
  /** Short and unique in the profile: the shard or member index, else the position (from 1). */
  key: z.string(),
  /** The node's name. */
  label: z.string(),
  /** The source profile's id and the file it was read from. */
  profile: z.string(),
  source: z.string().nullable(),
  scenario: z.string(),
  shard: shardInfoSchema.nullable(),
  node: nodeInfoSchema.nullable(),
  environment: environmentSchema,
  limits: machineLimitsSchema.nullable(),
  targets: z.record(z.string(), targetInfoSchema),
  run: runInfoSchema,
  command: z.array(z.string()),
  cases: count,
});
export type ProfileNode = Frozen<z.infer<typeof profileNodeSchema>>;

/** What a merged profile was made of. */
export const mergeInfoSchema = z.strictObject({
  /** `shards` of one plan, members of one `herd`, or profiles `combined` as given. */
  mode: z.enum(["shards", "herd", "combined"]),
  sources: z.number().int().positive(),
  /** Shards or members named by the inputs' `I/N` that were not given (with `--allow-missing`). */
  missing: z.array(z.string()),
});
export type MergeInfo = Frozen<z.infer<typeof mergeInfoSchema>>;

/** A whole profile, as written to disk. */
export const profileSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  tool: z.strictObject({ name: z.literal("weightbench"), version: z.string() }),
  id: z.string().min(1),
  createdAt: z.string(),
  command: z.array(z.string()),
  scenario: scenarioRecordSchema,
  environment: environmentSchema,
  /** The probe's figures for this machine, when measured. */
  limits: machineLimitsSchema.nullable().optional(),
  targets: z.record(z.string(), targetInfoSchema),
  weights: z.array(profileWeightsSchema),
  run: runInfoSchema,
  cases: z.array(profileCaseSchema),
  /** The part of a fleet run this profile is, or null for a whole run. */
  shard: shardInfoSchema.nullable().optional(),
  /** The machine and scheduler job that ran it. */
  node: nodeInfoSchema.nullable().optional(),
  /** Set on a profile made by `merge`; `environment` is then the first node's. */
  merged: mergeInfoSchema.nullable().optional(),
  /** A merged profile's nodes; each case's `node` indexes this list. */
  nodes: z.array(profileNodeSchema).optional(),
}).superRefine((profile, ctx) => {
  const seen = new Map<string, number>();
  for (const [i, c] of profile.cases.entries()) {
    const first = seen.get(c.id);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", i, "id"],
        message: `case id "${c.id}" repeats cases[${first}]`,
      });
    }
    seen.set(c.id, i);
    if (c.node !== undefined && c.node >= (profile.nodes?.length ?? 0)) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", i, "node"],
        message: `node ${c.node} is not in "nodes" (${profile.nodes?.length ?? 0} nodes)`,
      });
    }
    if (c.state === "completed" && c.samples.every((s) => s.warmup)) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", i, "samples"],
        message: `completed case "${c.id}" has no timed samples`,
      });
    }
  }
});
export type Profile = Frozen<z.infer<typeof profileSchema>>;

/**
 * Checks `json` (a parsed profile of any version this tool knows) and returns
 * it in the current layout; throws an {@link InputError} naming `file`, the
 * field's path and the problem.
 */
export function parseProfile(json: unknown, file: string): Profile {
  const current = migrateProfile(json, file);
  const checked = profileSchema.safeParse(current);
  if (!checked.success) {
    throw new InputError(`Cannot read profile "${file}": ${describeIssue(checked.error.issues)}`);
  }
  return checked.data;
}

/** `cases[3].samples[0].durationMs: too small: expected > 0` for the first issue. */
function describeIssue(issues: readonly z.core.$ZodIssue[]): string {
  const issue = issues[0];
  if (!issue) return "invalid profile";
  const where = issue.path.reduce<string>(
    (text, key) =>
      typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
    "",
  );
  const message = issueText(issue);
  return where ? `${where}: ${message}` : message;
}
