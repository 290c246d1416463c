/**
 * How long a header takes to read as its tensor count grows: for 1,000,
 * 10,000 and 100,000 tiny tensors in each format (safetensors, GGUF, PyTorch,
 * ONNX), the least CPU time of a few parses from memory, of `openWeights` from
 * a file, and of everything `inspect` does (open, the rows, the table). Prints
 * each time and the ratio to the count ten times smaller: about 10 when the
 * work is linear, 100 when it is quadratic. CPU time of the main thread
 * (`/proc/thread-self/schedstat`) leaves out the waits for a CPU that other
 * processes hold; on a loaded machine it still grows with cache contention.
 *
 *     deno run -P=test tools/header_perf.ts [--runs 3]
 *
 * The test that keeps the ratio is each format's conformance suite
 * (`bench/formats/_conformance.ts`) and `bench/cli/inspect_command_test.ts`.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeOnnxGraphModel } from "../fixtures/onnx_writer.ts";
import { encodeCheckpoint } from "../fixtures/pt_writer.ts";
import { manyTensors, type SuiteTensor, threadCpuMs } from "../bench/formats/_conformance.ts";
import { bytesSource, type WeightFormat } from "../bench/formats/format.ts";
import { encodeGguf, gguf } from "../bench/formats/gguf.ts";
import { onnx } from "../bench/formats/onnx.ts";
import { pytorch } from "../bench/formats/pytorch.ts";
import { encodeSafetensorsHeader, safetensors } from "../bench/formats/safetensors.ts";
import { openWeights } from "../bench/formats/weights.ts";
import { renderTensorTable, tensorRows } from "../bench/cli/inspect_command.ts";

/** Tensor counts measured. */
const COUNTS = [1_000, 10_000, 100_000];

/** A format and a writer of a file of tensors in it. */
interface Case {
  readonly format: WeightFormat;
  readonly file: string;
  write(tensors: readonly SuiteTensor[]): Uint8Array;
}

const CASES: readonly Case[] = [
  {
    format: safetensors,
    file: "model.safetensors",
    write(tensors) {
      const { bytes, dataOffset } = encodeSafetensorsHeader(tensors);
      const file = new Uint8Array(dataOffset + tensors.length * 8);
      file.set(bytes);
      return file;
    },
  },
  {
    format: gguf,
    file: "model.gguf",
    write(tensors) {
      const { bytes, dataOffset, ranges } = encodeGguf({
        metadata: [],
        tensors: tensors.map((t) => ({ name: t.name, type: t.dtype, ne: t.shape })),
      });
      const file = new Uint8Array(dataOffset + ranges.at(-1)!.end);
      file.set(bytes);
      return file;
    },
  },
  {
    format: pytorch,
    file: "pytorch_model.bin",
    write: (tensors) => encodeCheckpoint("pytorch_model", tensors),
  },
  {
    format: onnx,
    file: "model.onnx",
    // Half the initializers in the main graph, half in a Loop's body.
    write(tensors) {
      const init = tensors.map((t) => ({
        name: t.name,
        dtype: "FLOAT",
        shape: t.shape,
        data: t.data,
      }));
      const half = Math.floor(init.length / 2);
      return encodeOnnxGraphModel({
        initializers: init.slice(0, half),
        nodes: [{
          opType: "Loop",
          attributes: [{ name: "body", graph: { initializers: init.slice(half) } }],
        }],
      });
    },
  },
];

/** The least CPU time (this thread's) of `runs` calls of `step`, in ms. */
async function fastest(runs: number, step: () => unknown): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = threadCpuMs();
    await step();
    best = Math.min(best, threadCpuMs() - start);
  }
  return best;
}

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" } },
});
const runs = Number(values.runs);
const root = await Deno.makeTempDir({ prefix: "weightbench-header-perf-" });
try {
  console.log(`least CPU time of ${runs} runs; ratio: over the time for a tenth of the tensors`);
  console.log("format       tensors   parse ms  ratio   open ms  ratio   inspect ms  ratio");
  for (const c of CASES) {
    let last: number[] | undefined;
    for (const count of COUNTS) {
      const bytes = c.write(manyTensors(count));
      const path = join(root, `${count}-${c.file}`);
      await Deno.writeFile(path, bytes);
      const parse = await fastest(runs, () => c.format.parse(bytesSource(path, bytes)));
      const open = await fastest(runs, () => openWeights(path));
      const inspect = await fastest(runs, async () => {
        renderTensorTable(await tensorRows(await openWeights(path), false));
      });
      const times = [parse, open, inspect];
      const ratio = (i: number) =>
        last === undefined ? "" : `${(times[i]! / last[i]!).toFixed(1)}x`;
      console.log(
        `${c.format.name.padEnd(12)} ${String(count).padStart(7)} ${
          parse.toFixed(1).padStart(10)
        } ${ratio(0).padStart(6)} ${open.toFixed(1).padStart(9)} ${ratio(1).padStart(6)} ${
          inspect.toFixed(1).padStart(12)
        } ${ratio(2).padStart(6)}`,
      );
      last = times;
    }
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
