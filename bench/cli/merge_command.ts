/**
 * `weightbench merge`: not built yet.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Runs the command; returns the exit code. */
export function mergeCommand(_args: readonly string[]): Promise<number> {
  return Promise.reject(new InputError("The merge command is not built yet"));
}
