/**
 * `weightbench report`: not built yet.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Runs the command; returns the exit code. */
export function reportCommand(_args: readonly string[]): Promise<number> {
  return Promise.reject(new InputError("The report command is not built yet"));
}
