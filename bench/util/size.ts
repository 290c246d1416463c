/**
 * Byte sizes as people write them (`512MiB`, `2GB`, `4096`) and as tables show them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes, parseSize } from "./size.ts";
 *
 * assert.ok(parseSize("512MiB") === 512 * 1024 * 1024);
 * assert.ok(parseSize("1.5 GB") === 1_500_000_000);
 * assert.ok(formatBytes(3 * 1024 ** 3) === "3.00 GiB");
 * ```
 *
 * @module
 */

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1e3,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** Parses a size; returns `undefined` for anything that is not a non-negative size. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats a byte count with binary units: `512.00 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** Formats a size as its shortest exact binary name, for ids and file names: `512MiB`. */
export function sizeLabel(bytes: number): string {
  for (
    const [unit, factor] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], [
      "KiB",
      1024,
    ]] as const
  ) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
