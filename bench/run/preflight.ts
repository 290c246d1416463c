/**
 * What a run checks before anything runs, so `--dry-run` refuses what the
 * real run would refuse, with the same one line and exit code 2: every weight
 * path exists and its headers parse (indexes and headers only, no tensor data
 * read), every fixture is a valid layout, and the folders a run writes into
 * (the profile's, and the fixture cache's when a fixture must be generated)
 * can be written — found out by creating and removing one empty file in the
 * nearest folder that exists, so a check leaves nothing behind and creates no
 * folder. Remote weights (`http(s)://`) are checked when the run opens them:
 * a dry run makes no request.
 *
 * `planBench` calls {@link preflight} for every plan; the scenario itself was
 * validated as it loaded, and the targets by the target registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preflight } from "./preflight.ts";
 * import { parseScenario } from "../scenarios/schema.ts";
 *
 * const scenario = parseScenario(
 *   { name: "demo", weights: ["/nonexistent"], strategies: ["mmap"], targets: ["host"] },
 *   "demo.json",
 * );
 * const out = await Deno.makeTempDir();
 * await assert.rejects(
 *   preflight(scenario, { out, fixtureRoot: `${out}/fixtures` }),
 *   /Cannot read "\/nonexistent": no such file or folder/,
 * );
 * await Deno.remove(out);
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { InputError } from "../util/errors.ts";
import { openWeights } from "../formats/weights.ts";
import { isRemoteWeights } from "../stage/remote_weights.ts";
import { fixtureKey, MANIFEST_FILE, planFixture } from "../../fixtures/generate.ts";
import type { Scenario, WeightsSpec } from "../scenarios/schema.ts";
import { labelWeights } from "./plan.ts";
import { exists } from "../util/fs.ts";

/** Where a run will write. */
export interface PreflightOptions {
  /** The folder for the profile. */
  readonly out: string;
  /** The fixture cache. */
  readonly fixtureRoot: string;
}

/** What the check found out about one weights entry of the scenario. */
export type CheckedWeights =
  | {
    readonly kind: "path";
    readonly label: string;
    readonly path: string;
    readonly format: string;
    readonly files: number;
    readonly tensorCount: number;
    readonly tensorBytes: number;
  }
  | {
    readonly kind: "fixture";
    readonly label: string;
    /** Whether it is in the cache already, or the run generates it first. */
    readonly cached: boolean;
    readonly tensorBytes: number;
  }
  | { readonly kind: "remote"; readonly label: string; readonly url: string };

/**
 * Checks `scenario`'s weights and the folders a run writes into; throws an
 * {@link InputError} naming the first problem. Returns what it found.
 */
export async function preflight(
  scenario: Scenario,
  options: PreflightOptions,
): Promise<CheckedWeights[]> {
  await checkWritable(options.out, "profiles");
  const checked: CheckedWeights[] = [];
  let fixtureRootChecked = false;
  for (const weights of scenario.weights) {
    const found = await checkWeights(weights, options.fixtureRoot);
    if (found.kind === "fixture" && !found.cached && !fixtureRootChecked) {
      await checkWritable(options.fixtureRoot, "fixtures");
      fixtureRootChecked = true;
    }
    checked.push(found);
  }
  return checked;
}

async function checkWeights(weights: WeightsSpec, fixtureRoot: string): Promise<CheckedWeights> {
  const label = labelWeights(weights);
  if (weights.kind === "fixture") {
    const { layout, size, dtype, shards, format } = weights;
    const spec = { layout, size, dtype, shards, format };
    const plan = planFixture(spec);
    const cached = await exists(join(fixtureRoot, fixtureKey(spec), MANIFEST_FILE));
    return { kind: "fixture", label, cached, tensorBytes: plan.tensorBytes };
  }
  if (isRemoteWeights(weights.path)) return { kind: "remote", label, url: weights.path };
  const set = await openWeights(weights.path);
  if (set.tensorCount === 0) {
    throw new InputError(`Cannot load "${weights.path}": it holds no tensors`);
  }
  return {
    kind: "path",
    label,
    path: weights.path,
    format: set.format,
    files: set.files.length,
    tensorCount: set.tensorCount,
    tensorBytes: set.tensorBytes,
  };
}

/**
 * Whether a run could create `dir` (if need be) and write files in it:
 * one empty file made and removed in `dir`, or in the nearest folder above it
 * that exists. `what` names the files in the message.
 */
export async function checkWritable(dir: string, what: string): Promise<void> {
  const target = resolve(dir);
  let existing = target;
  let info: Deno.FileInfo | null = null;
  for (;;) {
    info = await Deno.stat(existing).catch(() => null);
    if (info !== null || dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  const fail = (reason: string, cause?: unknown) =>
    new InputError(
      `Cannot write ${what} to "${dir}": ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  if (info === null) throw fail("no folder above it exists");
  if (!info.isDirectory) {
    throw fail(existing === target ? "not a folder" : `"${existing}" is not a folder`);
  }
  try {
    const probe = await Deno.makeTempFile({ dir: existing, prefix: ".write-check-" });
    await Deno.remove(probe);
  } catch (error) {
    const message = (error as Error).message;
    const denied = error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotCapable;
    const readOnly = /read-only file system|os error 30\b/i.test(message);
    throw fail(
      denied ? "permission denied" : readOnly ? "read-only file system" : message,
      error,
    );
  }
}
