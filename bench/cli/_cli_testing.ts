/**
 * Helpers for tests that run the real command line as subprocesses, with the
 * permission flags of its `deno.json` task, and check exit codes, output and
 * what is left on disk.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: every child runs here. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const TESTDATA = "fixtures/testdata";

/** What a finished child did. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

/** The most any one child may run before it is killed and its test fails. */
export const CHILD_LIMIT_MS = 30_000;

/** What a finished child did, with the signal that ended it and whether the watchdog did. */
export interface CliRun extends CliResult {
  readonly signal: Deno.Signal | null;
  /** Killed for running past its limit. */
  readonly killed: boolean;
}

/** How {@link spawnCli} starts a child. */
export interface SpawnOptions {
  readonly env?: Record<string, string>;
  /** Deno flags after the task's own, such as `--deny-read=PATH`. */
  readonly denoFlags?: readonly string[];
  /** Deno flags in place of the task's. */
  readonly flags?: readonly string[];
  /** Killed (SIGKILL) after this long. @default {@link CHILD_LIMIT_MS} */
  readonly limitMs?: number;
}

/**
 * Starts `deno run <flags of the task> bench/main.ts ...args` from the project
 * root with `NO_COLOR=1`; the task is `args[0]` when deno.json has one by
 * that name, else `bench`. The child is returned for signalling; `done` is
 * what it did. A child still running after its limit is killed.
 */
export function spawnCli(
  args: readonly string[],
  options: SpawnOptions = {},
): { readonly child: Deno.ChildProcess; readonly done: Promise<CliRun> } {
  const start = performance.now();
  const flags = options.flags ?? [...taskFlags(args[0] ?? "bench"), ...(options.denoFlags ?? [])];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "bench/main.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const watchdog = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, options.limitMs ?? CHILD_LIMIT_MS);
  const done = child.output().finally(() => clearTimeout(watchdog)).then((output) => {
    const decoder = new TextDecoder();
    return {
      code: output.code,
      signal: output.signal,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      ms: performance.now() - start,
      killed,
    };
  });
  return { child, done };
}

/**
 * {@link spawnCli} to its end; a child still running after
 * {@link CHILD_LIMIT_MS} is killed and the test fails.
 */
export async function cli(
  args: readonly string[],
  env: Record<string, string> = {},
  /** Deno flags after the task's own, such as `--deny-read=PATH`. */
  denoFlags: readonly string[] = [],
): Promise<CliResult> {
  const result = await spawnCli(args, { env, denoFlags }).done;
  assert.ok(
    !result.killed,
    `"${args.join(" ")}" still running after ${CHILD_LIMIT_MS} ms; killed\n${result.stderr}`,
  );
  return result;
}

/** The flags of deno.json's task `name` (its permission set, V8 flags), so the children run as the tasks do. */
export function taskFlags(name: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))) as {
    tasks: Record<string, { command: string }>;
  };
  const task = config.tasks[name] ?? config.tasks.bench!;
  const words = task.command.trim().split(/\s+/);
  const main = words.indexOf("bench/main.ts");
  assert.ok(
    words[0] === "deno" && words[1] === "run" && main > 2,
    `unexpected task: ${task.command}`,
  );
  const flags = words.slice(2, main);
  assert.ok(
    flags.every((flag) =>
      /^(-q|--no-prompt|-P=[\w-]+|--allow-[\w-]+(=.*)?|--v8-flags=.*)$/.test(flag)
    ),
    `unexpected flags: ${flags}`,
  );
  return flags;
}

/** A temporary folder, removed with everything in it when disposed. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "weightbench_cli_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Every path under `dir`, relative to it, sorted; `[]` when `dir` does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relative: string) => {
    try {
      for await (const entry of Deno.readDir(join(dir, relative))) {
        const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
        found.push(path);
        if (entry.isDirectory) await walk(path);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  };
  await walk("");
  return found.sort();
}

/** The most a rejected input may take, spawn to exit. */
export const INPUT_ERROR_MS = 2_000;

/**
 * Checks the contract for bad input: exit 2, nothing on stdout, one stderr
 * line `error: ...` with every one of `expected` in it, no stack trace, fast,
 * and nothing left in `outDir`.
 */
export async function assertInputError(
  result: CliResult,
  expected: readonly (string | RegExp)[],
  outDir?: string,
): Promise<string> {
  const context = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, 2, `exit code\n${context}`);
  assert.equal(result.stdout, "", `stdout must be empty\n${context}`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `stderr must be exactly one line\n${context}`);
  const line = lines[0]!;
  assert.ok(line.startsWith("error: "), `stderr must start with "error: "\n${context}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  for (const part of expected) {
    if (typeof part === "string") assert.ok(line.includes(part), `"${part}" missing from: ${line}`);
    else assert.match(line, part);
  }
  assert.ok(
    result.ms < INPUT_ERROR_MS,
    `took ${result.ms.toFixed(0)} ms (limit ${INPUT_ERROR_MS})`,
  );
  if (outDir !== undefined) assert.deepEqual(await listTree(outDir), [], "files left in --out");
  return line;
}
