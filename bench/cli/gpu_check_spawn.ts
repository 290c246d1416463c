/**
 * A subprocess with an enforced deadline, as every step of `deno task
 * gpu-check` runs: SIGTERM at the deadline less a grace period (a bench run
 * then ends between samples and writes its profile), SIGKILL at the deadline
 * (nothing outlives it: not an FFI call, not a loop). Output is kept, handed
 * over line by line as it comes, and appended raw to a file as it comes, so a
 * check killed meanwhile still leaves what the step printed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runWithDeadline } from "./gpu_check_spawn.ts";
 *
 * const ended = await runWithDeadline("sleep", ["30"], { limitS: 0.5 });
 * assert.ok(ended.timedOut);
 * assert.notEqual(ended.code, 0);
 * ```
 *
 * @module
 */

/** How a subprocess ended. */
export interface Ended {
  readonly code: number;
  /** Stopped at its deadline. */
  readonly timedOut: boolean;
  /** Everything it wrote, stdout and stderr as they came. */
  readonly output: string;
}

/** Options of {@link runWithDeadline}. */
export interface DeadlineOptions {
  /** Seconds it may run. */
  readonly limitS: number;
  /** Seconds between SIGTERM and SIGKILL. @default a fifth of the limit, at most 10 */
  readonly graceS?: number;
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Told each line of output as it comes. */
  readonly onLine?: (line: string) => void;
  /** A file each chunk of output is appended to as it comes. */
  readonly stream?: string;
}

/** Runs `command args…`, stopping it at its deadline; never longer than `limitS`. */
export async function runWithDeadline(
  command: string,
  args: readonly string[],
  options: DeadlineOptions,
): Promise<Ended> {
  const child = new Deno.Command(command, {
    args: [...args],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const signal = (name: Deno.Signal) => () => {
    timedOut = true;
    try {
      child.kill(name);
    } catch { /* already gone */ }
  };
  const grace = options.graceS ?? Math.min(10, options.limitS / 5);
  const term = setTimeout(signal("SIGTERM"), Math.max(0, options.limitS - grace) * 1000);
  const kill = setTimeout(signal("SIGKILL"), options.limitS * 1000);
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      if (options.stream) Deno.writeTextFileSync(options.stream, chunk, { append: true });
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) options.onLine?.(line);
    }
    if (pending) options.onLine?.(pending);
  };
  try {
    const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
    return { code: status.code, timedOut, output };
  } finally {
    clearTimeout(term);
    clearTimeout(kill);
  }
}
