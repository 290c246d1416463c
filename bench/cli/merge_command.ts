/**
 * `weightbench merge PROFILE... -o OUT`: one profile from the profiles of a
 * fleet run — the shards of a plan (`bench --shard I/N`) or the members of a
 * herd (`bench --herd I/N`) — keeping the machine of every case (see
 * `bench/compare/merge_profiles.ts` for the rules). A folder among the
 * arguments stands for the `*.json` profiles in it.
 *
 * Exit 0 when merged, 2 on bad input: a missing or doubled shard (named),
 * profiles of different scenarios or plans (unless `--combine`), a file that
 * is not a profile.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { InputError } from "../util/errors.ts";
import { readProfile } from "../../profiles/files.ts";
import { type MergeInput, mergeProfiles } from "../compare/merge_profiles.ts";
import { renderMergeSummary } from "../../report/merge_text.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task merge PROFILE|DIR... -o OUT [--combine] [--allow-missing]

Merges the profiles of a fleet run into one: the shards of a plan
(bench --shard I/N) or the members of a herd (bench --herd I/N). Each case
keeps the node that ran it; report and compare show per-node columns. A
folder stands for the *.json profiles in it.

Refused (exit 2, one line): a missing shard (named, e.g. 2/4), a shard given
twice, profiles of different scenarios or plans, shards mixed with whole runs.

Options:
  -o, --output OUT   where to write the merged profile (required)
  --combine          merge profiles of different scenarios or kinds as given;
                     repeated case ids get @<node> (missing shards are still refused)
  --allow-missing    merge although shards are missing, and record which
  --json             print the merged profile instead of the summary
  -h, --help         show this help
`;

const FLAGS = {
  output: { type: "string", short: "o" },
  combine: { type: "boolean" },
  "allow-missing": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function mergeCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new InputError("Missing PROFILE: merge takes the profiles of a sharded or herd run");
  }
  const output = values.output;
  if (output === undefined || output.trim() === "") {
    throw new InputError("Missing -o OUT: the file to write the merged profile to");
  }
  const paths = await expand(positionals);
  const target = resolve(output);
  const clash = paths.find((path) => resolve(path) === target);
  if (clash !== undefined) {
    throw new InputError(`Refusing to write the merged profile over its input "${clash}"`);
  }
  const inputs: MergeInput[] = [];
  for (const path of paths) inputs.push({ profile: await readProfile(path), source: path });
  const { profile, warnings } = mergeProfiles(inputs, {
    combine: values.combine ?? false,
    allowMissing: values["allow-missing"] ?? false,
    command: ["merge", ...args],
  });
  try {
    await writeFileAtomic(target, `${JSON.stringify(profile, null, 2)}\n`);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    throw new InputError(`Cannot write "${output}": ${(error as Error).message}`, { cause: error });
  }
  for (const warning of warnings) console.error(`warning: ${warning}`);
  if (values.json) {
    console.log(JSON.stringify(profile, null, 2));
    console.error(`merged: ${output}`);
  } else {
    console.log(renderMergeSummary(profile).trimEnd());
    console.log(`merged: ${output}`);
  }
  return 0;
}

/** Files as given; each folder as its `*.json` files, sorted. */
async function expand(args: readonly string[]): Promise<string[]> {
  const paths: string[] = [];
  for (const arg of args) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(arg);
    } catch (error) {
      throw new InputError(`Cannot read profile "${arg}": ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!info.isDirectory) {
      paths.push(arg);
      continue;
    }
    const found: string[] = [];
    for await (const entry of Deno.readDir(arg)) {
      if (entry.isFile && entry.name.endsWith(".json")) found.push(join(arg, entry.name));
    }
    if (found.length === 0) throw new InputError(`No profiles (*.json) in the folder "${arg}"`);
    paths.push(...found.sort());
  }
  return paths;
}
