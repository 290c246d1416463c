/**
 * `weightbench compare BASELINE CURRENT`: compare two profiles case by case,
 * a gate that cannot be fooled: exit 1 when any case regressed, newly errored,
 * or was dropped (measured in the baseline, missing or skipped now, unless
 * `--allow-missing`); 2 on bad input, on two profiles with nothing in common,
 * and on profiles of different machines unless `--cross-machine` (see
 * `bench/compare/compare_profiles.ts` for the rules); 0 otherwise.
 *
 * @module
 */

import { resolve } from "node:path";
import { InputError } from "../util/errors.ts";
import { readProfile } from "../../profiles/files.ts";
import { DEFAULT_BASELINE_DIR, writeBaseline } from "../compare/baseline.ts";
import { compareProfiles } from "../compare/compare_profiles.ts";
import { parseBy, parseFormat, parseFraction } from "./compare_flags.ts";
import { renderComparison } from "../../report/compare_text.ts";
import { DEFAULT_ALPHA, DEFAULT_THRESHOLD } from "../compare/significance.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task compare BASELINE CURRENT [options]
       deno task compare CURRENT --update-baseline

Compares two profiles case by case: the ratio of median load times with a
bootstrap confidence interval, a two-sided Mann-Whitney U test on the raw
samples, and a verdict. A regression needs p < alpha, a change beyond the
threshold, and an interval that agrees. Exit code 1 when any case regressed,
or a case that completed in the baseline errored, is missing or was skipped in
CURRENT; 2 on bad input, when the two profiles have no case in common, or when
they come from different machines; 0 otherwise.

Options:
  --threshold T        smallest change that matters: 5% or 0.05 (default: ${
  DEFAULT_THRESHOLD * 100
}%)
  --alpha A            significance level of the U test (default: ${DEFAULT_ALPHA})
  --by time|efficiency compare load times, or throughput as a fraction of each
                       machine's measured limit (for profiles from different machines)
  --format F           table | markdown | json (default: table)
  --allow-missing      a case of the baseline missing or skipped in CURRENT does not fail
  --cross-machine      compare profiles of different machines (refused otherwise)
  --update-baseline    also write CURRENT as the baseline of its machine,
                       replacing the one there (profiles/baselines/<machine>.json)
  --baselines DIR      folder of baselines (default: profiles/baselines)
  -h, --help           show this help
`;

const FLAGS = {
  threshold: { type: "string" },
  alpha: { type: "string" },
  by: { type: "string" },
  format: { type: "string" },
  "update-baseline": { type: "boolean" },
  "allow-missing": { type: "boolean" },
  "cross-machine": { type: "boolean" },
  baselines: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function compareCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const threshold = parseFraction("--threshold", values.threshold, { max: 10 });
  const alpha = parseFraction("--alpha", values.alpha, { exclusiveMin: true, max: 1 });
  const by = parseBy(values.by);
  const format = parseFormat(values.format) ?? "table";
  const update = values["update-baseline"] ?? false;
  const baselineDir = resolve(values.baselines ?? DEFAULT_BASELINE_DIR);

  if (positionals.length === 1 && update) {
    const current = await readProfile(positionals[0]!);
    const path = await writeBaseline(baselineDir, current, { replace: true });
    console.error(`baseline written: ${path}`);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new InputError(
      `Expected BASELINE and CURRENT profiles, got ${positionals.length} argument${
        positionals.length === 1 ? "" : "s"
      } (see --help)`,
    );
  }
  const [baselinePath, currentPath] = positionals as [string, string];
  const baseline = await readProfile(baselinePath);
  const current = await readProfile(currentPath);
  const comparison = compareProfiles(
    baseline,
    current,
    {
      ...(threshold === undefined ? {} : { threshold }),
      ...(alpha === undefined ? {} : { alpha }),
      ...(by === undefined ? {} : { by }),
      allowMissing: values["allow-missing"] ?? false,
      crossMachine: values["cross-machine"] ?? false,
    },
    { baseline: baselinePath, current: currentPath },
  );
  const color = format === "table" && !Deno.noColor && Deno.stdout.isTerminal();
  // Warnings go to stderr too, so they are seen when stdout is a file or a pipe.
  if (format !== "table") {
    for (const warning of comparison.warnings) console.error(`warning: ${warning}`);
  }
  await writeStdout(renderComparison(comparison, format, { color }));
  if (update) {
    const path = await writeBaseline(baselineDir, current, { replace: true });
    console.error(`baseline written: ${path}`);
  }
  return comparison.exitCode;
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += await Deno.stdout.write(bytes.subarray(written));
}
