/**
 * Finds a model in the Hugging Face hub cache, offline: `org/name[@revision]`
 * resolves to `<cache>/models--org--name/snapshots/<commit>/`, where the
 * cache is `HF_HUB_CACHE`, else `HF_HOME/hub`, else
 * `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, and a
 * branch or tag revision (default `main`) is read from `refs/<revision>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hubCacheDir, parseRepoId } from "./hf_cache.ts";
 *
 * assert.deepEqual(parseRepoId("meta-llama/Llama-3.2-1B@main"), {
 *   org: "meta-llama", name: "Llama-3.2-1B", revision: "main",
 * });
 * assert.equal(parseRepoId("./models/llama"), undefined);
 * assert.equal(hubCacheDir((key) => ({ HF_HOME: "/data/hf" } as Record<string, string>)[key]), "/data/hf/hub");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { optionalEnv } from "../util/env.ts";

/** A repository id and the revision asked for. */
export interface RepoId {
  readonly org: string;
  readonly name: string;
  /** A branch, tag or commit; `undefined` means `main`. */
  readonly revision?: string;
}

/** The revision used when none is given. @default "main" */
export const DEFAULT_REVISION = "main";

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `org/name[@revision]`, or `undefined` for anything else (a path). */
export function parseRepoId(text: string): RepoId | undefined {
  const at = text.indexOf("@");
  const id = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? undefined : text.slice(at + 1);
  const parts = id.split("/");
  if (parts.length !== 2 || !parts.every((p) => PART.test(p) && !p.includes(".."))) {
    return undefined;
  }
  if (
    revision !== undefined &&
    (!/^[A-Za-z0-9._/-]+$/.test(revision) ||
      revision.split("/").some((p) => p === ".." || p === "."))
  ) {
    return undefined;
  }
  return revision === undefined
    ? { org: parts[0]!, name: parts[1]! }
    : { org: parts[0]!, name: parts[1]!, revision };
}

/** The hub cache folder from the environment (see the module doc), or `undefined`. */
export function hubCacheDir(
  env: (key: string) => string | undefined = readEnv,
): string | undefined {
  const hub = env("HF_HUB_CACHE");
  if (hub) return hub;
  const home = env("HF_HOME");
  if (home) return join(home, "hub");
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "huggingface", "hub");
  const user = env("HOME");
  return user ? join(user, ".cache", "huggingface", "hub") : undefined;
}

/** Names of the variables {@link hubCacheDir} reads. */
export const HUB_ENV = ["HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"] as const;

/** An environment variable, or `undefined` when unset or not permitted. */
export function readEnv(key: string): string | undefined {
  return optionalEnv(key);
}

/**
 * The snapshot folder of `id` in the cache. Throws an {@link InputError}
 * naming the repository, the revision and the folder looked in.
 */
export async function resolveHubSnapshot(
  id: RepoId,
  env: (key: string) => string | undefined = readEnv,
): Promise<string> {
  const label = `${id.org}/${id.name}${id.revision === undefined ? "" : `@${id.revision}`}`;
  const cache = hubCacheDir(env);
  if (cache === undefined) {
    throw new InputError(
      `Cannot find "${label}": no such file or folder, and no Hugging Face cache to look in (set HF_HUB_CACHE or HF_HOME, and allow reading them with --allow-env=${
        HUB_ENV.join(",")
      })`,
    );
  }
  const repo = join(cache, `models--${id.org}--${id.name}`);
  if (!(await _isDir(repo))) {
    throw new InputError(
      `Cannot find "${label}": no such file or folder, and no Hugging Face cache entry ${
        JSON.stringify(repo)
      }`,
    );
  }
  const revision = id.revision ?? DEFAULT_REVISION;
  let commit = revision;
  if (!/^[0-9a-f]{40}$/.test(revision)) {
    const ref = join(repo, "refs", revision);
    let text: string;
    try {
      // Only a regular file is read: reading a FIFO would wait for a writer.
      if (!(await Deno.stat(ref)).isFile) throw new Error("not a regular file");
      text = await Deno.readTextFile(ref);
    } catch {
      throw new InputError(
        `Cannot find "${label}": the cache entry ${
          JSON.stringify(repo)
        } has no revision "${revision}" (no ${JSON.stringify(ref)})`,
      );
    }
    commit = text.trim();
    if (!/^[0-9a-f]{40}$/.test(commit)) {
      throw new InputError(
        `Cannot read "${ref}": expected a commit hash, found ${
          JSON.stringify(commit.slice(0, 60))
        }`,
      );
    }
  }
  const snapshot = join(repo, "snapshots", commit);
  if (!(await _isDir(snapshot))) {
    throw new InputError(
      `Cannot find "${label}": the snapshot ${JSON.stringify(snapshot)} is missing`,
    );
  }
  return snapshot;
}

/**
 * The `blobs` folder of the cache entry that `folder` is a snapshot (or a
 * folder inside a snapshot) of, or `undefined` when it is not in a hub cache.
 */
export function hubBlobsOf(folder: string): string | undefined {
  const parts = folder.split("/");
  for (let i = parts.length - 2; i >= 1; i--) {
    if (parts[i] === "snapshots" && parts[i - 1]!.startsWith("models--")) {
      return [...parts.slice(0, i), "blobs"].join("/");
    }
  }
  return undefined;
}

async function _isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
