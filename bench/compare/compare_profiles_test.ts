import assert from "node:assert/strict";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { InputError } from "../util/errors.ts";
import { type CaseComparison, compareProfiles, movedTogether } from "./compare_profiles.ts";
import { variantProfile } from "./_testing.ts";

const slowFullReadCold = (factor: number) =>
  variantProfile({
    durations: (c, ms) => c.id.includes("/full-read/") && c.cache === "cold" ? ms * factor : ms,
  });

Deno.test("a profile against itself: nothing regresses, exit 0", () => {
  const profile = syntheticProfile();
  const result = compareProfiles(profile, profile);
  assert.equal(result.exitCode, 0);
  assert.equal(result.sameMachine, true);
  assert.deepEqual(result.warnings, []);
  assert.equal(result.cases.length, profile.cases.length);
  assert.equal(result.counts.regression, 0);
  // The synthetic profile's skipped case and errored case keep their states, and an error in
  // both profiles is not a new failure.
  const errored = result.cases.find((c) => c.status === "errored")!;
  assert.match(errored.reason, /in both profiles: Tensor "w" differs on host/);
  assert.equal(errored.fails, false);
  assert.equal(result.cases.filter((c) => c.status === "skipped").length, 1);
});

Deno.test("a planted 20% slowdown of one case is a regression and exits 1", () => {
  const result = compareProfiles(syntheticProfile(), slowFullReadCold(1.2));
  assert.equal(result.exitCode, 1);
  const regressed = result.cases.filter((c) => c.status === "regression");
  assert.deepEqual(regressed.map((c) => c.id), [
    "llama-3-8b-512MiB-F16-2shards/full-read/host/cold",
  ]);
  const row = regressed[0]!;
  assert.equal(row.fails, true);
  assert.ok(Math.abs(row.result!.ratio - 1.2) < 0.02, String(row.result!.ratio));
  assert.equal(row.baseline!.samples, 5);
  // The same change the other way is an improvement, and exits 0.
  const back = compareProfiles(slowFullReadCold(1.2), syntheticProfile());
  assert.equal(back.exitCode, 0);
  assert.equal(back.counts.improvement, 1);
});

Deno.test("a case that errors now but completed in the baseline fails the comparison", () => {
  const base = syntheticProfile();
  const broken = {
    ...base,
    cases: base.cases.map((c, i) =>
      i === 0 ? { ...c, state: "errored" as const, error: "verification failed", stats: null } : c
    ),
  };
  const result = compareProfiles(base, broken);
  assert.equal(result.exitCode, 1);
  assert.equal(result.cases[0]!.status, "errored");
  assert.equal(result.cases[0]!.fails, true);
});

Deno.test("a case the baseline measured and the current run dropped fails, unless allowed", () => {
  const base = syntheticProfile();
  const fewer = { ...base, cases: base.cases.slice(1) };
  const result = compareProfiles(base, fewer);
  assert.equal(result.cases[0]!.status, "missing");
  assert.equal(result.cases[0]!.fails, true);
  assert.match(result.cases[0]!.reason, /the current run dropped it \(--allow-missing to accept\)/);
  assert.equal(result.exitCode, 1);
  const allowed = compareProfiles(base, fewer, { allowMissing: true });
  assert.equal(allowed.cases[0]!.fails, false);
  assert.equal(allowed.exitCode, 0);
  // A case new in the current profile is listed and fails nothing.
  const added = compareProfiles(fewer, base);
  assert.equal(added.cases.at(-1)!.status, "new");
  assert.equal(added.exitCode, 0);
});

Deno.test("a case the baseline measured and the current run skipped fails, unless allowed", () => {
  const base = syntheticProfile();
  const skipped = {
    ...base,
    cases: base.cases.map((c, i) =>
      i === 0 ? { ...c, state: "skipped" as const, reason: "no O_DIRECT here", stats: null } : c
    ),
  };
  const result = compareProfiles(base, skipped);
  assert.equal(result.cases[0]!.status, "skipped");
  assert.equal(result.cases[0]!.reason, "measured in the baseline, skipped now: no O_DIRECT here");
  assert.equal(result.exitCode, 1);
  assert.equal(compareProfiles(base, skipped, { allowMissing: true }).exitCode, 0);
  // Skipped in both: nothing was dropped.
  assert.equal(compareProfiles(skipped, skipped).exitCode, 0);
});

Deno.test("two profiles with no case in common have nothing to compare: exit 2", () => {
  const base = syntheticProfile();
  const other = {
    ...base,
    scenario: { ...base.scenario, name: "other" },
    cases: base.cases.map((c) => ({ ...c, id: `other/${c.id}` })),
  };
  assert.throws(
    () => compareProfiles(base, other, {}, { baseline: "a.json", current: "b.json" }),
    (error: unknown) =>
      error instanceof InputError && error.exitCode === 2 &&
      error.message ===
        'Nothing to compare: "a.json" and "b.json" have no case in common (6 and 6 cases; scenarios "synthetic" and "other")',
  );
});

Deno.test("profiles from different machines are refused, unless asked for across machines", () => {
  const other = variantProfile({
    environment: { cpu: { model: "Other CPU", cores: 64 }, host: "gpu-box" },
  });
  assert.throws(
    () => compareProfiles(syntheticProfile(), other, {}, { baseline: "a.json", current: "b.json" }),
    new InputError(
      'Cannot compare "a.json" and "b.json": they come from different machines (CPU: Test CPU × 2 → Other CPU × 64); pass --cross-machine to compare them anyway, best with --by efficiency',
    ),
  );
  const result = compareProfiles(syntheticProfile(), other, { crossMachine: true });
  assert.equal(result.sameMachine, false);
  assert.match(result.warnings[0]!, /different machines \(CPU: Test CPU × 2 → Other CPU × 64\)/);
  assert.match(result.warnings[0]!, /--by efficiency/);
  assert.deepEqual(result.notes, ["host: bench-host → gpu-box"]);
});

Deno.test("by efficiency, a faster machine that is as efficient is unchanged", () => {
  // The current machine's limit is twice the baseline's, and every load takes half as long:
  // raw times improve by half, the fraction of each machine's limit does not move.
  const baseline = variantProfile({ limitGBps: 2 });
  const current = variantProfile({
    limitGBps: 4,
    durations: (_c, ms) => ms / 2,
    environment: { cpu: { model: "Faster CPU", cores: 64 } },
  });
  const byTime = compareProfiles(baseline, current, { crossMachine: true });
  assert.ok(byTime.counts.improvement >= 3, JSON.stringify(byTime.counts));
  const byEfficiency = compareProfiles(baseline, current, { by: "efficiency", crossMachine: true });
  assert.equal(byEfficiency.counts.improvement, 0);
  assert.equal(byEfficiency.counts.regression, 0);
  const row = byEfficiency.cases[0]!;
  assert.equal(row.by, "efficiency");
  assert.ok(Math.abs(row.result!.ratio - 1) < 1e-9);
  assert.ok(row.baseline!.ofLimit! > 0 && row.baseline!.ofLimit! < 1);
  // A slower load on the same limits is a regression by efficiency too.
  const slower = variantProfile({ limitGBps: 2, durations: (_c, ms) => ms * 1.3 });
  assert.ok(compareProfiles(baseline, slower, { by: "efficiency" }).counts.regression >= 3);
});

Deno.test("by efficiency without limits: a warning, and time instead", () => {
  const result = compareProfiles(syntheticProfile(), variantProfile({ limitGBps: 3 }), {
    by: "efficiency",
  });
  assert.match(result.warnings.join("\n"), /The baseline profile has no machine limits/);
  assert.ok(result.cases.every((c) => c.by === "time"));
});

Deno.test("a dirty tree is a warning", () => {
  const dirty = variantProfile({
    environment: { git: { commit: "abc", dirty: true } },
  });
  assert.match(
    compareProfiles(syntheticProfile(), dirty).warnings.join("\n"),
    /dirty tree/,
  );
});

Deno.test("cases of one id but a different cache state or strategy are never compared", () => {
  const base = syntheticProfile();
  const first = base.cases.findIndex((c) => c.state === "completed" && c.cache === "cold");
  const other = base.cases.findIndex((c) =>
    c.state === "completed" && c.cache === "warm" &&
    c.strategy.name === base.cases[first]!.strategy.name
  );
  // A hand-edited or badly merged profile: the warm case's samples under the cold case's id.
  const swapped = {
    ...base,
    cases: base.cases.map((
      c,
      i,
    ) => (i === first ? { ...base.cases[other]!, id: c.id, index: c.index } : c)),
  };
  const result = compareProfiles(base, swapped);
  const row = result.cases.find((c) => c.id === base.cases[first]!.id)!;
  assert.equal(row.status, "inconclusive");
  assert.equal(row.result, null);
  assert.equal(row.fails, false);
  assert.equal(row.reason, "not comparable: the baseline's case is cold, the current one warm");
  const strategy = {
    ...base,
    cases: base.cases.map((
      c,
      i,
    ) => (i === first ? { ...c, strategy: { name: "mmap", options: {} } } : c)),
  };
  const byStrategy = compareProfiles(base, strategy).cases.find((c) =>
    c.id === base.cases[first]!.id
  )!;
  assert.equal(byStrategy.status, "inconclusive");
  assert.match(
    byStrategy.reason,
    /^not comparable: the baseline's case uses \S+, the current one mmap$/,
  );
});

Deno.test("cases that all moved one way beyond the threshold are flagged as a shift they share", () => {
  const rows = (ratios: number[]) =>
    ratios.map((ratio) => ({ result: { ratio } }) as unknown as CaseComparison);
  // 16 of 18 slower, median +10%: a sign test puts that at p ≈ 0.001.
  const drift = [
    1.08,
    1.09,
    1.11,
    1.23,
    1.1,
    1.17,
    1.06,
    0.99,
    1.03,
    1.13,
    1.09,
    1.08,
    1.12,
    1.22,
    0.999,
    1.04,
    1.14,
    1.14,
  ];
  assert.match(
    movedTogether(rows(drift), 0.05) ?? "",
    /^16 of 18 cases are slower \(median \+10\.0%\)/,
  );
  assert.match(
    movedTogether(rows(drift.map((r) => 1 / r)), 0.05) ?? "",
    /^16 of 18 cases are faster/,
  );
  // Four of four is what chance gives one time in eight: no warning.
  assert.equal(movedTogether(rows([1.2, 1.2, 1.2, 1.2]), 0.05), undefined);
  // All one way, but within the threshold: no warning.
  assert.equal(movedTogether(rows(drift.map((r) => 1 + (r - 1) / 4)), 0.05), undefined);
  // Half each way: no warning, whatever the sizes.
  assert.equal(movedTogether(rows([1.5, 0.6, 1.5, 0.6, 1.5, 0.6, 1.5, 0.6]), 0.05), undefined);
  // One case slower among steady ones is the gate's business, not a shift.
  const one = compareProfiles(syntheticProfile(), slowFullReadCold(1.5));
  assert.ok(
    !one.warnings.some((w) => /cases are (slower|faster)/.test(w)),
    one.warnings.join("\n"),
  );
});

Deno.test("a partial profile is compared, and the comparison says it is partial", () => {
  const base = syntheticProfile();
  const cut = {
    ...base,
    run: { ...base.run, state: "interrupted" as const, interruptedBy: "SIGTERM" as const },
  };
  const result = compareProfiles(base, cut);
  assert.equal(result.exitCode, 0);
  assert.deepEqual(result.warnings, [
    "The current profile is partial: interrupted by SIGTERM — 4 of 6 cases measured, with the samples taken before the interruption",
  ]);
  const killed = compareProfiles(
    { ...base, run: { ...base.run, state: "running" as const } },
    base,
  );
  assert.match(
    killed.warnings[0]!,
    /^The baseline profile is partial: the profile was written while running/,
  );
});
