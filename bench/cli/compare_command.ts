/**
 * `weightbench compare`: not built yet.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Runs the command; returns the exit code. */
export function compareCommand(_args: readonly string[]): Promise<number> {
  return Promise.reject(new InputError("The compare command is not built yet"));
}
