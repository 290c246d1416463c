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
 * Without one, the store checks a copy against a second read of an HTTP
 * source, or against the local file's identity before and after the copy
 * (`store.ts`). HTTP reads go through `http.ts`: a stall bound, retries that
 * resume from the last byte received, and servers that ignore `Range`.
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
import { InputError } from "../util/errors.ts";
import {
  acceptsRanges,
  fetchRange,
  fetchSmall,
  headHttp,
  type HttpOptions,
  httpSettings,
  readHttpAll,
} from "./http.ts";

/** The manifest a source folder may carry, naming each file's size and SHA-256. */
export const MANIFEST_NAME = "weights.manifest.json";
/** Longest a manifest may be. @default 16 MiB */
const MAX_MANIFEST_BYTES = 16 << 20;
/** Bytes per read of a local file when streaming it. @default 8 MiB */
const LOCAL_READ_BYTES = 8 << 20;

/** A published hash and where it was published. */
export interface PublishedHash {
  readonly sha256: string;
  /** `weights.manifest.json`, or the header it came from. */
  readonly from: string;
}

/** How one read goes: its abort signal, and (HTTP) its retries of transient faults. */
export interface ReadOptions {
  readonly signal?: AbortSignal | undefined;
  /** @default the process's HTTP setting (`http.ts`) */
  readonly retries?: number | undefined;
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
  /**
   * Exactly `length` bytes at `offset`; a transient fault is retried from the
   * last byte received; rejects on a short file or a source that gave up.
   */
  readRange(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /** Every byte from `from` (default 0) to the end, in order, to `sink`. */
  readAll(
    sink: (bytes: Uint8Array) => void | Promise<void>,
    options?: ReadOptions & { readonly from?: number },
  ): Promise<void>;
  /** Whether {@link StageSource.readRange} is cheap anywhere in the file (an HTTP server may ignore `Range`). */
  acceptsRanges(options?: ReadOptions): Promise<boolean>;
  /** The identity the source has now: compared with {@link StageSource.identity} after a copy. */
  currentIdentity(options?: ReadOptions): Promise<string>;
}

/** A source that cannot be right: a malformed manifest, a file that is not one. Exits 2. */
export class SourceError extends InputError {
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
export function openStageSource(location: string, options: ReadOptions = {}): Promise<StageSource> {
  return isHttpLocation(location) ? openHttpSource(location, options) : openLocalSource(location);
}

async function localIdentity(path: string): Promise<{ identity: string; info: Deno.FileInfo }> {
  const info = await Deno.stat(path);
  if (!info.isFile) throw new SourceError(`Cannot stage "${path}": not a file`);
  const real = await Deno.realPath(path);
  return {
    identity: `file:${real}:${info.size}:${info.mtime?.getTime() ?? 0}:${info.ino ?? 0}`,
    info,
  };
}

async function openLocalSource(path: string): Promise<StageSource> {
  const { identity, info } = await localIdentity(path);
  const real = await Deno.realPath(path);
  const read = async (
    offset: number,
    into: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<void> => {
    using file = await Deno.open(path, { read: true });
    await file.seek(offset, Deno.SeekMode.Start);
    for (let done = 0; done < into.length;) {
      signal?.throwIfAborted();
      const got = await file.read(into.subarray(done, done + LOCAL_READ_BYTES));
      if (got === null || got === 0) {
        throw new SourceError(
          `Cannot stage "${path}": file ended at ${offset + done}, before ${
            offset + into.length
          }: it changed while being copied`,
        );
      }
      done += got;
    }
  };
  return {
    kind: "local",
    location: path,
    identity,
    size: info.size,
    published: once(async () =>
      manifestHash(
        await readLocalManifest(dirname(real)),
        basename(real),
        info.size,
        join(dirname(path), MANIFEST_NAME),
      )
    ),
    async readRange(offset, length, options = {}) {
      const bytes = new Uint8Array(length);
      await read(offset, bytes, options.signal);
      return bytes;
    },
    async readAll(sink, options = {}) {
      const buffer = new Uint8Array(Math.min(LOCAL_READ_BYTES, Math.max(1, info.size)));
      for (let at = options.from ?? 0; at < info.size;) {
        const piece = buffer.subarray(0, Math.min(buffer.length, info.size - at));
        await read(at, piece, options.signal);
        await sink(piece);
        at += piece.length;
      }
    },
    acceptsRanges: () => Promise.resolve(true),
    currentIdentity: async () => (await localIdentity(path)).identity,
  };
}

async function openHttpSource(url: string, options: ReadOptions): Promise<StageSource> {
  const head = await headHttp(url, httpOptions(options));
  const size = head.size;
  const identity = httpIdentity(url, size, head.headers);
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  const manifestUrl = new URL(MANIFEST_NAME, url).href;
  let ranges: Promise<boolean> | undefined;
  return {
    kind: "http",
    location: url,
    identity,
    size,
    published: once(async () =>
      manifestHash(await readHttpManifest(manifestUrl), name, size, manifestUrl) ??
        headerHash(head.headers)
    ),
    readRange: (offset, length, options = {}) =>
      fetchRange(url, size, offset, length, httpOptions(options)),
    readAll: (sink, options = {}) =>
      readHttpAll(url, size, sink, {
        ...httpOptions(options),
        ...(options.from === undefined ? {} : { from: options.from }),
      }),
    acceptsRanges: (options = {}) =>
      ranges ??= acceptsRanges(url, head.headers, httpOptions(options)),
    async currentIdentity(options = {}) {
      const again = await headHttp(url, httpOptions(options));
      return httpIdentity(url, again.size, again.headers);
    },
  };
}

function httpIdentity(url: string, size: number, headers: Headers): string {
  const version = headers.get("etag") ?? headers.get("last-modified") ?? "";
  return `${url}:${size}:${version}`;
}

function httpOptions(options: ReadOptions): HttpOptions {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    retries: options.retries ?? httpSettings().retries,
  };
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
  const bytes = await fetchSmall(url, MAX_MANIFEST_BYTES);
  return bytes === undefined ? undefined : parseManifest(url, bytes);
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
