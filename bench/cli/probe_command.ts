/**
 * `weightbench probe`: measure what this machine can do — the storage
 * holding a folder (O_DIRECT sweep of block sizes and queue depths; the page
 * cache), host memory copies — and cache it, so every later `bench` rates its
 * results against it.
 *
 * @module
 */

import Table from "cli-table3";
import { InputError, InterruptedError } from "../util/errors.ts";
import { writeCachedLimits } from "../probe/limits.ts";
import { probeMachine } from "../probe/probe.ts";
import type { Trial } from "../probe/storage.ts";
import { commaList, parseFlags } from "./args.ts";
import { parseSize, sizeLabel } from "../util/size.ts";
import { ProbeProgress } from "./progress.ts";

const HELP =
  `Usage: deno task probe [--path DIR] [--json] [--block-size LIST] [--depth LIST] [--size SIZE]

Measures what this machine can do, and caches it (profiles/limits/) so that
every bench run rates its throughput against it ("of limit"):
  - the storage holding DIR: sequential O_DIRECT reads swept over block sizes
    (1-64 MiB) and queue depths (1-32), the best reported with its settings;
  - reads from the page cache; large host memory copies.
It writes a probe file into DIR (at most 1 GiB) and removes it.

Options:
  --path DIR         a folder on the storage to measure (default: the current folder)
  --block-size LIST  block sizes to sweep, powers of two, e.g. 1MiB,16MiB
  --depth LIST       queue depths to sweep, e.g. 1,4,16
  --size SIZE        probe file size (default: 1GiB, or a quarter of the free space)
  --json             print the limits as JSON
  -h, --help         show this help
`;

const FLAGS = {
  path: { type: "string" },
  "block-size": { type: "string" },
  depth: { type: "string" },
  size: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Runs the command; returns the exit code. */
export async function probeCommand(args: readonly string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const path = values.path ?? ".";
  await checkWritableFolder(path);
  const blockSizes = parseBlockSizes(values["block-size"]);
  const depths = parseDepths(values.depth);
  const probeFileBytes = values.size === undefined ? undefined : parseProbeSize(values.size);

  const controller = new AbortController();
  const onSignal = () =>
    controller.abort(new InterruptedError("SIGINT", "Interrupted: nothing cached"));
  Deno.addSignalListener("SIGINT", onSignal);
  const progress = new ProbeProgress(!values.json && Deno.stderr.isTerminal());
  let result;
  try {
    result = await probeMachine({
      path,
      ...(blockSizes && { blockSizes }),
      ...(depths && { depths }),
      ...(probeFileBytes !== undefined && { probeFileBytes }),
      signal: controller.signal,
      onStep: (step) => progress.update(step),
    });
  } finally {
    progress.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  const cached = await writeCachedLimits(result.limits);
  if (values.json) {
    console.log(JSON.stringify({ ...result.limits, trials: result.trials }, null, 2));
    console.error(`cached: ${cached}`);
    return 0;
  }
  const { storage, memoryCopyGBps } = result.limits;
  const table = new Table({ head: ["limit", "GB/s", "settings"], style: { head: [], border: [] } });
  table.push(
    [
      "storage, cold (O_DIRECT)",
      storage.cold ? storage.cold.gbps.toFixed(2) : "—",
      storage.cold
        ? `block ${sizeLabel(storage.cold.blockSize)}, depth ${storage.cold.depth}`
        : "the file system refuses O_DIRECT",
    ],
    ["page cache, warm", storage.warm.gbps.toFixed(2), "sequential reads into small buffers"],
    [
      "host memory copy",
      memoryCopyGBps.toFixed(2),
      `split across ${navigator.hardwareConcurrency} cores`,
    ],
    ...result.limits.devices.flatMap((d) => [
      [
        `${d.id} host-to-device`,
        d.pinnedH2DGBps.toFixed(2),
        `pinned; pageable ${d.pageableH2DGBps.toFixed(2)}`,
      ],
      [
        `${d.id} device-to-host`,
        d.pinnedD2HGBps.toFixed(2),
        `pinned; pageable ${d.pageableD2HGBps.toFixed(2)}`,
      ],
    ]),
  );
  console.log(`storage of ${storage.path}`);
  console.log(table.toString());
  if (result.limits.devicesUnavailable) console.log(result.limits.devicesUnavailable);
  if (result.trials.length > 0) console.log(renderSweep(result.trials));
  console.log(`cached: ${cached}`);
  return 0;
}

/** The sweep as a block size × depth grid of GB/s. */
export function renderSweep(trials: readonly Trial[]): string {
  const blocks = [...new Set(trials.map((t) => t.blockSize))].sort((a, b) => a - b);
  const depths = [...new Set(trials.map((t) => t.depth))].sort((a, b) => a - b);
  const table = new Table({
    head: ["O_DIRECT GB/s", ...depths.map((d) => `depth ${d}`)],
    style: { head: [], border: [] },
  });
  for (const block of blocks) {
    table.push([
      sizeLabel(block),
      ...depths.map((depth) => {
        const trial = trials.find((t) => t.blockSize === block && t.depth === depth);
        return trial ? trial.gbps.toFixed(2) : "";
      }),
    ]);
  }
  return table.toString();
}

async function checkWritableFolder(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new InputError(
      `Invalid --path "${path}": ${
        error instanceof Deno.errors.NotFound ? "no such folder" : "not readable"
      }`,
    );
  }
  if (!info.isDirectory) throw new InputError(`Invalid --path "${path}": not a folder`);
  try {
    const probe = await Deno.makeTempFile({ dir: path, prefix: ".weightbench-write-check-" });
    await Deno.remove(probe);
  } catch {
    throw new InputError(`Invalid --path "${path}": not writable (the probe writes a file there)`);
  }
}

function parseBlockSizes(value: string | undefined): number[] | undefined {
  const items = commaList(value);
  if (items === undefined) return undefined;
  if (items.length === 0) {
    throw new InputError(`Invalid --block-size "${value}": expected sizes such as 1MiB,16MiB`);
  }
  return items.map((item) => {
    const size = parseSize(item);
    if (size === undefined || size < 4096 || (size & (size - 1)) !== 0 || size > 1 << 30) {
      throw new InputError(
        `Invalid --block-size "${item}": expected a power of two from 4KiB to 1GiB`,
      );
    }
    return size;
  });
}

function parseDepths(value: string | undefined): number[] | undefined {
  const items = commaList(value);
  if (items === undefined) return undefined;
  if (items.length === 0) {
    throw new InputError(`Invalid --depth "${value}": expected depths such as 1,4,16`);
  }
  return items.map((item) => {
    const depth = /^\d+$/.test(item) ? Number(item) : NaN;
    if (!(depth >= 1 && depth <= 64)) {
      throw new InputError(`Invalid --depth "${item}": expected a whole number from 1 to 64`);
    }
    return depth;
  });
}

function parseProbeSize(value: string): number {
  const size = parseSize(value);
  if (size === undefined || size < 64 << 20) {
    throw new InputError(`Invalid --size "${value}": expected a size of at least 64MiB`);
  }
  return size;
}
