/**
 * The weightbench command line: `bench`, `inspect`, `fixtures`, `report`,
 * `compare`, `nightly`, `probe` and `merge`.
 *
 * An error meant for the user (a bad flag, scenario or weight file; Ctrl-C) prints one line and
 * exits 2; anything else is a bug or an environment failure and exits 1 with
 * its stack.
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
import { InputError, UserError } from "./util/errors.ts";
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
    console.error(error);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
