/**
 * Reads an optional environment variable without demanding `--allow-env`:
 * a variable the process may not read counts as unset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { optionalEnv } from "./env.ts";
 *
 * assert.ok(optionalEnv("WEIGHTBENCH_SURELY_UNSET_VARIABLE") === undefined);
 * ```
 *
 * @module
 */

/** The variable's value, or `undefined` when it is unset or not readable. */
export function optionalEnv(name: string): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "env", variable: name });
  return state === "granted" ? Deno.env.get(name) : undefined;
}
