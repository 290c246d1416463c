/**
 * The flag values `compare` and `nightly` share: `--threshold`, `--alpha`,
 * `--by` and `--format`, each checked into one clear {@linkcode InputError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFraction } from "./compare_flags.ts";
 *
 * assert.equal(parseFraction("--threshold", "5%"), 0.05);
 * assert.equal(parseFraction("--threshold", "0.05"), 0.05);
 * assert.throws(() => parseFraction("--threshold", "5"), /expected a percentage such as 5% or a fraction such as 0.05/);
 * ```
 *
 * @module
 */

import { InputError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";
import type { CompareBy } from "../compare/compare_profiles.ts";
import { type Format, FORMATS } from "../../report/compare_text.ts";

/** `5%` or `0.05` as 0.05; a bare number of 1 or more is refused as ambiguous. */
export function parseFraction(
  flag: string,
  value: string | undefined,
  range: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const percent = /^(\d+(?:\.\d*)?|\.\d+)\s*%$/.exec(text);
  const plain = /^(\d+(?:\.\d*)?|\.\d+)$/.exec(text);
  const number = percent ? Number(percent[1]) / 100 : plain ? Number(plain[1]) : NaN;
  const min = range.min ?? 0;
  const max = range.max ?? 1;
  const tooLow = range.exclusiveMin ? number <= min : number < min;
  if (!Number.isFinite(number) || (plain && number >= 1) || tooLow || number >= max) {
    throw new InputError(
      `Invalid ${flag} "${value}": expected a percentage such as 5% or a fraction such as 0.05` +
        (Number.isFinite(number) && !(plain && number >= 1)
          ? ` (${range.exclusiveMin ? "above" : "at least"} ${min}, below ${max})`
          : ""),
    );
  }
  return number;
}

/** `--by time|efficiency`. */
export function parseBy(value: string | undefined): CompareBy | undefined {
  return oneOf("--by", value, ["time", "efficiency"] as const);
}

/** `--format table|markdown|json`. */
export function parseFormat(value: string | undefined): Format | undefined {
  return oneOf("--format", value, FORMATS);
}

function oneOf<const T extends string>(
  flag: string,
  value: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new InputError(
    `Invalid ${flag} "${value}": expected ${choices.join(", ")}${didYouMean(value, choices)}`,
  );
}
