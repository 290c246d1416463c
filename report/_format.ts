/**
 * Numbers as the report prints them. Every function is pure and never
 * throws; a missing value prints as an em dash.
 *
 * @module
 */

import { formatDuration, formatIqr, formatOfLimit, formatVerified, spreadNote } from "./table.ts";
import { formatBytes } from "../bench/util/size.ts";
import type { CaseStats } from "../profiles/schema.ts";

/** The mark for a value that is not known. */
export const DASH = "—";

/** A duration in ms, `—` when unknown. */
export function ms(value: number | null): string {
  return value === null ? DASH : formatDuration(value);
}

/**
 * A 95% interval of a median, `412.3 ms – 430.1 ms`; with too few samples for
 * one, `1 sample` or `n too small for a CI`, never a zero-width interval.
 */
export function ci(
  interval: { readonly low: number; readonly high: number },
  samples: number,
): string {
  return spreadNote(samples) ??
    `${formatDuration(interval.low)} – ${formatDuration(interval.high)}`;
}

/** An interquartile range, or `1 sample` where one sample has no spread. */
export function iqr(value: number, samples: number): string {
  return formatIqr(value, samples);
}

/** How a case's samples were checked: `✓ 5` (every byte), `✓ 5 sampled`, `✓ 5 mixed`. */
export function verified(value: CaseStats["verified"]): string {
  return formatVerified(value);
}

/** A throughput in decimal GB/s with a sensible number of digits, `—` when unknown. */
export function gbps(value: number | null): string {
  if (value === null) return DASH;
  if (value >= 100) return value.toFixed(0);
  if (value >= 0.1) return value.toFixed(2);
  if (value === 0) return "0";
  return value.toPrecision(2);
}

/** A fraction as a percentage: `78%`, `0.4%`. */
export function percent(fraction: number | null): string {
  if (fraction === null) return DASH;
  const p = fraction * 100;
  if (p >= 10 || p === 0) return `${p.toFixed(0)}%`;
  return `${p >= 0.1 ? p.toFixed(1) : p.toPrecision(1)}%`;
}

/** A ratio of medians: `1.12×`. */
export function ratio(value: number | null): string {
  return value === null ? DASH : `${value.toFixed(value >= 10 ? 1 : 3)}×`;
}

/** A byte count, `—` when unknown. */
export function bytes(value: number | null): string {
  return value === null ? DASH : formatBytes(value);
}

/** A p-value: `< 0.001` or two significant digits. */
export function pValue(p: number | null): string {
  if (p === null) return DASH;
  return p < 0.001 ? "< 0.001" : p.toPrecision(2);
}

/**
 * An ISO 8601 time as `2026-01-01 00:00:20 UTC`; any other text as it is
 * (a profile's `createdAt` is any string the schema lets through).
 */
export function dateTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}

/** A commit as its first 7 characters, with `+` when the tree was dirty. */
export function commit(sha: string | null, dirty: boolean | null): string {
  if (sha === null) return "no commit";
  return `${sha.slice(0, 7)}${dirty ? "+dirty" : ""}`;
}

/** `1 regression`, `2 regressions`: a count and its noun. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** A case's share of its limit: `78%`, `> limit` above it, `—` without one. */
export function ofLimit(value: { readonly fraction: number } | null | undefined): string {
  return value ? formatOfLimit(value) : DASH;
}
