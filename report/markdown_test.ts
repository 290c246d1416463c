import assert from "node:assert/strict";
import { assertSnapshot } from "../bench/util/testing.ts";
import {
  baselineProfile,
  currentProfile,
  hostileProfile,
  partialProfile,
  quickProfile,
  sampledProfile,
  unrelatedProfile,
} from "./_fixtures.ts";
import { measuredProfile } from "../bench/compare/_testing.ts";
import { escapeMarkdown, renderMarkdown } from "./markdown.ts";
import { buildReport } from "./model.ts";
import type { Profile } from "../profiles/schema.ts";

const markdown = (...profiles: Profile[]) =>
  renderMarkdown(buildReport(profiles.map((profile) => ({ profile }))));

Deno.test("the markdown of one profile matches its snapshot", async () => {
  await assertSnapshot(
    markdown(baselineProfile()),
    new URL("./testdata/one.md.snap", import.meta.url),
  );
});

Deno.test("the markdown of two profiles matches its snapshot", async () => {
  await assertSnapshot(
    markdown(baselineProfile(), currentProfile()),
    new URL("./testdata/compare.md.snap", import.meta.url),
  );
});

Deno.test("markdown: a comparison leads with its regressions and lists what could not be compared", () => {
  const text = markdown(baselineProfile(), currentProfile());
  assert.match(text, /^\*\*2 regressions\*\*, 1 improvement, 0 unchanged, 1 inconclusive\.$/m);
  assert.match(text, /^\| full-read · cold \| 1 \| .* \| baseline \|$/m);
  assert.match(text, /^\| {2}\| 2 \| .* \| 1\.300× \| .* \| ▲ slower \|$/m);
  assert.match(text, /^- mmap\(advice=willneed\) · warm \(.*\): not in /m);
});

Deno.test("markdown: unrelated profiles say so and show each profile's table", () => {
  const text = markdown(baselineProfile(), unrelatedProfile());
  assert.match(text, /^> No case could be compared: these profiles measured different things/m);
  assert.equal(text.match(/^\| case \| median \|/gm)?.length, 2);
});

Deno.test("markdown: verification says how the samples were checked", () => {
  const text = markdown(sampledProfile());
  assert.match(text, /^\| full-read · cold \| .* \| ✓ 5 \| cold 0% \|/m);
  assert.match(text, /^\| mmap · cold \| .* \| ✓ 5 sampled \| cold 0% \|/m);
  assert.match(text, /^\| mmap · warm \| .* \| ✓ 5 mixed \| warm 100% \|/m);
});

Deno.test("markdown: a run that did not finish says so above its table", () => {
  const lines = markdown(partialProfile("interrupted", "SIGTERM")).split("\n");
  const partial = lines.indexOf(
    "> **Partial run: interrupted by SIGTERM — 4 of 6 cases measured, with the samples taken before the interruption**",
  );
  assert.ok(partial > 0 && partial < lines.findIndex((l) => l.startsWith("| case |")));
  assert.match(
    markdown(baselineProfile(), partialProfile("running")),
    /^> \*\*Partial run: the profile was written while running .*\*\* \(profile 2\)$/m,
  );
  assert.ok(!markdown(baselineProfile()).includes("Partial run"));
});

Deno.test("markdown: strings from a profile cannot break the table or inject HTML", () => {
  assert.equal(escapeMarkdown("a|b\n<c>*d*"), "a\\|b &lt;c&gt;\\*d\\*");
  const text = markdown(hostileProfile());
  assert.ok(!/<(script|img)/i.test(text));
  // Every table keeps its header's cells on every line; the summary has 8.
  const cells = (line: string) => line.replace(/\\\|/g, "").split("|").length - 2;
  const tables: string[][] = [];
  let previous = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("| ")) {
      if (!previous.startsWith("| ")) tables.push([]);
      tables.at(-1)!.push(line);
    }
    previous = line.startsWith("| ---") ? "| " : line;
  }
  assert.ok(tables.length >= 2, "the projection and the summary");
  for (const table of tables) {
    for (const line of table) assert.equal(cells(line), cells(table[0]!), line);
  }
  assert.equal(cells(tables.at(-1)![0]!), 8, "the summary");
});

Deno.test("markdown: the answer first, and no interval for one sample", () => {
  const text = markdown(quickProfile());
  const summary = text.indexOf("| case |");
  for (const part of ["- Cold: sharded is fastest", "**Advice for host:", "| model | size |"]) {
    const at = text.indexOf(part);
    assert.ok(at > 0 && at < summary, `${part} before the summary`);
  }
  const one = markdown(
    measuredProfile([{ strategy: "full-read", cache: "cold", durations: [531] }]),
  );
  assert.match(one, /\| full-read · cold \| 531\.0 ms \| 1 sample \|/);
});
