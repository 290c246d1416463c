/**
 * The two families of errors weightbench raises.
 *
 * An {@link InputError} is the user's to fix: a bad flag, a bad scenario, a
 * malformed weight file. The CLI prints its message as one line and exits 2.
 * Anything else is a bug or an environment failure: exit 1 with its stack.
 *
 * Messages follow one style: sentence case, no final period, values quoted,
 * a colon before the detail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InputError, fileError } from "./errors.ts";
 *
 * const err = fileError("model.safetensors", "header length 9e15 exceeds file size 1048576");
 * assert.ok(err instanceof InputError);
 * assert.ok(err.exitCode === 2);
 * assert.ok(err.message === 'Cannot read "model.safetensors": header length 9e15 exceeds file size 1048576');
 * ```
 *
 * @module
 */

/** A problem with something the user gave: a flag, a scenario file, a weight file. */
export class InputError extends Error {
  /** The process exit code for this error. */
  readonly exitCode: number = 2;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/** The user interrupted the run (Ctrl-C); nothing was written. Exits 130, as shells expect. */
export class InterruptedError extends InputError {
  override readonly exitCode: number = 130;

  constructor(message = "Interrupted: no profile written") {
    super(message);
    this.name = "InterruptedError";
  }
}

/** A malformed or unreadable weight file, named in the message. */
export class WeightFileError extends InputError {
  /** The file the problem was found in. */
  readonly file: string;

  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`Cannot read "${file}": ${detail}`, options);
    this.name = "WeightFileError";
    this.file = file;
  }
}

/** Builds the {@link WeightFileError} for `file` with the given detail. */
export function fileError(file: string, detail: string, options?: ErrorOptions): WeightFileError {
  return new WeightFileError(file, detail, options);
}

/** A case was skipped on purpose (a strategy that cannot run on this target or file system). */
export class SkipCase extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "SkipCase";
  }
}

/** Describes any thrown value as one line, for error records in profiles. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
