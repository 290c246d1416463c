/**
 * Escaping for text that comes from profiles (untrusted) on its way into
 * HTML: element text and attribute values, JSON inside a
 * `<script type="application/json">`, and script sources inlined into a page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeHtml, jsonForScript } from "./_escape.ts";
 *
 * assert.equal(escapeHtml(`<img src=x onerror="a()">`), "&lt;img src=x onerror=&quot;a()&quot;&gt;");
 * assert.equal(jsonForScript({ name: "</script>" }), '{"name":"\\u003c/script\\u003e"}');
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `text` safe as element content and as a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * `value` as JSON that cannot end its `<script>` element or open a comment:
 * `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026`, and the line
 * separators U+2028 and U+2029 are escaped too. `JSON.parse` of the element's
 * text gives `value` back.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * A script's source made safe to inline in a `<script>` element: any
 * `</script` or `<!--` in it is broken up (inside JavaScript strings and
 * regular expressions `<\/` means the same), and a trailing source-map
 * comment, which would point at a file that is not there, is dropped.
 */
export function inlineScript(source: string): string {
  return source
    .replace(/\n?\/\/# sourceMappingURL=\S*\s*$/, "\n")
    .replace(/<\/(script)/gi, "<\\/$1")
    .replace(/<!--/g, "<\\!--");
}

/** The CSP source expression that allows exactly this inline script: `'sha256-…'`. */
export function scriptHash(source: string): string {
  return `'sha256-${createHash("sha256").update(source, "utf8").digest("base64")}'`;
}
