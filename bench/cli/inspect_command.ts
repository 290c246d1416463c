/**
 * `weightbench inspect PATH`: the tensors of a weight file or folder — name,
 * dtype, shape, file, byte offset, byte length — and with `--hash` the
 * SHA-256 of each tensor's bytes. For a PyTorch checkpoint the rows are its
 * tensors as views into storages (with the storage, offset and strides), and
 * `--hash` hashes each one's logical contiguous bytes, as
 * `hashlib.sha256(t.contiguous().numpy().tobytes())` would.
 *
 * @module
 */

import { basename } from "node:path";
import Table from "cli-table3";
import { InputError } from "../util/errors.ts";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { viewDigest, viewElementBytes, viewElements } from "../formats/views.ts";
import { digestKey, tensorDigests } from "../core/digests.ts";
import { formatBytes } from "../util/size.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task inspect PATH [--json] [--hash]

Lists the tensors of a weight file (safetensors, GGUF, PyTorch, ONNX), a
folder of shards, or a Hugging Face cache entry (org/name[@revision]).

Options:
  --json       print JSON instead of a table
  --hash       add the SHA-256 of each tensor's bytes (reads every byte)
  -h, --help   show this help
`;

const FLAGS = {
  json: { type: "boolean" },
  hash: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** One row of the listing. */
export interface TensorRow {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly file: string;
  readonly offset: number;
  readonly byteLength: number;
  /** For a view into a storage (PyTorch): the storage's name. */
  readonly storage?: string;
  /** For a view: its first element in the storage. */
  readonly storageOffset?: number;
  /** For a view: its strides, in elements. */
  readonly strides?: readonly number[];
  /** For a view: whether its elements are contiguous in the storage. */
  readonly contiguous?: boolean;
  readonly sha256?: string;
}

/** Runs the command; returns the exit code. */
export async function inspectCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new InputError(
      positionals.length === 0
        ? "Missing PATH: inspect takes a weight file or folder"
        : `Expected one PATH, got ${positionals.length}`,
    );
  }
  const weights = await openWeights(positionals[0]!);
  const rows = await tensorRows(weights, values.hash ?? false);
  if (values.json) {
    console.log(JSON.stringify(
      {
        source: weights.source,
        format: weights.format,
        tensorCount: weights.tensorCount,
        tensorBytes: weights.tensorBytes,
        files: weights.files.map((f) => ({
          path: f.path,
          size: f.size,
          format: f.format.name,
          metadata: f.index.metadata,
          ...(f.index.views === undefined ? {} : {
            storages: f.index.tensors.map((t) => ({
              name: t.name,
              dtype: t.dtype,
              shape: t.shape,
              offset: t.offset,
              byteLength: t.byteLength,
            })),
          }),
        })),
        tensors: rows,
      },
      null,
      2,
    ));
    return 0;
  }
  console.log(renderTensorTable(rows, Deno.stdout.isTerminal() && !Deno.noColor));
  const storages = weights.files.some((f) => f.index.views !== undefined);
  const what = storages
    ? `${rows.length} tensors in ${weights.tensorCount} storages`
    : `${weights.tensorCount} tensors`;
  console.log(
    `${what}, ${formatBytes(weights.tensorBytes)} in ${weights.files.length} ` +
      `${weights.format} file${weights.files.length === 1 ? "" : "s"}`,
  );
  return 0;
}

/** The rows for every tensor, in file order; with `hash`, each tensor's SHA-256. */
export async function tensorRows(weights: WeightSet, hash: boolean): Promise<TensorRow[]> {
  const digests = hash ? await tensorDigests(weights) : undefined;
  const rows: TensorRow[] = [];
  for (const { path, index } of weights.files) {
    if (index.views === undefined) {
      rows.push(...tensorRowsOf(path, index.tensors, digests));
      continue;
    }
    const storages = new Map(index.tensors.map((t) => [t.name, t]));
    using file = hash ? await Deno.open(path, { read: true }) : undefined;
    for (const view of index.views) {
      const storage = storages.get(view.storage)!;
      const elementBytes = viewElementBytes(view, storage);
      const row: TensorRow = {
        name: view.name,
        dtype: view.dtype,
        shape: view.shape,
        file: basename(path),
        offset: storage.offset + view.storageOffset * elementBytes,
        byteLength: viewElements(view) * elementBytes,
        storage: view.storage,
        storageOffset: view.storageOffset,
        strides: view.strides,
        contiguous: view.contiguous,
      };
      rows.push(file ? { ...row, sha256: await viewDigest(file, storage, view) } : row);
    }
  }
  return rows;
}

function tensorRowsOf(
  path: string,
  tensors: WeightSet["files"][number]["index"]["tensors"],
  digests: Map<string, string> | ReadonlyMap<string, string> | undefined,
): TensorRow[] {
  return tensors.map((t) => {
    const row: TensorRow = {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      file: basename(path),
      offset: t.offset,
      byteLength: t.byteLength,
    };
    return digests ? { ...row, sha256: digests.get(digestKey(path, t.name))! } : row;
  });
}

/** The listing as a table string. */
export function renderTensorTable(rows: readonly TensorRow[], color = false): string {
  const hashed = rows.some((r) => r.sha256 !== undefined);
  const views = rows.some((r) => r.storage !== undefined);
  const table = new Table({
    head: [
      "name",
      "dtype",
      "shape",
      "file",
      "offset",
      "bytes",
      ...(views ? ["view of storage"] : []),
      ...(hashed ? ["sha256"] : []),
    ],
    style: color ? { head: ["cyan"], border: ["grey"] } : { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.name,
      r.dtype,
      `[${r.shape.join(", ")}]`,
      r.file,
      r.offset,
      r.byteLength,
      ...(views
        ? [
          r.storage === undefined
            ? ""
            : `${r.storage} +${r.storageOffset} strides [${r.strides?.join(", ")}]${
              r.contiguous ? "" : " (strided)"
            }`,
        ]
        : []),
      ...(hashed ? [r.sha256 ?? ""] : []),
    ]);
  }
  return table.toString();
}
