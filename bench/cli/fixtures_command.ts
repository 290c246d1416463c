/**
 * `weightbench fixtures`: generate a deterministic model fixture — a layout
 * such as `llama-3-70b` with the real tensor names and shape ratios, scaled
 * to a size, in safetensors shards with their index.
 *
 * @module
 */

import { generateFixture } from "../../fixtures/generate.ts";
import { DTYPE_BYTES, type FixtureDType, layoutNames } from "../../fixtures/layouts.ts";
import { InputError } from "../errors.ts";
import { formatBytes, parseSize } from "../util/size.ts";
import { parseFlags, positiveInteger } from "./args.ts";
import { Progress } from "./progress.ts";

/** Layout used when `--layout` is not given. @default "llama-3-8b" */
export const DEFAULT_LAYOUT = "llama-3-8b";
/** Size used when `--size` is not given. @default "512MiB" */
export const DEFAULT_SIZE = "512MiB";

const HELP =
  `Usage: deno task fixtures --out DIR [--layout NAME] [--size 512MiB] [--dtype F16|BF16|F32] [--shards N] [--force]

Writes a Hugging Face style safetensors model folder with deterministic,
non-zero content: the layout's real tensor names and shape ratios, scaled to
the size.

Options:
  --out DIR        the folder to create (required)
  --layout NAME    ${layoutNames().join(", ")} (default: ${DEFAULT_LAYOUT})
  --size SIZE      total tensor bytes, e.g. 512MiB, 2GiB (default: ${DEFAULT_SIZE})
  --dtype DTYPE    F16, BF16 or F32 (default: F16)
  --shards N       number of files; more than one adds model.safetensors.index.json (default: 1)
  --force          replace DIR if it exists
  -h, --help       show this help
`;

const FLAGS = {
  out: { type: "string" },
  layout: { type: "string" },
  size: { type: "string" },
  dtype: { type: "string" },
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
  const dtype = (values.dtype ?? "F16").toUpperCase();
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw new InputError(
      `Invalid --dtype "${values.dtype}": expected ${Object.keys(DTYPE_BYTES).join(", ")}`,
    );
  }
  const spec = {
    layout: values.layout ?? DEFAULT_LAYOUT,
    size,
    dtype: dtype as FixtureDType,
    shards: positiveInteger("--shards", values.shards) ?? 1,
  };
  const progress = new Progress();
  let manifest;
  try {
    manifest = await generateFixture(spec, values.out, {
      overwrite: values.force ?? false,
      onProgress: (done, total) =>
        progress.update({ kind: "fixture", label: values.out!, done, total }),
    });
  } finally {
    progress.stop();
  }
  console.log(
    `${values.out}: ${spec.layout}, ${manifest.tensorCount} tensors, ${
      formatBytes(manifest.tensorBytes)
    } ` +
      `${spec.dtype} in ${
        manifest.files.filter((f) => f.name.endsWith(".safetensors")).length
      } file(s)`,
  );
  return 0;
}
