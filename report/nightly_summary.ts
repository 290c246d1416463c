/**
 * The markdown summary of a nightly run: the verdict, the comparison with
 * the machine's baseline, the level shifts found in the history, and where
 * the files are. A pure function; `nightly` prints it, writes it to
 * `summary.md`, and the workflow appends it to the job summary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderNightlySummary } from "./nightly_summary.ts";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 *
 * const text = renderNightlySummary({
 *   profile: syntheticProfile(),
 *   comparison: null,
 *   baselinePath: "profiles/baselines/test-ext4-0123456789ab.json",
 *   shifts: [],
 *   historyRuns: 1,
 *   files: { profile: "out/p.json" },
 *   exitCode: 0,
 *   warnings: [],
 * });
 * assert.match(text, /No baseline for this machine/);
 * ```
 *
 * @module
 */

import { formatDuration } from "./table.ts";
import type { Profile } from "../profiles/schema.ts";
import type { ProfileComparison } from "../bench/compare/compare_profiles.ts";
import type { LevelShift } from "../bench/compare/history.ts";
import { formatChange, renderComparisonMarkdown } from "./compare_text.ts";
import { fingerprintOf } from "../bench/compare/fingerprint.ts";

/** Most level shifts listed in the summary, newest first; the JSON has them all. @default 10 */
export const MAX_SHIFTS_SHOWN = 10;

/** What the summary reports. */
export interface NightlySummaryInput {
  readonly profile: Profile;
  /** Null when this machine has no baseline yet. */
  readonly comparison: ProfileComparison | null;
  /** Where this machine's baseline is, or would be. */
  readonly baselinePath: string;
  /** Set when this run wrote the baseline (`--update-baseline`). */
  readonly baselineUpdated?: boolean;
  readonly shifts: readonly LevelShift[];
  /** Runs in the history searched, this one included. */
  readonly historyRuns: number;
  /** The files written, by what they are. */
  readonly files: Readonly<Record<string, string>>;
  readonly exitCode: number;
  /** Problems met on the way: errored cases, a report that could not be drawn. */
  readonly warnings: readonly string[];
}

/** The summary as GitHub-flavoured markdown. */
export function renderNightlySummary(input: NightlySummaryInput): string {
  const { profile, comparison } = input;
  const env = profile.environment;
  const commit = env.git.commit
    ? `${env.git.commit.slice(0, 10)}${env.git.dirty ? "+dirty" : ""}`
    : "unknown commit";
  const status = input.exitCode === 0 ? "passed" : "failed";
  const lines = [
    `## weightbench nightly: ${status}`,
    "",
    `${profile.scenario.name} at ${commit} on ${env.host} (machine \`${
      fingerprintOf(profile).slug
    }\`), ${profile.createdAt}`,
    "",
  ];
  for (const warning of input.warnings) lines.push(`> **Warning:** ${warning}`, "");
  if (comparison === null) {
    lines.push(
      `No baseline for this machine (\`${input.baselinePath}\`): nothing to compare with. ` +
        `Run \`deno task nightly --update-baseline\` on this machine, review the profile, ` +
        `and commit the baseline file.`,
      "",
    );
  } else {
    lines.push(renderComparisonMarkdown(comparison).replace(/^### /, "### Against the baseline: "));
  }
  if (input.baselineUpdated) lines.push(`Baseline updated: \`${input.baselinePath}\``, "");

  lines.push(
    `### Level shifts in the history (${input.historyRuns} run${
      input.historyRuns === 1 ? "" : "s"
    })`,
    "",
  );
  if (input.shifts.length === 0) {
    lines.push(
      input.historyRuns < 6
        ? "Too few runs to search yet (a level needs at least 3 runs on each side)."
        : "None: every case held its level.",
      "",
    );
  } else {
    const shown = [...input.shifts].sort((a, b) => b.run - a.run).slice(0, MAX_SHIFTS_SHOWN);
    lines.push(
      "| case | first run at the new level | change | before → after | its commit | previous run's commit |",
      "| --- | ---: | ---: | ---: | --- | --- |",
    );
    for (const s of shown) {
      lines.push(
        `| \`${s.caseId}\` | ${s.run + 1} of ${s.runs} (${s.createdAt.slice(0, 10)}) | ${
          formatChange(s.ratio)
        } | ${formatDuration(s.beforeMs)} → ${formatDuration(s.afterMs)} | ${
          s.commit ? `\`${s.commit.slice(0, 10)}\`` : "unknown"
        } | ${s.previousCommit ? `\`${s.previousCommit.slice(0, 10)}\`` : "unknown"} |`,
      );
    }
    if (input.shifts.length > shown.length) {
      lines.push("", `${input.shifts.length - shown.length} older shifts are in nightly.json.`);
    }
    lines.push(
      "",
      "A shift's commit is that of the first run at the new level; the change came in it or " +
        "after the commit of the run before.",
      "",
    );
  }
  lines.push("### Files", "");
  for (const [what, path] of Object.entries(input.files)) lines.push(`- ${what}: \`${path}\``);
  return `${lines.join("\n")}\n`;
}
