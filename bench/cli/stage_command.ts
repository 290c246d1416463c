/**
 * `weightbench stage`: look after the staging store the `prestaged` strategy
 * copies into — what it holds, a check of every copy (`--verify`), and a
 * clean-up of what no live run uses (`--gc`).
 *
 * @module
 */

import { removeAbandonedTemps } from "../../fixtures/generate.ts";
import { DEFAULT_FIXTURE_CACHE } from "../run/options.ts";
import { StagingStore } from "../stage/store.ts";
import { DEFAULT_STAGING_DIR } from "../strategies/prestaged.ts";
import { optionalEnv } from "../util/env.ts";
import { InputError, InterruptedError } from "../util/errors.ts";
import { formatBytes } from "../util/size.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task stage [--dir DIR] [--verify] [--gc]

The staging store of the prestaged strategy: content-addressed copies of
weight files, shared by every run on this machine. With no option, says what
it holds.

Options:
  --dir DIR   the store (default: WEIGHTBENCH_STAGING, else fixtures/.cache/staging)
  --verify    re-hash every copy against its digest; a copy that fails is evicted
              (the next run stages it anew); exit 1 if any did
  --gc        remove what no live run uses: partial copies, stale locks, the pins of
              processes that are gone, and abandoned fixture folders
  -h, --help  show this help
`;

const FLAGS = {
  dir: { type: "string" },
  verify: { type: "boolean" },
  gc: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function stageCommand(args: readonly string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const root = values.dir ?? optionalEnv("WEIGHTBENCH_STAGING") ?? DEFAULT_STAGING_DIR;
  if (values.dir !== undefined && values.dir.trim() === "") {
    throw new InputError(`Invalid --dir "": expected the staging folder`);
  }
  const info = await Deno.stat(root).catch(() => undefined);
  if (info !== undefined && !info.isDirectory) {
    throw new InputError(`Invalid --dir "${root}": not a folder`);
  }
  const store = new StagingStore({ root });
  const controller = new AbortController();
  const onInt = () => controller.abort(new InterruptedError("SIGINT"));
  const onTerm = () => controller.abort(new InterruptedError("SIGTERM"));
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  try {
    let code = 0;
    if (values.gc) {
      const gc = await store.collectGarbage();
      const fixtures = await removeAbandonedTemps(
        optionalEnv("WEIGHTBENCH_CACHE") ?? DEFAULT_FIXTURE_CACHE,
      );
      console.log(
        `gc ${root}: removed ${gc.partialCopies} partial cop${
          gc.partialCopies === 1 ? "y" : "ies"
        } (${formatBytes(gc.partialBytes)}), ${gc.staleLocks} stale lock${
          gc.staleLocks === 1 ? "" : "s"
        }, ${gc.tempEntries} temporary entr${
          gc.tempEntries === 1 ? "y" : "ies"
        }, ${fixtures.length} abandoned fixture folder${fixtures.length === 1 ? "" : "s"}`,
      );
    }
    if (values.verify) {
      const report = await store.verifyAll(controller.signal);
      console.log(
        `verify ${root}: ${report.good} cop${report.good === 1 ? "y" : "ies"} good (${
          formatBytes(report.bytes)
        } hashed), ${report.evicted.length} evicted, ${report.danglingRefs} dangling and ${report.untrustedRefs} unchecked ref${
          report.untrustedRefs === 1 ? "" : "s"
        } removed`,
      );
      for (const path of report.evicted) {
        console.error(`evicted "${path}": its bytes do not match its digest`);
      }
      if (report.evicted.length > 0) code = 1;
    }
    if (!values.gc && !values.verify) {
      const blobs = await store.blobs();
      const bytes = blobs.reduce((n, b) => n + b.size, 0);
      console.log(
        `${root}: ${blobs.length} staged cop${blobs.length === 1 ? "y" : "ies"}, ${
          formatBytes(bytes)
        } (deno task stage --verify checks them, --gc cleans up)`,
      );
    }
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}
