import assert from "node:assert/strict";
import { syntheticProfile } from "../../profiles/_synthetic.ts";
import { compareProfiles } from "./compare_profiles.ts";
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

Deno.test("cases only in one profile are listed, not failed", () => {
  const base = syntheticProfile();
  const fewer = { ...base, cases: base.cases.slice(1) };
  const result = compareProfiles(base, fewer);
  assert.equal(result.cases[0]!.status, "missing");
  assert.equal(compareProfiles(fewer, base).cases.at(-1)!.status, "new");
  assert.equal(result.exitCode, 0);
});

Deno.test("profiles from different machines warn and offer efficiency", () => {
  const other = variantProfile({
    environment: { cpu: { model: "Other CPU", cores: 64 }, host: "gpu-box" },
  });
  const result = compareProfiles(syntheticProfile(), other);
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
  const byTime = compareProfiles(baseline, current);
  assert.ok(byTime.counts.improvement >= 3, JSON.stringify(byTime.counts));
  const byEfficiency = compareProfiles(baseline, current, { by: "efficiency" });
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
