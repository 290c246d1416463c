/**
 * The answer at the top of an HTML report: the verdict (fastest strategy
 * cold and warm, and how sure), one line of advice per target, and the
 * projection of common model sizes, in the words of `answer.ts`. Every string
 * is escaped; a profile without a completed case says so instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticProfile } from "../profiles/_synthetic.ts";
 * import { buildReport } from "./model.ts";
 * import { answerHtml } from "./answer_html.ts";
 *
 * const html = answerHtml(buildReport([{ profile: syntheticProfile() }]).profiles[0]!, 0);
 * assert.match(html, /<section class="answer" id="profile-0-answer"/);
 * assert.match(html, /data-answer="verdict"/);
 * assert.match(html, /data-answer="advice"/);
 * assert.match(html, /data-answer="projection"/);
 * ```
 *
 * @module
 */

import { escapeHtml as h } from "./_escape.ts";
import { adviceLines, hasAnswer, projectionTable, verdictLines } from "./answer.ts";
import type { ProfileView } from "./model.ts";

/** The answer section of profile `index` of a report. */
export function answerHtml(p: ProfileView, index: number): string {
  const id = `profile-${index}-answer`;
  if (!hasAnswer(p.answer)) {
    return `<section class="answer" id="${id}"><p class="notice">No case of this profile completed: nothing to rank or project.</p></section>`;
  }
  const verdict = verdictLines(p.answer.verdict).map((v) => {
    const colon = v.text.indexOf(": ");
    return `<li data-cache="${h(v.cache)}"><strong>${h(v.text.slice(0, colon + 1))}</strong> ${
      h(v.text.slice(colon + 2))
    }</li>`;
  });
  const advice = adviceLines(p.answer.verdict).map((a) => {
    const colon = a.indexOf(": ");
    return `<p class="advice" data-answer="advice"><strong>${h(a.slice(0, colon + 1))}</strong> ${
      h(a.slice(colon + 2))
    }</p>`;
  });
  const projections = p.answer.projections.map((projection) => {
    const table = projectionTable(projection);
    // The fastest of each state is always shown; the limit and full-read columns give way on a
    // narrow screen.
    const more = table.columns.map((c, i) =>
      table.columns.findIndex((d) => d.cache === c.cache) !== i
    );
    const rows = table.rows.map((row, i) =>
      `<tr${table.user[i] ? ' class="user"' : ""}>${
        row.map((cell, j) =>
          j === 0
            ? `<th>${h(cell)}</th>`
            : `<td class="num${more[j - 2] ? " more" : ""}">${h(cell)}</td>`
        ).join("")
      }</tr>`
    );
    return `<div class="projection" data-answer="projection" data-target="${h(projection.target)}">
<p class="note">${h(table.caption)}</p>
<div class="table-wrap"><table class="projection">
<thead><tr><th>model</th><th class="num">size</th>${
      table.columns.map((c, i) =>
        `<th class="num${more[i] ? " more" : ""}">${h(c.cache)}<br>${h(c.head)}</th>`
      ).join("")
    }</tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></div>${table.notes.map((n) => `<p class="note">${h(n)}</p>`).join("")}
</div>`;
  });
  return `<section class="answer" id="${id}">
<div class="verdict" data-answer="verdict"><h2 class="answer-h">Verdict</h2>
<ul class="plain">
${verdict.join("\n")}
</ul></div>
${advice.join("\n")}
<h2 class="answer-h">Projected load times</h2>
${projections.join("\n")}
</section>`;
}
