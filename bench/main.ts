/**
 * The weightbench command line: `bench`, `inspect`, `fixtures`, `report`,
 * `compare`, `nightly`, `probe`, `merge` and `stage`.
 *
 * Exit codes: `0` done; `1` a case failed or a regression was found (or a
 * bug: then with its stack); `2` bad input (a flag, a scenario, a weight file,
 * a profile); `3` the environment failed (a full disk, a source unreachable
 * after its retries, a driver error); `130`/`143` interrupted by SIGINT or
 * SIGTERM, with what was measured saved. Every error meant for the user is
 * one line on stderr, without a stack.
 *
 * @module
 */

import { benchCommand } from "./cli/bench_command.ts";
import { compareCommand } from "./cli/compare_command.ts";
import { fixturesCommand } from "./cli/fixtures_command.ts";
import { inspectCommand } from "./cli/inspect_command.ts";
import { mergeCommand } from "./cli/merge_command.ts";
import { nightlyCommand } from "./cli/nightly_command.ts";
import { probeCommand } from "./cli/probe_command.ts";
import { reportCommand } from "./cli/report_command.ts";
import { stageCommand } from "./cli/stage_command.ts";
import { EnvironmentError, InputError, isNoSpace, UserError } from "./util/errors.ts";
import { didYouMean } from "./util/suggest.ts";

const COMMANDS: Record<string, (args: readonly string[]) => Promise<number>> = {
  bench: benchCommand,
  inspect: inspectCommand,
  fixtures: fixturesCommand,
  report: reportCommand,
  compare: compareCommand,
  nightly: nightlyCommand,
  probe: probeCommand,
  merge: mergeCommand,
  stage: stageCommand,
};

/** Runs the command named by `args[0]`; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  const command = name === undefined ? undefined : COMMANDS[name];
  try {
    if (!command) {
      throw new InputError(
        name === undefined
          ? `Missing command (expected ${Object.keys(COMMANDS).join(", ")})`
          : `Unknown command "${name}"${didYouMean(name, Object.keys(COMMANDS))}`,
      );
    }
    return await command(rest);
  } catch (error) {
    if (error instanceof UserError) {
      console.error(`error: ${error.message.replaceAll("\n", " ")}`);
      return error.exitCode;
    }
    if (isNoSpace(error)) {
      // A full disk that no layer named: still one line, still the environment's exit code.
      const env = new EnvironmentError(`No space left on the device: ${(error as Error).message}`);
      console.error(`error: ${env.message.replaceAll("\n", " ")}`);
      return env.exitCode;
    }
    console.error(error);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
