/**
 * Wraps text to a terminal's width at spaces, with a hanging indent; a word
 * longer than a line is cut where it must be, so no line is ever wider.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapText } from "./_wrap.ts";
 *
 * assert.deepEqual(wrapText("one two three four", 9, 2), ["one two", "  three", "  four"]);
 * assert.deepEqual(wrapText("abcdefghij", 4), ["abcd", "efgh", "ij"]);
 * ```
 *
 * @module
 */

/** `text` in lines of at most `width` characters; lines after the first start with `indent` spaces. */
export function wrapText(text: string, width: number, indent = 0): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/ +/)) {
      if (word === "") continue;
      const lead = lines.length > 0 && line === "" ? pad : "";
      const candidate = line === "" ? `${lead}${word}` : `${line} ${word}`;
      if (candidate.length <= width) {
        line = candidate;
        continue;
      }
      if (line !== "" && line.trim() !== "") {
        lines.push(line);
        line = "";
      }
      let rest = word;
      let start = lines.length > 0 ? pad : "";
      while (start.length + rest.length > width) {
        const room = Math.max(1, width - start.length);
        lines.push(start + rest.slice(0, room));
        rest = rest.slice(room);
        start = pad;
      }
      line = start + rest;
    }
    lines.push(line);
  }
  return lines;
}
