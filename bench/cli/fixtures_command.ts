/**
 * `weightbench fixtures`: generate a deterministic model fixture — a layout
 * such as `llama-3-70b` with the real tensor names and shape ratios, scaled
 * to a size, in safetensors shards with their index.
 *
 * @module
 */

import {
  FIXTURE_FORMATS,
  type FixtureFormat,
  QUANT_DTYPES,
} from "../../fixtures/format_writers.ts";
import { type FixtureSpec, generateFixture } from "../../fixtures/generate.ts";
import { DTYPE_BYTES, type FixtureDType, layoutNames } from "../../fixtures/layouts.ts";
import { InputError, InterruptedError } from "../util/errors.ts";
import { formatBytes, parseSize } from "../util/size.ts";
import { parseFlags, positiveInteger } from "./args.ts";
import { Progress } from "./progress.ts";

/** Layout used when `--layout` is not given. @default "llama-3-8b" */
export const DEFAULT_LAYOUT = "llama-3-8b";
/** Size used when `--size` is not given. @default "512MiB" */
export const DEFAULT_SIZE = "512MiB";

const HELP =
  `Usage: deno task fixtures --out DIR [--format safetensors|gguf|pt|onnx] [--layout NAME] [--size 512MiB] [--dtype F16|BF16|F32|Q8_0|Q4_0] [--shards N] [--force]

Writes a model folder with deterministic, non-zero content: the layout's real
tensor names and shape ratios, scaled to the size. Every format holds the same
bytes for a tensor; GGUF Q8_0/Q4_0 quantize its F32 values as ggml does.

Options:
  --out DIR        the folder to create (required)
  --layout NAME    ${layoutNames().join(", ")} (default: ${DEFAULT_LAYOUT})
  --size SIZE      total tensor bytes, e.g. 512MiB, 2GiB (default: ${DEFAULT_SIZE})
  --format NAME    ${FIXTURE_FORMATS.join(", ")} (default: safetensors):
                   safetensors: model.safetensors, or shards with model.safetensors.index.json
                   gguf: model.gguf, or gguf-split shards; llama.cpp tensor names
                   pt: pytorch_model.bin (torch.save zip), or shards with pytorch_model.bin.index.json
                   onnx: model.onnx with raw_data; with --shards N, N external data files
  --dtype DTYPE    F16, BF16 or F32; with --format gguf also Q8_0 or Q4_0 (default: F16)
  --shards N       number of weight files (default: 1)
  --force          replace DIR if it exists
  -h, --help       show this help
`;

const FLAGS = {
  out: { type: "string" },
  layout: { type: "string" },
  size: { type: "string" },
  dtype: { type: "string" },
  format: { type: "string" },
  shards: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function fixturesCommand(args: readonly string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.out === undefined) {
    throw new InputError("Missing --out: the folder to write the fixture to");
  }
  const sizeText = values.size ?? DEFAULT_SIZE;
  const size = parseSize(sizeText);
  if (size === undefined || size <= 0) {
    throw new InputError(`Invalid --size "${sizeText}": expected a size such as 512MiB or 2GiB`);
  }
  const format = (values.format ?? "safetensors").toLowerCase();
  if (!(FIXTURE_FORMATS as readonly string[]).includes(format)) {
    throw new InputError(
      `Invalid --format "${values.format}": expected ${FIXTURE_FORMATS.join(", ")}`,
    );
  }
  const dtype = (values.dtype ?? "F16").toUpperCase();
  const dtypes = [...Object.keys(DTYPE_BYTES), ...(format === "gguf" ? QUANT_DTYPES : [])];
  if (!dtypes.includes(dtype)) {
    throw new InputError(
      `Invalid --dtype "${values.dtype}": expected ${dtypes.join(", ")}${
        format === "gguf" ? "" : " (Q8_0 and Q4_0 with --format gguf)"
      }`,
    );
  }
  const spec: FixtureSpec = {
    layout: values.layout ?? DEFAULT_LAYOUT,
    size,
    dtype: dtype as FixtureDType,
    shards: positiveInteger("--shards", values.shards) ?? 1,
    ...(format === "safetensors" ? {} : { format: format as FixtureFormat }),
  };
  const progress = new Progress();
  // SIGINT and SIGTERM stop the generation between chunks; its temporary folder goes with it.
  const controller = new AbortController();
  const onInt = () => controller.abort(new InterruptedError("SIGINT"));
  const onTerm = () => controller.abort(new InterruptedError("SIGTERM"));
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  let manifest;
  try {
    manifest = await generateFixture(spec, values.out, {
      overwrite: values.force ?? false,
      signal: controller.signal,
      onProgress: (done, total) =>
        progress.update({ kind: "fixture", label: values.out!, done, total }),
    });
  } finally {
    progress.stop();
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
  console.log(
    `${values.out}: ${spec.layout}, ${manifest.tensorCount} tensors, ${
      formatBytes(manifest.tensorBytes)
    } ` +
      `${spec.dtype} in ${
        manifest.files.filter((f) => !f.name.endsWith(".json")).length
      } ${format} file(s)`,
  );
  return 0;
}
