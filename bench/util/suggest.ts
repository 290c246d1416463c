/**
 * "Did you mean …?" for names a user mistyped: the closest known name by
 * edit distance (swapping two neighbours counts as one edit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { didYouMean, suggest } from "./suggest.ts";
 *
 * assert.equal(suggest("mmpa", ["full-read", "mmap"]), "mmap");
 * assert.equal(suggest("F61", ["F16", "F64"]), "F16");
 * assert.equal(suggest("zzzz", ["mmap"]), undefined);
 * assert.equal(didYouMean("mmpa", ["mmap"]), ' (did you mean "mmap"?)');
 * ```
 *
 * @module
 */

/** The largest edit distance that still reads as a typo. @default 2 */
export const SUGGESTION_DISTANCE = 2;

/**
 * The candidate closest to `word` ignoring case, when within
 * {@link SUGGESTION_DISTANCE}. Among equally close ones, one with the same
 * letters wins, so `F61` suggests `F16` rather than `F64`.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const wanted = word.toUpperCase();
  const letters = sortedLetters(wanted);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const known = candidate.toUpperCase();
    if (Math.abs(known.length - wanted.length) > SUGGESTION_DISTANCE) continue;
    const distance = editDistance(wanted, known);
    if (distance > SUGGESTION_DISTANCE || distance >= Math.max(wanted.length, 1)) continue;
    const score = distance * 2 + (sortedLetters(known) === letters ? 0 : 1);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` for the closest candidate, or an empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const suggestion = suggest(word, candidates);
  return suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`;
}

function sortedLetters(text: string): string {
  return [...text].sort().join("");
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    const above = rows[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(
        above[j]! + 1,
        row[j - 1]! + 1,
        above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
