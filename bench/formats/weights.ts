/**
 * Opens what a user points at and parses every file's index, checking that
 * the pieces agree: one weight file of any format (chosen by its first bytes,
 * the extension only as a fallback), or a folder — sharded safetensors with
 * `model.safetensors.index.json`, `*.safetensors`, `pytorch_model-*.bin` with
 * `pytorch_model.bin.index.json`, `pytorch_model.bin`, `*.gguf`, one `*.onnx`
 * (with its external data files), `*.pt`/`*.pth` — or a Hugging Face hub
 * cache entry named `org/name[@revision]`, resolved offline.
 *
 * An ONNX model's external data files join the weight set as files of their
 * own, whose tensors are the byte ranges the model names: every strategy then
 * loads them like any other file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openWeights } from "./weights.ts";
 * import { encodeSafetensorsHeader } from "./safetensors.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const { bytes } = encodeSafetensorsHeader([{ name: "w", dtype: "F32", shape: [2] }]);
 * await Deno.writeFile(`${dir}/model.safetensors`, new Uint8Array([...bytes, 1, 2, 3, 4, 5, 6, 7, 8]));
 * const weights = await openWeights(dir);
 * assert.ok(weights.tensorCount === 1 && weights.tensorBytes === 8);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { basename, dirname, join, relative, resolve } from "node:path";
import { fileError, InputError } from "../util/errors.ts";
import {
  type ByteSource,
  fileSource,
  type SkippedTensors,
  type TensorInfo,
  type WeightFileIndex,
  type WeightFormat,
} from "./format.ts";
import { gguf } from "./gguf.ts";
import { hubBlobsOf, parseRepoId, resolveHubSnapshot } from "./hf_cache.ts";
import { onnx } from "./onnx.ts";
import { pytorch } from "./pytorch.ts";
import { safetensors } from "./safetensors.ts";

/** Every format weightbench reads, tried in order when sniffing a file. */
export const FORMATS: readonly WeightFormat[] = [safetensors, gguf, pytorch, onnx];

/** The index file of a sharded safetensors model. */
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
/** The index file of a sharded PyTorch model. */
export const PYTORCH_INDEX = "pytorch_model.bin.index.json";
/** The single-file PyTorch model of a Hugging Face folder. */
export const PYTORCH_SINGLE = "pytorch_model.bin";
/** Largest index JSON read. @default 64 MiB */
const MAX_INDEX_BYTES = 64 << 20;
/** Bytes read to sniff a file's format. */
const SNIFF_BYTES = 64;

/** One file of a weight set, parsed. */
export interface WeightFile {
  readonly path: string;
  readonly size: number;
  readonly format: WeightFormat;
  readonly index: WeightFileIndex;
}

/** Everything a load reads: the files and their tensors. */
export interface WeightSet {
  /** The path the user gave. */
  readonly source: string;
  /** The files, in load order. */
  readonly files: readonly WeightFile[];
  /** The format of the files (`safetensors`). */
  readonly format: string;
  readonly tensorCount: number;
  /** Sum of every tensor's bytes: what a load moves. */
  readonly tensorBytes: number;
  /** Sum of the file sizes: what a full read reads. */
  readonly fileBytes: number;
  /** What the readers saw but do not list (STRING tensors, forms they cannot load), by file. */
  readonly skipped?: readonly SkippedInFile[];
}

/** Tensors a reader skipped in one file. */
export interface SkippedInFile extends SkippedTensors {
  /** The file's path. */
  readonly file: string;
}

/**
 * One line per kind of tensor skipped, for stderr: how many, why, in which
 * file, and the first names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeSkipped } from "./weights.ts";
 *
 * assert.deepEqual(
 *   describeSkipped([{ file: "m.onnx", reason: "STRING tensors (text, not numbers)", count: 3, names: ["a", "b"] }]),
 *   ['skipped 3 STRING tensors (text, not numbers) in "m.onnx": "a", "b", …'],
 * );
 * ```
 */
export function describeSkipped(skipped: readonly SkippedInFile[]): string[] {
  return skipped.map((s) =>
    `skipped ${s.count} ${s.reason} in "${s.file}": ${
      s.names.map((n) => JSON.stringify(n.length > 60 ? `${n.slice(0, 60)}…` : n)).join(", ")
    }${s.count > s.names.length ? ", …" : ""}`
  );
}

/**
 * Opens a weight file, a folder, or a hub cache entry (`org/name[@revision]`
 * when no such path exists); throws {@link InputError} naming the path and
 * the problem.
 */
export async function openWeights(path: string): Promise<WeightSet> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    const repo = error instanceof Deno.errors.NotFound ? parseRepoId(path) : undefined;
    if (repo === undefined) throw fileError(path, describeOpenError(error), { cause: error });
    return await openWeights(await resolveHubSnapshot(repo));
  }
  if (info.isFile) return assemble(path, await withExternal(await openWeightFile(path)));
  if (!info.isDirectory) throw fileError(path, `not a file or folder (${fileKind(info)})`);

  const indexPath = join(path, SAFETENSORS_INDEX);
  if (await exists(indexPath)) return await openIndexed(path, indexPath);

  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile || entry.isSymlink) names.push(entry.name);
  }
  names.sort();
  const ending = (suffix: string) => names.filter((n) => n.endsWith(suffix));
  const openAll = async (list: string[]) => {
    const files: WeightFile[] = [];
    for (const name of list) {
      for (const file of await withExternal(await openWeightFile(join(path, name)))) {
        files.push(file);
      }
    }
    return assemble(path, files);
  };
  if (ending(".safetensors").length > 0) return await openAll(ending(".safetensors"));
  if (names.includes(PYTORCH_INDEX)) return await openIndexed(path, join(path, PYTORCH_INDEX));
  if (names.includes(PYTORCH_SINGLE)) return await openAll([PYTORCH_SINGLE]);
  if (ending(".gguf").length > 0) return await openAll(ending(".gguf"));
  const models = ending(".onnx");
  if (models.length > 1) {
    throw fileError(
      path,
      `${models.length} ONNX models in folder (${models.join(", ")}): name the one to load`,
    );
  }
  if (models.length === 1) return await openAll(models);
  const checkpoints = names.filter((n) => n.endsWith(".pt") || n.endsWith(".pth"));
  if (checkpoints.length > 0) return await openAll(checkpoints);
  throw fileError(
    path,
    `no weight files in folder (looked for ${SAFETENSORS_INDEX}, *.safetensors, ${PYTORCH_INDEX}, ${PYTORCH_SINGLE}, *.gguf, *.onnx, *.pt and *.pth)`,
  );
}

/**
 * The file and, for an ONNX model with external data, a file for each
 * external data file it names: checked to be inside the model's folder
 * (symbolic links included; in a hub cache snapshot, links into the entry's
 * blobs), with the named ranges inside the file and not overlapping.
 */
async function withExternal(model: WeightFile): Promise<WeightFile[]> {
  const external = model.index.external;
  if (external === undefined || external.length === 0) return [model];
  const folder = dirname(model.path);
  const realFolder = await Deno.realPath(folder);
  const blobs = hubBlobsOf(resolve(folder));
  const realBlobs = blobs === undefined
    ? undefined
    : await Deno.realPath(blobs).catch(() => undefined);
  const byLocation = new Map<string, TensorInfo[]>();
  for (const t of external) {
    const list = byLocation.get(t.location) ?? [];
    list.push({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      offset: t.offset,
      byteLength: t.byteLength,
      ...(t.origin === undefined ? {} : { origin: t.origin }),
    });
    byLocation.set(t.location, list);
  }
  const files: WeightFile[] = [model];
  const seen = new Set<string>();
  for (const [location, tensors] of byLocation) {
    const path = join(folder, location);
    const fail = (detail: string) =>
      fileError(model.path, `external data location ${JSON.stringify(location)} ${detail}`);
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (error) {
      throw fail(
        error instanceof Deno.errors.NotFound ? "does not exist" : describeOpenError(error),
      );
    }
    const inside = (root: string) => {
      const rel = relative(root, real);
      return rel !== "" && !rel.startsWith("..") && !rel.startsWith("/");
    };
    if (!inside(realFolder) && !(realBlobs !== undefined && inside(realBlobs))) {
      throw fail(`leads outside the model's folder (to ${JSON.stringify(real)})`);
    }
    if (seen.has(real)) throw fail("is the same file as another location");
    seen.add(real);
    if (real === (await Deno.realPath(model.path))) throw fail("is the model itself");
    const format = externalDataFormat(model.path, tensors);
    const kind = fileKind(await Deno.stat(real));
    if (kind !== "file") throw fail(`is not a regular file (${kind})`);
    using file = await Deno.open(path, { read: true }).catch((error) => {
      throw fileError(path, describeOpenError(error), { cause: error });
    });
    const { size, isFile } = await file.stat();
    if (!isFile) throw fail("is not a regular file");
    files.push({ path, size, format, index: format.parse(fileSource(path, file, size)) });
  }
  return files;
}

/**
 * The format of an ONNX external data file: no header of its own, its tensors
 * are the ranges the model names, checked against the file's size and each
 * other whenever it is parsed (so a file truncated later still fails a load).
 */
export function externalDataFormat(model: string, ranges: readonly TensorInfo[]): WeightFormat {
  const tensors = [...ranges].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  return {
    name: "onnx",
    extensions: [],
    sniff: () => false,
    parse(source: ByteSource): WeightFileIndex {
      for (let i = 0; i < tensors.length; i++) {
        const t = tensors[i]!;
        if (t.offset + t.byteLength > source.size) {
          throw fileError(
            source.name,
            `truncated: initializer ${JSON.stringify(t.name)} of ${
              JSON.stringify(basename(model))
            } needs bytes ${t.offset}..${t.offset + t.byteLength} but the file has ${source.size}`,
          );
        }
        const previous = tensors[i - 1];
        if (previous !== undefined && t.offset < previous.offset + previous.byteLength) {
          throw fileError(
            source.name,
            `initializers ${JSON.stringify(previous.name)} and ${JSON.stringify(t.name)} of ${
              JSON.stringify(basename(model))
            } overlap`,
          );
        }
      }
      return {
        format: "onnx",
        path: source.name,
        size: source.size,
        dataOffset: tensors[0]?.offset ?? 0,
        tensors,
        metadata: { "onnx.external_data_of": basename(model) },
      };
    },
  };
}

/**
 * Parses one weight file, choosing the format by its first bytes. Anything
 * but a regular file (after following links) is refused before it is opened:
 * opening a FIFO would wait for a writer that never comes.
 */
export async function openWeightFile(path: string): Promise<WeightFile> {
  await requireRegularFile(path);
  using file = await Deno.open(path, { read: true }).catch((error) => {
    throw fileError(path, describeOpenError(error), { cause: error });
  });
  const { size, isFile } = await file.stat();
  if (!isFile) throw fileError(path, "not a regular file");
  const source: ByteSource = fileSource(path, file, size);
  const head = source.read(0, Math.min(SNIFF_BYTES, size));
  const format = FORMATS.find((f) => f.sniff(head)) ??
    FORMATS.find((f) => f.extensions.some((extension) => path.endsWith(extension)));
  if (!format) {
    throw fileError(
      path,
      `not a weight file this tool reads (${FORMATS.map((f) => f.name).join(", ")})`,
    );
  }
  return { path, size, format, index: format.parse(source) };
}

async function openIndexed(folder: string, indexPath: string): Promise<WeightSet> {
  if (basename(indexPath) !== SAFETENSORS_INDEX && basename(indexPath) !== PYTORCH_INDEX) {
    throw new InputError(`Unknown index file "${indexPath}"`);
  }
  const weightMap = await readWeightMap(indexPath);
  const order = [...new Set(Object.values(weightMap))].sort();
  const files: WeightFile[] = [];
  for (const name of order) {
    const filePath = join(folder, name);
    if (!(await exists(filePath))) {
      throw fileError(indexPath, `weight_map names "${name}", which is not in the folder`);
    }
    files.push(await openWeightFile(filePath));
  }
  const where = new Map<string, string>();
  for (const file of files) {
    for (const { name } of logicalTensors(file)) where.set(name, basename(file.path));
  }
  for (const [tensor, name] of Object.entries(weightMap)) {
    const found = where.get(tensor);
    if (found !== name) {
      throw fileError(
        indexPath,
        found === undefined
          ? `tensor "${tensor}" is mapped to "${name}" but no file holds it`
          : `tensor "${tensor}" is mapped to "${name}" but is in "${found}"`,
      );
    }
  }
  for (const [tensor, name] of where) {
    if (!(tensor in weightMap)) {
      throw fileError(
        indexPath,
        `"${name}" holds tensor "${tensor}", which weight_map does not list`,
      );
    }
  }
  return assemble(folder, files);
}

async function readWeightMap(indexPath: string): Promise<Record<string, string>> {
  const info = await requireRegularFile(indexPath);
  if (info.size > MAX_INDEX_BYTES) {
    throw fileError(
      indexPath,
      `index of ${info.size} bytes exceeds the ${MAX_INDEX_BYTES}-byte limit`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (error) {
    throw fileError(indexPath, `not valid JSON: ${(error as Error).message}`);
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw fileError(indexPath, `"weight_map" must be an object of tensor names to file names`);
  }
  const result: Record<string, string> = {};
  for (const [tensor, name] of Object.entries(weightMap)) {
    if (typeof name !== "string") {
      throw fileError(indexPath, `weight_map["${tensor}"] must be a file name`);
    }
    if (name !== basename(name) || name === "." || name === ".." || name === "") {
      throw fileError(
        indexPath,
        `weight_map["${tensor}"] = "${name}" is not a plain file name in the folder`,
      );
    }
    result[tensor] = name;
  }
  if (Object.keys(result).length === 0) throw fileError(indexPath, "weight_map lists no tensors");
  return result;
}

/** The tensors a file holds as a user names them: its views where it has them (PyTorch), else its tensors. */
export function logicalTensors(file: WeightFile): readonly { readonly name: string }[] {
  return file.index.views ?? file.index.tensors;
}

function assemble(source: string, files: WeightFile[]): WeightSet {
  const seen = new Map<string, string>();
  let tensorCount = 0;
  let tensorBytes = 0;
  let fileBytes = 0;
  for (const file of files) {
    for (const tensor of logicalTensors(file)) {
      const other = seen.get(tensor.name);
      if (other !== undefined) {
        throw fileError(source, `tensor "${tensor.name}" is in both "${other}" and "${file.path}"`);
      }
      seen.set(tensor.name, file.path);
    }
    for (const tensor of file.index.tensors) {
      tensorCount++;
      tensorBytes += tensor.byteLength;
    }
    fileBytes += file.size;
  }
  const formats = [...new Set(files.map((f) => f.format.name))];
  const skipped: SkippedInFile[] = [];
  for (const file of files) {
    for (const s of file.index.skipped ?? []) skipped.push({ file: file.path, ...s });
  }
  return {
    source: resolve(source),
    files,
    format: formats.join("+"),
    tensorCount,
    tensorBytes,
    fileBytes,
    skipped,
  };
}

/**
 * The path's information, links followed; throws the {@link WeightFileError}
 * for anything but a regular file (a folder, a FIFO, a socket, a device),
 * naming what it is, without opening it.
 */
export async function requireRegularFile(path: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw fileError(path, describeOpenError(error), { cause: error });
  }
  const kind = fileKind(info);
  if (kind !== "file") {
    throw fileError(
      path,
      `not a regular file (${kind}${
        (await Deno.lstat(path).catch(() => info)).isSymlink ? ", through a symbolic link" : ""
      })`,
    );
  }
  return info;
}

/** What a path is, in words: `file`, `folder`, `FIFO`, `socket`, `device`. */
function fileKind(info: Deno.FileInfo): string {
  if (info.isFile) return "file";
  if (info.isDirectory) return "a folder";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "not a file";
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function describeOpenError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or folder";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a folder";
  return error instanceof Error ? error.message : String(error);
}
