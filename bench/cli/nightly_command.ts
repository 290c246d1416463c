/**
 * `weightbench nightly`: not built yet.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Runs the command; returns the exit code. */
export function nightlyCommand(_args: readonly string[]): Promise<number> {
  return Promise.reject(new InputError("The nightly command is not built yet"));
}
