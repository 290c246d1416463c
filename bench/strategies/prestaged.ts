/**
 * `prestaged`: the weights a case names are the source tier — a local folder
 * on slower storage, or an http(s) URL (an object store, a mirror) — and the
 * load first stages each file into a local staging folder
 * (`bench/stage/store.ts`: parallel range reads, content-addressed, verified,
 * resumable, locked, evicted by a byte budget), timed as the `stage` phase,
 * then loads the staged copies with an inner strategy (`load`: `mmap`,
 * `full-read`, `parallel` or `direct`, with its `loadOptions`).
 *
 * `mode` says which start is measured:
 *
 * - `cold-start`: before each sample (outside its timing) the staging
 *   entries are emptied, as on a machine that never staged the model, so
 *   every sample is stage + load;
 * - `staged` (the default): entries are kept, so after the first load
 *   (a warmup) every sample finds its copies staged and only loads.
 *
 * Each sample says where its bytes came from (`bytesBySource`: `source`,
 * read from the source tier while staging; `staging`, read from the staged
 * copies by the load), how many files were already staged, and how the copies
 * were verified. `bytesRead` counts the load's reads of the staged copies.
 *
 * The staging folder is the option `stagingDir`, else `WEIGHTBENCH_STAGING`,
 * else `fixtures/.cache/staging`; `budget` (bytes, or a size such as
 * `"20GiB"`; 0 for no limit) bounds it.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { z } from "zod";
import { fileSystemType, RAMFS_MAGIC, TMPFS_MAGIC } from "../ffi/libc.ts";
import type { WeightFile, WeightSet } from "../formats/weights.ts";
import type { Recorder } from "../core/recorder.ts";
import { openStageSource } from "../stage/sources.ts";
import { STAGE_CHUNK, STAGE_READERS, STAGE_RETRIES, StagingStore } from "../stage/store.ts";
import type { Target } from "../core/target.ts";
import { optionalEnv } from "../util/env.ts";
import { parseSize } from "../util/size.ts";
import { direct } from "./direct.ts";
import { fullRead } from "./full_read.ts";
import { mmap } from "./mmap.ts";
import { parallel } from "./parallel.ts";
import { type Strategy, type StrategyDefinition } from "./strategy.ts";
import {
  type LoadContext,
  type LoadResult,
  type Placement,
  targetFootprint,
} from "../core/load.ts";

/** The staging folder when neither the option nor `WEIGHTBENCH_STAGING` names one. */
export const DEFAULT_STAGING_DIR: string = fileURLToPath(
  new URL("../../fixtures/.cache/staging", import.meta.url),
);

// deno-lint-ignore no-explicit-any
type AnyDefinition = StrategyDefinition<any>;

/** The strategies that can load the staged copies. */
const INNER: Readonly<Record<string, AnyDefinition>> = {
  mmap,
  "full-read": fullRead,
  parallel,
  direct,
};

const options = z.strictObject({
  load: z.enum(["mmap", "full-read", "parallel", "direct"]).default("mmap"),
  loadOptions: z.record(z.string(), z.unknown()).default({}),
  mode: z.enum(["cold-start", "staged"]).default("staged"),
  stagingDir: z.string().min(1).optional(),
  budget: z.union([z.number().int().min(0), z.string()]).default(0),
  readers: z.number().int().min(1).max(64).default(STAGE_READERS),
  chunkSize: z.number().int().min(4096).max(1 << 30).default(STAGE_CHUNK),
  retries: z.number().int().min(0).max(20).default(STAGE_RETRIES),
}).transform((o, ctx) => {
  const inner = INNER[o.load]!.options.safeParse(o.loadOptions);
  if (!inner.success) {
    for (const issue of inner.error.issues) {
      ctx.addIssue({
        code: "custom",
        message: issue.message,
        path: ["loadOptions", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
      });
    }
    return z.NEVER;
  }
  const budget = typeof o.budget === "number" ? o.budget : parseSize(o.budget);
  if (budget === undefined || !Number.isSafeInteger(budget) || budget < 0) {
    ctx.addIssue({
      code: "custom",
      path: ["budget"],
      message: `"${o.budget}" is not a size such as "20GiB"`,
    });
    return z.NEVER;
  }
  // Kept as given (checked above), so a case's label names only the options the user set.
  return { ...o, budget };
});

type Options = z.output<typeof options>;

/** The `prestaged` strategy. */
export const prestaged: StrategyDefinition<Options> = {
  name: "prestaged",
  summary:
    "stage files from a source tier (folder or http URL) into local staging, then load the copies",
  options,
  create: (resolved) => new PrestagedStrategy(resolved),
};

class PrestagedStrategy implements Strategy {
  readonly name = "prestaged";
  readonly #options: Options;
  readonly #inner: Strategy;
  readonly #store: StagingStore;
  /** Source path → staged copy, from the last stage or lookup. */
  readonly #staged = new Map<string, string>();
  #emptied = false;

  constructor(options: Options) {
    this.#options = options;
    const definition = INNER[options.load]!;
    this.#inner = definition.create(definition.options.parse(options.loadOptions));
    this.#store = new StagingStore({
      root: options.stagingDir ?? optionalEnv("WEIGHTBENCH_STAGING") ?? DEFAULT_STAGING_DIR,
      budgetBytes: options.budget,
      readers: options.readers,
      chunkSize: options.chunkSize,
      retries: options.retries,
    });
  }

  unsupported(weights: WeightSet, target: Target): string | undefined {
    // The inner load's own check (host memory) holds for the staged copies, which have the same sizes.
    if (this.#options.load !== "direct") return this.#inner.unsupported?.(weights, target);
    Deno.mkdirSync(this.#store.root, { recursive: true });
    const type = fileSystemType(this.#store.root);
    if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) {
      return `the staging folder "${this.#store.root}" is on a memory file system (tmpfs): there is no page cache for O_DIRECT to bypass`;
    }
    return undefined;
  }

  footprint(weights: WeightSet): number {
    return this.#inner.footprint?.(weights) ?? targetFootprint(weights);
  }

  async prepareSample(weights: WeightSet, target: Target): Promise<void> {
    if (this.#options.mode === "cold-start") {
      await this.#empty(weights);
      this.#emptied = true;
    } else {
      // Outside the timing: a staged copy's first use in this process re-hashes it.
      for (const file of weights.files) await this.#store.lookup(await openStageSource(file.path));
    }
    await this.#inner.prepareSample?.(weights, target);
  }

  cachePaths(weights: WeightSet): readonly string[] {
    const local = weights.files.map((f) => f.path).filter((p) => !/^https?:\/\//i.test(p));
    if (this.#options.mode === "cold-start") return local;
    const staged = weights.files.map((f) => this.#staged.get(f.path));
    return staged.every((p) => p !== undefined) ? staged as string[] : local;
  }

  async load(context: LoadContext): Promise<LoadResult> {
    const { weights, recorder } = context;
    let emptiedInLoad = false;
    if (this.#options.mode === "cold-start" && !this.#emptied) {
      // The runner did not call prepareSample: empty the entries here, in plain sight.
      await recorder.timeAsync("free", () => this.#empty(weights), "emptying the staging entries");
      emptiedInLoad = true;
    }
    this.#emptied = false;

    const files: WeightFile[] = [];
    let fromSource = 0;
    let resumed = 0;
    let hits = 0;
    const verifiedBy = new Set<string>();
    for (const file of weights.files) {
      const staged = await recorder.timeAsync("stage", async () => {
        const source = await openStageSource(file.path, { signal: context.signal });
        // A cold start copies even when another run staged the entry; a wait for its lock is a `wait`.
        return await this.#store.stage(source, {
          signal: context.signal,
          fresh: this.#options.mode === "cold-start",
          onWait: () => recorder.startWait(`staging lock: ${file.path}`),
        });
      }, file.path);
      this.#staged.set(file.path, staged.path);
      fromSource += staged.bytesFromSource;
      resumed += staged.resumedBytes;
      if (staged.hit) hits++;
      verifiedBy.add(staged.verifiedBy);
      files.push({ ...file, path: staged.path });
    }
    const first = recorder.spans.length;
    const inner = await this.#inner.load({ ...context, weights: { ...weights, files } });
    renameSpans(recorder, first, files, weights.files);
    return {
      ...inner,
      placements: sourcePlacements(inner.placements, files, weights.files),
      bytesBySource: { source: fromSource, staging: inner.bytesRead },
      details: {
        ...inner.details,
        mode: this.#options.mode,
        load: this.#options.load,
        stagedFiles: files.length - hits,
        alreadyStagedFiles: hits,
        resumedBytes: resumed,
        verifiedBy: [...verifiedBy].join("; "),
        stagingDir: this.#store.root,
        ...(emptiedInLoad ? { emptiedInLoad } : {}),
      },
    };
  }

  close(): void {
    this.#inner.close?.();
  }

  async #empty(weights: WeightSet): Promise<void> {
    for (const file of weights.files) {
      await this.#store.remove(await openStageSource(file.path));
      this.#staged.delete(file.path);
    }
  }
}

/** Spans the inner load recorded name the staged copies: name the source files instead. */
function renameSpans(
  recorder: Recorder,
  first: number,
  staged: readonly WeightFile[],
  sources: readonly WeightFile[],
): void {
  const names = new Map<string, string>();
  staged.forEach((f, i) => {
    if (!names.has(f.path)) names.set(f.path, sources[i]!.path);
  });
  for (let i = first; i < recorder.spans.length; i++) {
    const span = recorder.spans[i]!;
    const name = span.detail === undefined ? undefined : names.get(span.detail);
    if (name !== undefined) recorder.spans[i] = { ...span, detail: name };
  }
}

/**
 * Placements name the staged copies: name the source files, which the
 * verifier's digests know. Two source files with the same content share one
 * staged copy; then the tensor's name tells them apart.
 */
function sourcePlacements(
  placements: readonly Placement[],
  staged: readonly WeightFile[],
  sources: readonly WeightFile[],
): Placement[] {
  return placements.map((p) => {
    const candidates = sources.filter((_, i) => staged[i]!.path === p.file);
    const source = candidates.length === 1
      ? candidates[0]
      : candidates.find((f) => f.index.tensors.some((t) => t.name === p.tensor.name));
    return source === undefined ? p : { ...p, file: source.path };
  });
}
