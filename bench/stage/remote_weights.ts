/**
 * Weights at an http(s) URL — a model folder on an object store or a mirror,
 * or one weight file — opened the way a loader meets them: headers fetched
 * with range requests, never the whole file (from a server that ignores
 * ranges, the start of the body, the rest left unread).
 *
 * `--weights https://host/models/llama/` (a folder: the URL ends with `/`)
 * lists its files from `weights.manifest.json` (see `sources.ts`), or from
 * `model.safetensors.index.json`; the weight files are the index's shards,
 * or else every `*.safetensors`, or else every `*.gguf` the manifest names.
 * `--weights https://host/model.gguf` is that one file. Each file's header is
 * parsed by the same format parsers as local files, through a source that
 * fetches the ranges a parser asks for (1 MiB pages, at most
 * {@link REMOTE_HEADER_LIMIT} per file), so a hostile header costs little.
 *
 * The weight set's file paths are the URLs. Only the `prestaged` strategy
 * loads it (it stages the files, then loads the local copies); the truth
 * every load is verified against, {@link remoteTensorDigests}, streams each
 * file once and hashes its tensors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRemoteWeights } from "./remote_weights.ts";
 *
 * assert.ok(isRemoteWeights("https://example.org/models/llama/"));
 * assert.ok(!isRemoteWeights("/models/llama"));
 * ```
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { fileError } from "../util/errors.ts";
import {
  type ByteSource,
  checkRange,
  type WeightFileIndex,
  type WeightFormat,
} from "../formats/format.ts";
import { FORMATS, SAFETENSORS_INDEX, type WeightFile, type WeightSet } from "../formats/weights.ts";
import { digestKey, type TensorDigests } from "../core/digests.ts";
import { isHttpLocation, MANIFEST_NAME } from "./sources.ts";
import {
  fetchRange,
  fetchSmall,
  headHttp,
  HttpError,
  type HttpOptions,
  readHttpAll,
} from "./http.ts";

/** Bytes of a file's header fetched at most while parsing it. @default 256 MiB */
export const REMOTE_HEADER_LIMIT = 256 << 20;
/** Bytes fetched per page while parsing a header. @default 1 MiB */
const PAGE = 1 << 20;
/** Largest index or manifest read. @default 64 MiB */
const MAX_LISTING_BYTES = 64 << 20;

/** Whether `path` names remote weights (an http(s) URL). */
export function isRemoteWeights(path: string): boolean {
  return isHttpLocation(path);
}

/**
 * Opens the weights at `url`; throws a `WeightFileError` (exit 2) naming the
 * URL and the problem with what it serves, or an `HttpError` (exit 3) when
 * the server fails after its retries.
 */
export async function openRemoteWeights(
  url: string,
  options: { readonly signal?: AbortSignal | undefined } = {},
): Promise<WeightSet> {
  const http: HttpOptions = options.signal === undefined ? {} : { signal: options.signal };
  const names = url.endsWith("/") ? await listFolder(url, http) : [url];
  const files: WeightFile[] = [];
  for (const name of names) files.push(await openRemoteFile(new URL(name, url).href, http));
  let tensorCount = 0;
  let tensorBytes = 0;
  let fileBytes = 0;
  const seen = new Map<string, string>();
  for (const file of files) {
    for (const tensor of file.index.tensors) {
      const other = seen.get(tensor.name);
      if (other !== undefined) {
        throw fileError(url, `tensor "${tensor.name}" is in both "${other}" and "${file.path}"`);
      }
      seen.set(tensor.name, file.path);
      tensorCount++;
      tensorBytes += tensor.byteLength;
    }
    fileBytes += file.size;
  }
  return {
    source: url,
    files,
    format: [...new Set(files.map((f) => f.format.name))].join("+"),
    tensorCount,
    tensorBytes,
    fileBytes,
  };
}

async function listFolder(url: string, http: HttpOptions): Promise<string[]> {
  const manifest = await fetchJson(new URL(MANIFEST_NAME, url).href, http);
  let names: string[] | undefined;
  if (manifest !== undefined) {
    const files = (manifest as { files?: unknown }).files;
    if (typeof files !== "object" || files === null) {
      throw fileError(
        new URL(MANIFEST_NAME, url).href,
        `expected {"files": {NAME: {size, sha256}}}`,
      );
    }
    names = Object.keys(files);
  }
  if (names === undefined || names.includes(SAFETENSORS_INDEX)) {
    const indexUrl = new URL(SAFETENSORS_INDEX, url).href;
    const index = await fetchJson(indexUrl, http);
    if (index !== undefined) {
      const map = (index as { weight_map?: unknown }).weight_map;
      if (typeof map !== "object" || map === null) throw fileError(indexUrl, "no weight_map");
      const shards = [...new Set(Object.values(map as Record<string, unknown>))];
      for (const shard of shards) {
        if (
          typeof shard !== "string" || !/^[^/\\]+$/.test(shard) || shard === "." || shard === ".."
        ) {
          throw fileError(
            indexUrl,
            `weight_map names ${JSON.stringify(shard)}, not a plain file name`,
          );
        }
      }
      return (shards as string[]).sort();
    }
  }
  if (names === undefined) {
    throw fileError(
      url,
      `cannot list an HTTP folder: it serves neither ${MANIFEST_NAME} nor ${SAFETENSORS_INDEX}`,
    );
  }
  for (const suffix of [".safetensors", ".gguf"]) {
    const matching = names.filter((n) => n.endsWith(suffix) && /^[^/\\]+$/.test(n)).sort();
    if (matching.length > 0) return matching;
  }
  throw fileError(new URL(MANIFEST_NAME, url).href, "names no *.safetensors or *.gguf file");
}

async function fetchJson(url: string, http: HttpOptions): Promise<unknown> {
  const bytes = await fetchSmall(url, MAX_LISTING_BYTES, http);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw fileError(url, "not JSON", { cause: error });
  }
}

/** A parser asked for bytes not fetched yet. */
class NeedBytes extends Error {
  constructor(readonly offset: number, readonly length: number) {
    super(`needs bytes ${offset}+${length}`);
  }
}

async function openRemoteFile(url: string, http: HttpOptions): Promise<WeightFile> {
  let size: number;
  try {
    size = (await headHttp(url, http)).size;
  } catch (error) {
    // A file the server says it does not have is a wrong URL: the user's to fix.
    const status = /HEAD answered (40[34]|410)\b/.exec((error as Error).message);
    if (error instanceof HttpError && status) {
      throw fileError(url, `HEAD answered ${status[1]}`, { cause: error });
    }
    throw error;
  }
  const pages = new Map<number, Uint8Array>();
  let fetched = 0;
  const fetchPages = async (offset: number, length: number) => {
    const first = Math.floor(offset / PAGE);
    const last = Math.floor((Math.min(size, offset + Math.max(length, 1)) - 1) / PAGE);
    for (let page = first; page <= last; page++) {
      if (pages.has(page)) continue;
      const begin = page * PAGE;
      const bytes = await fetchRange(url, size, begin, Math.min(PAGE, size - begin), http);
      fetched += bytes.length;
      if (fetched > REMOTE_HEADER_LIMIT) {
        throw fileError(url, `parsing its header needed more than ${REMOTE_HEADER_LIMIT} bytes`);
      }
      pages.set(page, bytes);
    }
  };
  const source: ByteSource = {
    name: url,
    size,
    read(offset, length) {
      checkRange(url, size, offset, length);
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const at = offset + done;
        const page = pages.get(Math.floor(at / PAGE));
        if (page === undefined) throw new NeedBytes(at, length - done);
        const from = at % PAGE;
        const take = Math.min(page.length - from, length - done);
        out.set(page.subarray(from, from + take), done);
        done += take;
      }
      return out;
    },
  };
  await fetchPages(0, Math.min(size, 64));
  const sniffed = FORMATS.find((f) => f.sniff(source.read(0, Math.min(size, 64))));
  const format = sniffed ?? FORMATS.find((f) => f.extensions.some((e) => url.endsWith(e)));
  if (format === undefined) throw fileError(url, "not a weight file of a known format");
  const index = await parseWithFetches(format, source, fetchPages);
  return { path: url, size, format, index };
}

async function parseWithFetches(
  format: WeightFormat,
  source: ByteSource,
  fetchPages: (offset: number, length: number) => Promise<void>,
): Promise<WeightFileIndex> {
  for (;;) {
    try {
      return format.parse(source);
    } catch (error) {
      const need = findNeed(error);
      if (need === undefined) throw error;
      await fetchPages(need.offset, need.length);
    }
  }
}

function findNeed(error: unknown): NeedBytes | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof NeedBytes) return e;
    e = e.cause;
  }
  return undefined;
}

/**
 * SHA-256 of every tensor of remote `weights`, streaming each file once: the
 * truth a load of them is verified against.
 */
export async function remoteTensorDigests(
  weights: WeightSet,
  options: { readonly signal?: AbortSignal | undefined } = {},
): Promise<TensorDigests> {
  const digests = new Map<string, string>();
  for (const { path, size, index } of weights.files) {
    const tensors = [...index.tensors].sort((a, b) => a.offset - b.offset);
    const hashes = tensors.map(() => createHash("sha256") as Hash);
    let position = 0;
    let first = 0;
    await readHttpAll(path, size, (chunk) => {
      const end = position + chunk.length;
      while (
        first < tensors.length && tensors[first]!.offset + tensors[first]!.byteLength <= position
      ) {
        first++;
      }
      for (let i = first; i < tensors.length && tensors[i]!.offset < end; i++) {
        const t = tensors[i]!;
        const from = Math.max(t.offset, position);
        const to = Math.min(t.offset + t.byteLength, end);
        if (to > from) hashes[i]!.update(chunk.subarray(from - position, to - position));
      }
      position = end;
    }, options.signal === undefined ? {} : { signal: options.signal });
    tensors.forEach((t, i) => digests.set(digestKey(path, t.name), hashes[i]!.digest("hex")));
  }
  return digests;
}
