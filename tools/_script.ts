/**
 * The shell every script in tools/ shares: `-h`/`--help` prints its usage and
 * exits 0 with nothing else done; a bad flag, or any {@link UserError}, is one
 * line on stderr and its exit code; anything else exits 1 with its stack.
 *
 * @example
 * ```ts ignore
 * import { runScript } from "./_script.ts";
 *
 * await runScript("Usage: deno task demo [--size N]", { size: { type: "string" } }, (values) => {
 *   console.log(values.size ?? "default");
 * });
 * ```
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";
import { parseFlags } from "../bench/cli/args.ts";
import { UserError } from "../bench/util/errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `Deno.args` against `options` (plus `--help`), runs `main`, and exits with its code. */
export async function runScript<const O extends Options>(
  usage: string,
  options: O,
  main: (
    values: ReturnType<typeof parseFlags<O>>["values"],
    positionals: string[],
  ) => Promise<number | void> | number | void,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): Promise<never> {
  if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
    console.log(usage.trimEnd());
    Deno.exit(0);
  }
  let code: number;
  try {
    const { values, positionals } = parseFlags(Deno.args, options, allowPositionals);
    code = (await main(values, positionals)) ?? 0;
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    console.error(`error: ${error.message.replaceAll("\n", " ")}`);
    code = error.exitCode;
  }
  Deno.exit(code);
}
