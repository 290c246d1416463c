/**
 * The one line every report shows for a run that did not finish: a profile
 * left `running` (the run was killed while it wrote its journal) or
 * `interrupted` by a signal. Both hold every sample taken; the line says how
 * much of the plan that covers. The text is plain: each renderer escapes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "./_synthetic.ts";
 * import { partialRunText } from "./partial.ts";
 *
 * const profile = syntheticProfile();
 * assert.equal(partialRunText(profile), null);
 * assert.equal(
 *   partialRunText({ ...profile, run: { ...profile.run, state: "interrupted", interruptedBy: "SIGINT" } }),
 *   "Partial run: interrupted by SIGINT — 4 of 6 cases measured, with the samples taken before the interruption",
 * );
 * ```
 *
 * @module
 */

import type { Profile } from "./schema.ts";

/** What the line is made of: the run's state and its cases. */
export type PartialRunSource = Pick<Profile, "run" | "cases">;

/** `Partial run: …` for a run that is not complete; null for a complete one. */
export function partialRunText({ run, cases }: PartialRunSource): string | null {
  if (run.state === "complete") return null;
  const measured = `${cases.filter((c) => c.state === "completed").length} of ${cases.length} case${
    cases.length === 1 ? "" : "s"
  } measured`;
  if (run.state === "interrupted") {
    const by = run.interruptedBy === undefined ? "" : ` by ${run.interruptedBy}`;
    return `Partial run: interrupted${by} — ${measured}, with the samples taken before the interruption`;
  }
  return `Partial run: the profile was written while running and the run did not finish (killed?) — ${measured}, with the samples taken before it stopped`;
}
