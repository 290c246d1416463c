/**
 * The families of errors weightbench raises.
 *
 * A {@link UserError} is for the user, not a bug: an {@link InputError} is
 * theirs to fix (a bad flag, a bad scenario, a malformed weight file: exit 2),
 * an {@link EnvironmentError} is the machine's or the network's (a full disk,
 * a source unreachable after retries, a driver error: exit 3), an
 * {@link InterruptedError} is their Ctrl-C or a scheduler's SIGTERM (exit 130,
 * 143). The CLI prints its message as one line. Anything else is a bug: exit 1
 * with its stack.
 *
 * Messages follow one style: sentence case, no final period, values quoted,
 * a colon before the detail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EnvironmentError, fileError, InputError, isNoSpace, noSpaceError } from "./errors.ts";
 *
 * const err = fileError("model.safetensors", "header length 9e15 exceeds file size 1048576");
 * assert.ok(err instanceof InputError);
 * assert.ok(err.exitCode === 2);
 * assert.ok(err.message === 'Cannot read "model.safetensors": header length 9e15 exceeds file size 1048576');
 *
 * const full = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
 * assert.ok(isNoSpace(full));
 * const line = noSpaceError("/profiles/run.json", 1_048_576, full);
 * assert.ok(line instanceof EnvironmentError && line.exitCode === 3);
 * assert.ok(line.message.startsWith('Cannot write "/profiles/run.json": no space left on the device'));
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
 * The environment failed, not the input and not the code: the disk is full,
 * a source stayed unreachable after its retries, a driver refused. Exits 3.
 */
export class EnvironmentError extends UserError {
  readonly exitCode: number = 3;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnvironmentError";
  }
}

/** Whether `error` is (or was caused by) a full disk or quota: `ENOSPC`, `EDQUOT`. */
export function isNoSpace(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT") return true;
    if (
      /no space left on device|disk quota exceeded|os error 28\b|os error 122\b/i.test(e.message)
    ) {
      return true;
    }
    e = e.cause;
  }
  return false;
}

/**
 * The one line for a write that found the disk full: the path, the bytes it
 * needed and, when known, the bytes free.
 */
export function noSpaceError(
  path: string,
  neededBytes: number,
  cause?: unknown,
  freeBytes?: number,
): EnvironmentError {
  const free = freeBytes === undefined ? "" : `, ${freeBytes} free`;
  return new EnvironmentError(
    `Cannot write "${path}": no space left on the device (${neededBytes} bytes needed${free})`,
    cause === undefined ? undefined : { cause },
  );
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
