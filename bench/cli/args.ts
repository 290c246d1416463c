/**
 * Flag parsing for the commands: `node:util` parseArgs, with its errors and
 * every value check turned into one clear {@link InputError} line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags, positiveInteger } from "./args.ts";
 *
 * const { values } = parseFlags(["--runs", "3", "--json"], {
 *   runs: { type: "string" },
 *   json: { type: "boolean" },
 * });
 * assert.equal(positiveInteger("--runs", values.runs), 3);
 * assert.throws(() => positiveInteger("--runs", "-3"), /Invalid --runs "-3": expected a positive integer/);
 * assert.throws(() => parseFlags(["--rusn", "3"], { runs: { type: "string" } }), /Unknown flag "--rusn" \(did you mean "--runs"\?\)/);
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `args` strictly against `options`; unknown flags and missing values are {@link InputError}s. */
export function parseFlags<const O extends Options>(
  args: readonly string[],
  options: O,
  allowPositionals = false,
) {
  const prepared = joinDashValues(args, options);
  try {
    return parseArgs({ args: prepared, options, strict: true, allowPositionals });
  } catch (error) {
    throw new InputError(describeParseError(error, options), { cause: error });
  }
}

/** `value` as an integer ≥ 1, or an {@link InputError} naming `flag`. */
export function positiveInteger(flag: string, value: string | undefined): number | undefined {
  return integerAtLeast(flag, value, 1, "a positive integer");
}

/** `value` as an integer ≥ 0, or an {@link InputError} naming `flag`. */
export function nonNegativeInteger(flag: string, value: string | undefined): number | undefined {
  return integerAtLeast(flag, value, 0, "a whole number");
}

/** A comma-separated list, without empty items. */
export function commaList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((item) => item.trim()).filter((item) => item.length > 0);
}

function integerAtLeast(
  flag: string,
  value: string | undefined,
  minimum: number,
  expected: string,
): number | undefined {
  if (value === undefined) return undefined;
  const number = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < minimum) {
    throw new InputError(`Invalid ${flag} "${value}": expected ${expected}`);
  }
  return number;
}

/** `--runs -3` would read as two flags; hand it to parseArgs as `--runs=-3` so the value is checked. */
function joinDashValues(args: readonly string[], options: Options): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    const next = args[i + 1];
    if (
      name !== undefined && options[name]?.type === "string" && next !== undefined &&
      next.startsWith("-") && !next.startsWith("--")
    ) {
      result.push(`${arg}=${next}`);
      i++;
    } else {
      result.push(arg);
    }
  }
  return result;
}

function describeParseError(error: unknown, options: Options): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const known = Object.keys(options).map((name) => `--${name}`);
    return `Unknown flag "${flag}"${didYouMean(flag, known)}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    const name = flag.replace(/^-+/, "");
    return options[name]?.type === "boolean"
      ? `Flag "${flag}" takes no value`
      : `Flag "${flag}" needs a value`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const extra = /Unexpected argument '([^']*)'/.exec(message)?.[1];
    return `Unexpected argument "${extra ?? "?"}"`;
  }
  return message;
}
