/**
 * Source tiers a staging store copies from: a local path on slower storage
 * (a network mount, a spinning disk, an object-store export), or an HTTP(S)
 * URL served with range requests (an object store, a mirror, a model hub).
 *
 * Each file is a {@link StageSource}: its size, an identity that changes when
 * its content may have (path, size, mtime and inode; URL, size and ETag or
 * Last-Modified), the SHA-256 its publisher states when there is one, and
 * positioned reads. The published hash comes from, in order:
 *
 * - `weights.manifest.json` beside the file: `{"files": {"NAME": {"size": N,
 *   "sha256": "HEX"}}}` ({@link writeManifest} writes one for a folder);
 * - for HTTP, the `X-Linked-Etag` or `ETag` header when it is a 64-digit
 *   hex SHA-256 (the Hugging Face hub serves LFS files so), or
 *   `X-Checksum-Sha256`.
 *
 * Without one, a staged copy can only be checked for its size, and says so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openStageSource, writeManifest } from "./sources.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/a.bin`, new TextEncoder().encode("hello"));
 * await writeManifest(dir);
 * const source = await openStageSource(`${dir}/a.bin`);
 * assert.equal(source.size, 5);
 * assert.equal(
 *   (await source.published())?.sha256,
 *   "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 * );
 * assert.equal(new TextDecoder().decode(await source.readRange(1, 3)), "ell");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";

/** The manifest a source folder may carry, naming each file's size and SHA-256. */
export const MANIFEST_NAME = "weights.manifest.json";
/** Longest a manifest may be. @default 16 MiB */
const MAX_MANIFEST_BYTES = 16 << 20;
/** A request that has sent nothing for this long fails. @default 60 s */
export const HTTP_TIMEOUT_MS = 60_000;

/** A published hash and where it was published. */
export interface PublishedHash {
  readonly sha256: string;
  /** `weights.manifest.json`, or the header it came from. */
  readonly from: string;
}

/** One file of a source tier. */
export interface StageSource {
  readonly kind: "local" | "http";
  /** The path or URL. */
  readonly location: string;
  /** Changes whenever the content may have changed. */
  readonly identity: string;
  readonly size: number;
  /**
   * The SHA-256 the publisher states, to verify a staged copy against
   * (fetched when first asked: a staged copy that is found needs none).
   */
  published(): Promise<PublishedHash | undefined>;
  /** Exactly `length` bytes at `offset`; rejects on a short read or a dropped connection. */
  readRange(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/** A malformed answer from a source: a manifest or a response that cannot be right. */
export class SourceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SourceError";
  }
}

/** Whether `location` is an http(s) URL. */
export function isHttpLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** Opens a file of a source tier: an http(s) URL, or a local path. */
export function openStageSource(location: string): Promise<StageSource> {
  return isHttpLocation(location) ? openHttpSource(location) : openLocalSource(location);
}

async function openLocalSource(path: string): Promise<StageSource> {
  const info = await Deno.stat(path);
  if (!info.isFile) throw new SourceError(`Cannot stage "${path}": not a file`);
  const real = await Deno.realPath(path);
  return {
    kind: "local",
    location: path,
    identity: `file:${real}:${info.size}:${info.mtime?.getTime() ?? 0}:${info.ino ?? 0}`,
    size: info.size,
    published: once(async () =>
      manifestHash(
        await readLocalManifest(dirname(real)),
        basename(real),
        info.size,
        join(dirname(path), MANIFEST_NAME),
      )
    ),
    async readRange(offset, length) {
      const bytes = new Uint8Array(length);
      using file = await Deno.open(path, { read: true });
      await file.seek(offset, Deno.SeekMode.Start);
      for (let done = 0; done < length;) {
        const got = await file.read(bytes.subarray(done));
        if (got === null || got === 0) {
          throw new SourceError(
            `Cannot stage "${path}": file ended at ${offset + done}, before ${offset + length}`,
          );
        }
        done += got;
      }
      return bytes;
    },
  };
}

async function openHttpSource(url: string): Promise<StageSource> {
  const response = await fetch(url, {
    method: "HEAD",
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  await response.body?.cancel();
  if (!response.ok) {
    throw new SourceError(`Cannot stage "${url}": HEAD answered ${response.status}`);
  }
  const size = Number(response.headers.get("content-length"));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new SourceError(`Cannot stage "${url}": no Content-Length in the answer to HEAD`);
  }
  const version = response.headers.get("etag") ?? response.headers.get("last-modified") ?? "";
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  const manifestUrl = new URL(MANIFEST_NAME, url).href;
  return {
    kind: "http",
    location: url,
    identity: `${url}:${size}:${version}`,
    size,
    published: once(async () =>
      manifestHash(await readHttpManifest(manifestUrl), name, size, manifestUrl) ??
        headerHash(response.headers)
    ),
    readRange: (offset, length, signal) => fetchRange(url, size, offset, length, signal),
  };
}

/** GETs bytes `[offset, offset + length)` of `url` with a range request. */
export async function fetchRange(
  url: string,
  size: number,
  offset: number,
  length: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (length === 0) return new Uint8Array(0);
  const timeout = AbortSignal.timeout(HTTP_TIMEOUT_MS);
  const response = await fetch(url, {
    headers: { range: `bytes=${offset}-${offset + length - 1}` },
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (response.status === 200 && !(offset === 0 && length === size)) {
    await response.body?.cancel();
    throw new SourceError(`Cannot stage "${url}": the server ignores range requests`);
  }
  if (response.status !== 206 && response.status !== 200) {
    await response.body?.cancel();
    throw new SourceError(`Cannot stage "${url}": GET of a range answered ${response.status}`);
  }
  if (response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== offset || Number(range[2]) !== offset + length - 1) {
      await response.body?.cancel();
      throw new SourceError(
        `Cannot stage "${url}": asked for bytes ${offset}-${offset + length - 1}, got "${
          response.headers.get("content-range")
        }"`,
      );
    }
  }
  const bytes = new Uint8Array(length);
  let done = 0;
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (done + value.length > length) {
        throw new SourceError(`Cannot stage "${url}": more than the ${length} bytes asked for`);
      }
      bytes.set(value, done);
      done += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  if (done < length) {
    throw new SourceError(
      `Cannot stage "${url}": connection closed after ${done} of ${length} bytes at ${offset}`,
    );
  }
  return bytes;
}

function once<T>(work: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= work());
}

type Manifest = Readonly<Record<string, { readonly size?: unknown; readonly sha256?: unknown }>>;

async function readLocalManifest(folder: string): Promise<Manifest | undefined> {
  const path = join(folder, MANIFEST_NAME);
  let bytes: Uint8Array;
  try {
    if ((await Deno.stat(path)).size > MAX_MANIFEST_BYTES) {
      throw new SourceError(`Cannot read "${path}": larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return parseManifest(path, bytes);
}

async function readHttpManifest(url: string): Promise<Manifest | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (response.status === 404 || response.status === 403) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new SourceError(`Cannot read "${url}": ${response.status}`);
  }
  const length = Number(response.headers.get("content-length") ?? 0);
  if (length > MAX_MANIFEST_BYTES) {
    await response.body?.cancel();
    throw new SourceError(`Cannot read "${url}": larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  return parseManifest(url, new Uint8Array(await response.arrayBuffer()));
}

function parseManifest(where: string, bytes: Uint8Array): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new SourceError(`Cannot read "${where}": not UTF-8 JSON`, { cause: error });
  }
  const files = (data as { files?: unknown } | null)?.files;
  if (typeof files !== "object" || files === null || Array.isArray(files)) {
    throw new SourceError(`Cannot read "${where}": expected {"files": {NAME: {size, sha256}}}`);
  }
  return files as Manifest;
}

function manifestHash(
  manifest: Manifest | undefined,
  name: string,
  size: number,
  where: string,
): PublishedHash | undefined {
  if (manifest === undefined || !Object.hasOwn(manifest, name)) return undefined;
  const entry = manifest[name]!;
  if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) {
    throw new SourceError(`Cannot read "${where}": "${name}" has no 64-digit hex sha256`);
  }
  if (entry.size !== undefined && entry.size !== size) {
    throw new SourceError(
      `Cannot stage "${name}": ${where} says ${String(entry.size)} bytes, the source has ${size}`,
    );
  }
  return { sha256: entry.sha256, from: MANIFEST_NAME };
}

function headerHash(headers: Headers): PublishedHash | undefined {
  for (const name of ["x-linked-etag", "etag", "x-checksum-sha256"]) {
    const value = headers.get(name)?.replace(/^W\//, "").replaceAll('"', "").toLowerCase();
    if (value !== undefined && /^[0-9a-f]{64}$/.test(value)) return { sha256: value, from: name };
  }
  return undefined;
}

/**
 * Writes `weights.manifest.json` into `folder`, naming the size and SHA-256
 * of each regular file in it (the manifest itself aside); returns it.
 */
export async function writeManifest(
  folder: string,
): Promise<Record<string, { size: number; sha256: string }>> {
  const files: Record<string, { size: number; sha256: string }> = {};
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name !== MANIFEST_NAME && !entry.name.startsWith(".")) {
      names.push(entry.name);
    }
  }
  for (const name of names.sort()) {
    const hash = createHash("sha256");
    let size = 0;
    using file = await Deno.open(join(folder, name), { read: true });
    const buffer = new Uint8Array(8 << 20);
    for (;;) {
      const got = await file.read(buffer);
      if (got === null || got === 0) break;
      hash.update(buffer.subarray(0, got));
      size += got;
    }
    files[name] = { size, sha256: hash.digest("hex") };
  }
  await writeFileAtomic(join(folder, MANIFEST_NAME), JSON.stringify({ files }, null, 2) + "\n");
  return files;
}
