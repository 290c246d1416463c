/**
 * `weightbench probe`: not built yet.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Runs the command; returns the exit code. */
export function probeCommand(_args: readonly string[]): Promise<number> {
  return Promise.reject(new InputError("The probe command is not built yet"));
}
