/**
 * The two families of errors weightbench raises.
 *
 * A {@link UserError} is for the user, not a bug: an {@link InputError} is
 * theirs to fix (a bad flag, a bad scenario, a malformed weight file: exit 2),
 * an {@link InterruptedError} is their Ctrl-C (exit 130). The CLI prints its
 * message as one line. Anything else is a bug or an environment failure: exit
 * 1 with its stack.
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

/**
 * An error meant for the user, not a bug: the CLI prints its message as one
 * line and exits with its code, without a stack.
 */
export abstract class UserError extends Error {
  /** The process exit code for this error. */
  abstract readonly exitCode: number;
}

/** A problem with something the user gave: a flag, a scenario file, a weight file. Exits 2. */
export class InputError extends UserError {
  readonly exitCode: number = 2;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/**
 * The run was stopped by a signal: Ctrl-C (SIGINT), or a scheduler's or CI
 * runner's SIGTERM on timeout or preemption. Not a mistake in the input. Exits
 * 128 + the signal's number (130, 143), as shells expect.
 */
export class InterruptedError extends UserError {
  readonly exitCode: number;
  /** The signal that stopped the run. */
  readonly signal: "SIGINT" | "SIGTERM";

  constructor(signal: "SIGINT" | "SIGTERM" = "SIGINT", message?: string) {
    super(message ?? `Interrupted by ${signal}`);
    this.name = "InterruptedError";
    this.signal = signal;
    this.exitCode = signal === "SIGINT" ? 130 : 143;
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
