/**
 * A zod validation issue in words a user reads: `needs at least 1 item`
 * rather than `Too small: expected array to have >=1 items`, `unknown key
 * "bogus"` rather than `Unrecognized key: "bogus"`. Scenario files, flags and
 * profiles all report their problems through it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { issueText } from "./issue_text.ts";
 *
 * const text = (schema: z.ZodType, value: unknown) => issueText(schema.safeParse(value).error!.issues[0]!);
 * assert.equal(text(z.array(z.string()).min(1), []), "needs at least 1 item");
 * assert.equal(text(z.strictObject({ a: z.number() }), { a: 1, b: 2 }), 'unknown key "b"');
 * assert.equal(text(z.number().int().min(1), 0), "must be at least 1");
 * assert.equal(text(z.number(), "3"), "expected a number, not a string");
 * assert.equal(text(z.strictObject({ a: z.number() }), {}), "missing (expected a number)");
 * ```
 *
 * @module
 */

import type { z } from "zod";

const ARTICLE: Readonly<Record<string, string>> = {
  array: "an array",
  object: "an object",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  int: "a whole number",
};

/** The issue's message, as a sentence fragment without the path. */
export function issueText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "too_small": {
      const min = Number(issue.minimum);
      if (issue.origin === "array") return `needs at least ${min} item${min === 1 ? "" : "s"}`;
      if (issue.origin === "string") {
        return min === 1 ? "must not be empty" : `needs ${min}+ characters`;
      }
      return issue.inclusive === false ? `must be more than ${min}` : `must be at least ${min}`;
    }
    case "too_big": {
      const max = Number(issue.maximum);
      if (issue.origin === "array") return `takes at most ${max} item${max === 1 ? "" : "s"}`;
      if (issue.origin === "string") return `takes at most ${max} characters`;
      return issue.inclusive === false ? `must be less than ${max}` : `must be at most ${max}`;
    }
    case "unrecognized_keys":
      return `unknown key${issue.keys.length === 1 ? "" : "s"} ${
        issue.keys.map((k) => `"${k}"`).join(", ")
      }`;
    case "invalid_type": {
      const expected = ARTICLE[issue.expected] ?? issue.expected;
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === undefined || received === "undefined") {
        return `missing (expected ${expected})`;
      }
      return `expected ${expected}, not ${ARTICLE[received] ?? received}`;
    }
    case "invalid_value":
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}
