/**
 * `weightbench inspect PATH`: the tensors of a weight file or folder — name,
 * dtype, shape, file, byte offset, byte length — and with `--hash` the
 * SHA-256 of each tensor's bytes.
 *
 * @module
 */

import { basename } from "node:path";
import Table from "cli-table3";
import { InputError } from "../errors.ts";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { digestKey, tensorDigests } from "../run/digests.ts";
import { formatBytes } from "../util/size.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task inspect PATH [--json] [--hash]

Lists the tensors of a weight file, or of a folder of shards.

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
          metadata: f.index.metadata,
        })),
        tensors: rows,
      },
      null,
      2,
    ));
    return 0;
  }
  console.log(renderTensorTable(rows, Deno.stdout.isTerminal() && !Deno.noColor));
  console.log(
    `${weights.tensorCount} tensors, ${
      formatBytes(weights.tensorBytes)
    } in ${weights.files.length} ` +
      `${weights.format} file${weights.files.length === 1 ? "" : "s"}`,
  );
  return 0;
}

/** The rows for every tensor, in file order; with `hash`, each tensor's SHA-256. */
export async function tensorRows(weights: WeightSet, hash: boolean): Promise<TensorRow[]> {
  const digests = hash ? await tensorDigests(weights) : undefined;
  return weights.files.flatMap(({ path, index }) =>
    index.tensors.map((t) => {
      const row: TensorRow = {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        file: basename(path),
        offset: t.offset,
        byteLength: t.byteLength,
      };
      return digests ? { ...row, sha256: digests.get(digestKey(path, t.name))! } : row;
    })
  );
}

/** The listing as a table string. */
export function renderTensorTable(rows: readonly TensorRow[], color = false): string {
  const hashed = rows.some((r) => r.sha256 !== undefined);
  const table = new Table({
    head: ["name", "dtype", "shape", "file", "offset", "bytes", ...(hashed ? ["sha256"] : [])],
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
      ...(hashed ? [r.sha256 ?? ""] : []),
    ]);
  }
  return table.toString();
}
