import assert from "node:assert/strict";
import { parseBy, parseFormat, parseFraction } from "./compare_flags.ts";

Deno.test("thresholds and alphas as percentages or fractions", () => {
  assert.equal(parseFraction("--threshold", undefined), undefined);
  assert.equal(parseFraction("--threshold", "2.5%"), 0.025);
  assert.equal(parseFraction("--threshold", ".1"), 0.1);
  assert.equal(parseFraction("--threshold", "0"), 0);
  assert.equal(parseFraction("--threshold", "150%", { max: 10 }), 1.5);
  assert.throws(() => parseFraction("--alpha", "0", { exclusiveMin: true }), /Invalid --alpha "0"/);
  assert.throws(() => parseFraction("--alpha", "1"), /Invalid --alpha "1"/);
  assert.throws(() => parseFraction("--threshold", "-5%"), /Invalid --threshold "-5%"/);
  assert.throws(() => parseFraction("--threshold", "five"), /Invalid --threshold "five"/);
});

Deno.test("--by and --format name their choices and suggest", () => {
  assert.equal(parseBy("efficiency"), "efficiency");
  assert.throws(
    () => parseBy("effciency"),
    /Invalid --by "effciency": expected time, efficiency \(did you mean "efficiency"\?\)/,
  );
  assert.equal(parseFormat("markdown"), "markdown");
  assert.throws(() => parseFormat("md"), /expected table, markdown, json/);
});
