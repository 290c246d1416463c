/**
 * `nvidia-smi` in query mode, parsed: `--query-gpu=FIELDS` and
 * `--query-compute-apps=pid,used_memory` with `--format=csv,noheader[,nounits]`.
 * No package for this is reachable from here, so this is ours: values are
 * separated by `", "`, unavailable ones print as `[N/A]`, `[Not Supported]`,
 * `[Insufficient Permissions]` (null here), and without `nounits` numbers
 * carry units (`81559 MiB`, `69.12 W`) which are converted (memory to bytes).
 *
 * The GPU inventory of a profile comes from NVML where it loads, and from
 * here where it does not; `bench/cli/gpu_check_command.ts` saves real outputs in the
 * {@link parseRecording} format so the tests run on them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseComputeApps, parseQueryGpu } from "./nvidia_smi.ts";
 *
 * const [gpu] = parseQueryGpu(
 *   "0, NVIDIA H100 80GB HBM3, 81559, [N/A]\n",
 *   ["index", "name", "memory.total", "pcie.link.gen.max"],
 * );
 * assert.equal(gpu!.name, "NVIDIA H100 80GB HBM3");
 * assert.equal(gpu!.memoryTotalBytes, 81559 * 2 ** 20);
 * assert.equal(gpu!.pcieGenerationMax, null);
 * assert.deepEqual(parseComputeApps("4242, 1024 MiB\n"), [{ pid: 4242, usedBytes: 2 ** 30 }]);
 * ```
 *
 * @module
 */

/** The fields the inventory asks for, in this order. */
export const GPU_QUERY_FIELDS: readonly string[] = [
  "index",
  "name",
  "uuid",
  "pci.bus_id",
  "driver_version",
  "memory.total",
  "memory.used",
  "memory.free",
  "pcie.link.gen.current",
  "pcie.link.gen.max",
  "pcie.link.width.current",
  "pcie.link.width.max",
  "compute_cap",
  "persistence_mode",
];

/** The fields of the compute-apps query. */
export const COMPUTE_APPS_FIELDS: readonly string[] = ["pid", "used_memory"];

/** A line nvidia-smi printed that does not fit the query. */
export class SmiParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SmiParseError";
  }
}

/** One CSV row: each field's text, or null where nvidia-smi had no value (`[N/A]`, …). */
export type SmiRow = Readonly<Record<string, string | null>>;

/** A GPU as `--query-gpu` describes it; a field not asked for or not available is null. */
export interface SmiGpu {
  readonly index: number | null;
  readonly name: string | null;
  readonly uuid: string | null;
  readonly pciBusId: string | null;
  readonly driverVersion: string | null;
  readonly memoryTotalBytes: number | null;
  readonly memoryUsedBytes: number | null;
  readonly memoryFreeBytes: number | null;
  readonly pcieGeneration: number | null;
  readonly pcieGenerationMax: number | null;
  readonly pcieWidth: number | null;
  readonly pcieWidthMax: number | null;
  readonly computeCapability: string | null;
  /** Every field as printed (null where unavailable). */
  readonly fields: SmiRow;
}

/** A compute process and the GPU memory it holds (null where not reported). */
export interface SmiProcess {
  readonly pid: number;
  readonly usedBytes: number | null;
}

/** Whether `value` is one of nvidia-smi's placeholders for "no value". */
export function isUnavailable(value: string): boolean {
  return /^\[.*\]$/.test(value) || value === "N/A" || value === "";
}

/**
 * Splits `--format=csv,noheader` output into rows of `fields`. A name with a
 * comma in it (nvidia-smi does not quote) takes the extra pieces.
 */
export function parseSmiCsv(text: string, fields: readonly string[]): SmiRow[] {
  const rows: SmiRow[] = [];
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || /^No running (compute )?processes found/i.test(line)) continue;
    let parts = line.split(", ").map((p) => p.trim());
    if (parts.length > fields.length && fields.includes("name")) {
      const at = fields.indexOf("name");
      const extra = parts.length - fields.length;
      parts = [
        ...parts.slice(0, at),
        parts.slice(at, at + extra + 1).join(", "),
        ...parts.slice(at + extra + 1),
      ];
    }
    if (parts.length !== fields.length) {
      throw new SmiParseError(
        `nvidia-smi line ${n + 1} has ${parts.length} values for ${fields.length} fields (${
          fields.join(",")
        }): "${line}"`,
      );
    }
    const row: Record<string, string | null> = {};
    fields.forEach((field, i) => row[field] = isUnavailable(parts[i]!) ? null : parts[i]!);
    rows.push(row);
  }
  return rows;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
};

/** A number with an optional unit (`69.12 W`, `35 %`, `5`); null where unavailable. */
export function smiNumber(value: string | null): number | null {
  if (value === null) return null;
  const match = /^(-?\d+(?:\.\d+)?)(?:\s*([A-Za-z%]+))?$/.exec(value);
  if (!match) throw new SmiParseError(`nvidia-smi value "${value}" is not a number`);
  return Number(match[1]);
}

/** A memory amount in bytes: unitless values are MiB, as `nounits` prints them. */
export function smiBytes(value: string | null): number | null {
  if (value === null) return null;
  const match = /^(\d+(?:\.\d+)?)(?:\s*([A-Za-z]+))?$/.exec(value);
  if (!match) throw new SmiParseError(`nvidia-smi memory "${value}" is not an amount`);
  const unit = match[2] ?? "MiB";
  const factor = BYTE_UNITS[unit];
  if (factor === undefined) throw new SmiParseError(`nvidia-smi memory "${value}": unknown unit`);
  return Math.round(Number(match[1]) * factor);
}

/** `--query-gpu=FIELDS --format=csv,noheader[,nounits]` output as GPUs. */
export function parseQueryGpu(
  text: string,
  fields: readonly string[] = GPU_QUERY_FIELDS,
): SmiGpu[] {
  return parseSmiCsv(text, fields).map((row) => {
    const text = (field: string) => row[field] ?? null;
    const integer = (field: string) => {
      const value = smiNumber(text(field));
      return value === null ? null : Math.round(value);
    };
    return {
      index: integer("index"),
      name: text("name"),
      uuid: text("uuid"),
      pciBusId: text("pci.bus_id"),
      driverVersion: text("driver_version"),
      memoryTotalBytes: smiBytes(text("memory.total")),
      memoryUsedBytes: smiBytes(text("memory.used")),
      memoryFreeBytes: smiBytes(text("memory.free")),
      pcieGeneration: integer("pcie.link.gen.current"),
      pcieGenerationMax: integer("pcie.link.gen.max"),
      pcieWidth: integer("pcie.link.width.current"),
      pcieWidthMax: integer("pcie.link.width.max"),
      computeCapability: text("compute_cap"),
      fields: row,
    };
  });
}

/** `--query-compute-apps=pid,used_memory --format=csv,noheader[,nounits]` output as processes. */
export function parseComputeApps(
  text: string,
  fields: readonly string[] = COMPUTE_APPS_FIELDS,
): SmiProcess[] {
  return parseSmiCsv(text, fields).map((row) => {
    const pid = smiNumber(row.pid ?? null);
    if (pid === null) throw new SmiParseError(`nvidia-smi compute app without a pid`);
    return { pid, usedBytes: smiBytes(row.used_memory ?? null) };
  });
}

/** The `--query-…=FIELDS` list of an nvidia-smi command line. */
export function queryFields(
  command: string,
): { kind: "gpu" | "compute-apps"; fields: string[] } | undefined {
  const match = /--query-(gpu|compute-apps)=(\S+)/.exec(command);
  if (!match) return undefined;
  return { kind: match[1] as "gpu" | "compute-apps", fields: match[2]!.split(",") };
}

/** One command and what it printed, in a recording. */
export interface RecordedSection {
  readonly command: string;
  readonly output: string;
}

/**
 * Splits a recording: `#` comment lines first, then sections, each a line
 * `### <command line>` followed by what the command printed.
 */
export function parseRecording(text: string): RecordedSection[] {
  const sections: RecordedSection[] = [];
  let current: { command: string; output: string } | undefined;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("### ")) {
      if (current) sections.push(current);
      current = { command: line.slice(4).trim(), output: "" };
    } else if (current) {
      current.output += `${line}\n`;
    }
  }
  if (current) sections.push(current);
  return sections;
}

/** Formats one section of a recording. */
export function formatSection(command: string, output: string): string {
  return `### ${command}\n${output.endsWith("\n") || output === "" ? output : `${output}\n`}`;
}

/** The arguments of the inventory query. */
export function gpuQueryArgs(
  fields: readonly string[] = GPU_QUERY_FIELDS,
  units = false,
): string[] {
  return [`--query-gpu=${fields.join(",")}`, `--format=csv,noheader${units ? "" : ",nounits"}`];
}

/** Runs `nvidia-smi args…`; its output, or why there is none (never throws). */
export async function runNvidiaSmi(
  args: readonly string[],
): Promise<{ ok: true; stdout: string } | { ok: false; reason: string }> {
  try {
    const { success, code, stdout, stderr } = await new Deno.Command("nvidia-smi", {
      args: [...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    if (!success) {
      const detail = (new TextDecoder().decode(stderr) || out).trim().split("\n")[0];
      return { ok: false, reason: `nvidia-smi exited with ${code}${detail ? `: ${detail}` : ""}` };
    }
    return { ok: true, stdout: out };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { ok: false, reason: "no nvidia-smi on PATH" };
    }
    return { ok: false, reason: `cannot run nvidia-smi: ${(error as Error).message}` };
  }
}

/** The GPUs nvidia-smi lists, or why it cannot. */
export async function queryGpus(): Promise<{ gpus: SmiGpu[] } | { reason: string }> {
  const result = await runNvidiaSmi(gpuQueryArgs());
  if (!result.ok) return { reason: result.reason };
  try {
    return { gpus: parseQueryGpu(result.stdout) };
  } catch (error) {
    return { reason: (error as Error).message };
  }
}
