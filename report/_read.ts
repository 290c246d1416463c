/**
 * Defensive reads of untrusted JSON: a profile that passed `readProfile`'s
 * checks may still carry a wrong type deeper down, so every field the report
 * shows goes through one of these, which never throw.
 *
 * @module
 */

/** `value` when it is a finite number, else null. */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** `value` when it is a string, else `fallback`. */
export function str(value: unknown, fallback: string): string;
export function str(value: unknown, fallback: null): string | null;
export function str(value: unknown, fallback: string | null): string | null {
  return typeof value === "string" ? value : fallback;
}

/** `value` when it is a plain object, else an empty one. */
export function obj(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

/** `value` when it is an array, else an empty one. */
export function arr(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** `value` when it is a boolean, else null. */
export function bool(value: unknown): boolean | null {
  return typeof value === "boolean" ? value : null;
}

/** A short text for any JSON value, for environment rows. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}
