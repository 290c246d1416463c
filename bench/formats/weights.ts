/**
 * Opens what a user points at — one weight file, a folder with a
 * `model.safetensors.index.json`, or a folder of `*.safetensors` — and parses
 * every file's index, checking that the pieces agree.
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

import { basename, join, resolve } from "node:path";
import { fileError } from "../errors.ts";
import { type ByteSource, fileSource, type WeightFileIndex, type WeightFormat } from "./format.ts";
import { safetensors } from "./safetensors.ts";

/** Every format weightbench reads, tried in order when sniffing a file. */
export const FORMATS: readonly WeightFormat[] = [safetensors];

/** The index file of a sharded safetensors model. */
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
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
}

/** Opens a weight file or folder; throws {@link InputError} naming the path and the problem. */
export async function openWeights(path: string): Promise<WeightSet> {
  const info = await statOrThrow(path);
  if (info.isFile) return assemble(path, [await openWeightFile(path)]);
  if (!info.isDirectory) throw fileError(path, "not a file or folder");

  const indexPath = join(path, SAFETENSORS_INDEX);
  if (await exists(indexPath)) return await openIndexed(path, indexPath);

  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile && entry.name.endsWith(".safetensors")) names.push(entry.name);
  }
  if (names.length === 0) {
    throw fileError(
      path,
      `no weight files in folder (looked for ${SAFETENSORS_INDEX} and *.safetensors)`,
    );
  }
  names.sort();
  const files = [];
  for (const name of names) files.push(await openWeightFile(join(path, name)));
  return assemble(path, files);
}

/** Parses one weight file, choosing the format by its first bytes. */
export async function openWeightFile(path: string): Promise<WeightFile> {
  using file = await Deno.open(path, { read: true }).catch((error) => {
    throw fileError(path, describeOpenError(error), { cause: error });
  });
  const { size } = await file.stat();
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
  const weightMap = await readWeightMap(indexPath);
  const order: string[] = [];
  for (const name of Object.values(weightMap)) if (!order.includes(name)) order.push(name);
  order.sort();
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
    for (const tensor of file.index.tensors) where.set(tensor.name, basename(file.path));
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
  const info = await statOrThrow(indexPath);
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

function assemble(source: string, files: WeightFile[]): WeightSet {
  const seen = new Map<string, string>();
  let tensorCount = 0;
  let tensorBytes = 0;
  let fileBytes = 0;
  for (const file of files) {
    for (const tensor of file.index.tensors) {
      const other = seen.get(tensor.name);
      if (other !== undefined) {
        throw fileError(source, `tensor "${tensor.name}" is in both "${other}" and "${file.path}"`);
      }
      seen.set(tensor.name, file.path);
      tensorCount++;
      tensorBytes += tensor.byteLength;
    }
    fileBytes += file.size;
  }
  const formats = [...new Set(files.map((f) => f.format.name))];
  return {
    source: resolve(source),
    files,
    format: formats.join("+"),
    tensorCount,
    tensorBytes,
    fileBytes,
  };
}

async function statOrThrow(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    throw fileError(path, describeOpenError(error), { cause: error });
  }
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
