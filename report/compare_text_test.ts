import assert from "node:assert/strict";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { assertSnapshot } from "../bench/util/testing.ts";
import { compareProfiles } from "../bench/compare/compare_profiles.ts";
import { formatChange, renderComparison } from "./compare_text.ts";
import { variantProfile } from "../bench/compare/_testing.ts";

const comparison = () =>
  compareProfiles(
    syntheticProfile(),
    variantProfile({
      commit: "fedcba9876543210fedcba9876543210fedcba98",
      createdAt: "2026-01-02T00:00:20.000Z",
      durations: (c, ms) => c.id.includes("/full-read/") && c.cache === "cold" ? ms * 1.2 : ms,
    }),
    {},
    { baseline: "profiles/baselines/test.json", current: "profiles/runs/current.json" },
  );

Deno.test("the comparison table matches its snapshot", async () => {
  await assertSnapshot(
    renderComparison(comparison(), "table"),
    new URL("./testdata/comparison.txt", import.meta.url),
  );
});

Deno.test("the comparison markdown matches its snapshot", async () => {
  await assertSnapshot(
    renderComparison(comparison(), "markdown"),
    new URL("./testdata/comparison_md.txt", import.meta.url),
  );
});

Deno.test("the comparison renders as JSON, and in colour only when asked", () => {
  const json = JSON.parse(renderComparison(comparison(), "json"));
  assert.equal(json.exitCode, 1);
  assert.equal(json.cases[0].status, "regression");
  assert.ok(!renderComparison(comparison(), "table").includes("\x1b["));
  assert.ok(renderComparison(comparison(), "table", { color: true }).includes("\x1b[31m"));
});

Deno.test("markdown cells cannot break the table", () => {
  const base = syntheticProfile();
  const piped = {
    ...base,
    cases: base.cases.map((c, i) =>
      i === 0 ? { ...c, state: "errored" as const, error: "a | b\nc", stats: null } : c
    ),
  };
  const text = renderComparison(compareProfiles(base, piped), "markdown");
  assert.ok(text.includes("a \\| b c"), text);
});

Deno.test("formatChange", () => {
  assert.equal(formatChange(1.2), "+20.0%");
  assert.equal(formatChange(0.8), "−20.0%");
  assert.equal(formatChange(1.0004), "±0.0%");
});

Deno.test("by efficiency, the change is of the fraction of the limit: up is better", () => {
  const baseline = variantProfile({ limitGBps: 2 });
  const slower = variantProfile({ limitGBps: 2, durations: (_c, ms) => ms * 1.25 });
  const text = renderComparison(
    compareProfiles(baseline, slower, { by: "efficiency" }),
    "markdown",
  );
  assert.match(
    text,
    /full-read\/host\/cold` \| \d+\.\d% of limit \| \d+\.\d% of limit \| −20\.0% \|/,
  );
  assert.match(text, /By efficiency, a change is of the fraction of each machine's own limit/);
});
