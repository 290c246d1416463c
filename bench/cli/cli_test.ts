/**
 * End-to-end tests of the command line: each test runs `bench/main.ts` as a
 * subprocess, with the permission flags of its `deno.json` task, and checks
 * the exit code, stdout, stderr and what is left on disk.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertInputError,
  cli,
  listTree,
  ROOT,
  spawnCli,
  tempDir,
  TESTDATA,
} from "./_cli_testing.ts";
import { basename, dirname, join } from "node:path";
import { readProfile } from "../../profiles/files.ts";
import { SCHEMA_VERSION } from "../../profiles/schema.ts";
import { strategyNames } from "../strategies/registry.ts";
import { generateFixture } from "../../fixtures/generate.ts";

/** The rows of a cli-table3 table, cells trimmed (wrapped lines are rows with an empty first cell). */
function tableRows(text: string): string[][] {
  return text.split("\n")
    .filter((line) => line.startsWith("│"))
    .map((line) => line.split("│").slice(1, -1).map((cell) => cell.trim()));
}

/**
 * The case labels of a bench table with its target shown: in each label
 * (`full-read · host · cold`), or, when every case shares it, once in the
 * heading above the table (`... · target host`) and left out of the labels.
 */
function labelsWithTarget(stdout: string): string[] {
  const lines = stdout.split("\n");
  const heading = lines.slice(0, lines.findIndex((line) => line.startsWith("┌"))).join("\n");
  const labels = tableRows(stdout).slice(1).map((cells) => cells[0]!).filter((l) => l !== "");
  if (!/\btarget host\b/.test(heading)) return labels;
  return labels.map((label) => {
    const parts = label.split(" · ");
    assert.ok(!parts.includes("host"), `target both in the heading and in "${label}"`);
    return [...parts.slice(0, -1), "host", ...parts.slice(-1)].join(" · ");
  });
}

/** The value after `profile: ` on the line that has it. */
function profilePath(text: string): string {
  const line = text.trimEnd().split("\n").find((l) => l.startsWith("profile: "));
  assert.ok(line, `no "profile: " line in:\n${text}`);
  return line.slice("profile: ".length);
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------
// bench: a real run

const SHARDED = `${TESTDATA}/tiny-sharded`;
const TINY = `${TESTDATA}/tiny.safetensors`;
/** Every strategy, cold and warm: what the default scenario plans. */
const DEFAULT_LABELS = strategyNames().flatMap((
  name,
) => [`${name} · host · cold`, `${name} · host · warm`]);

Deno.test("bench: runs every default case on the sharded testdata and writes a valid profile", async () => {
  await using out = await tempDir();
  const result = await cli([
    "bench",
    "--weights",
    SHARDED,
    "--runs",
    "2",
    "--warmup",
    "0",
    "--out",
    out.path,
  ]);
  assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.ok(!result.stdout.includes("\x1b["), "no colour with NO_COLOR");

  const rows = tableRows(result.stdout);
  assert.deepEqual(rows[0], ["case", "median ± 95% CI", "GB/s", "of limit", "status"]);
  const cases = rows.slice(1).filter((cells) => cells[0] !== "");
  assert.deepEqual(labelsWithTarget(result.stdout), DEFAULT_LABELS);
  for (const cells of cases) {
    // A strategy this machine cannot run (gds without libcufile) says why in its row.
    if (cells[1]!.startsWith("skipped: ")) continue;
    assert.match(cells[4]!, /^✓ 2 · /, `status cell of ${cells[0]}`);
    assert.match(cells[1]!, /^\d+\.\d+ ms \(n too/, "two samples: no interval shown");
  }
  // The answer first, every line within 100 columns.
  const text = result.stdout;
  // Paths are kept whole, so they can be copied.
  for (const line of text.split("\n").filter((l) => !/^(profile|report): /.test(l))) {
    assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
  }
  const table = text.indexOf("┌");
  for (const part of [/^Cold: \S+ is fastest/m, /^Warm: \S+ is fastest/m, /^Advice for host: /m]) {
    const at = text.search(part);
    assert.ok(at >= 0 && at < table, `${part} before the table`);
  }
  assert.ok(text.indexOf("Projection for host") < table, "the projection before the table");

  const lines = result.stdout.trimEnd().split("\n");
  assert.match(lines.at(-2)!, /^profile: /, "the profile is named");
  assert.match(lines.at(-1)!, /^report: /, "then the report");
  const path = profilePath(lines.at(-2)!);
  const report = lines.at(-1)!.slice("report: ".length);
  assert.equal(dirname(path), out.path);
  assert.equal(report, path.replace(/\.json$/, ".html"));
  assert.deepEqual(
    await listTree(out.path),
    [basename(path), basename(report)].sort(),
    "the profile, its report and nothing else",
  );
  const html = await Deno.readTextFile(report);
  assert.match(html, /^<!DOCTYPE html>/i);
  assert.ok(html.includes("tiny-sharded"), "the report is of this run");

  const profile = await readProfile(path);
  assert.equal(profile.schemaVersion, SCHEMA_VERSION);
  assert.equal(profile.tool.name, "weightbench");
  assert.equal(profile.run.runs, 2);
  assert.equal(profile.run.warmup, 0);
  assert.ok(profile.environment.host.length > 0, "environment.host");
  assert.ok(profile.environment.kernel.length > 0, "environment.kernel");
  assert.ok(profile.environment.cpu.cores >= 1, "environment.cpu.cores");
  assert.equal(typeof profile.environment.cpu.model, "string");
  assert.equal(profile.environment.storage.length, 1);
  assert.equal(profile.environment.storage[0]!.path, await Deno.realPath(join(ROOT, SHARDED)));
  assert.equal(profile.weights.length, 1);
  assert.equal(profile.weights[0]!.tensorCount, 9);
  assert.equal(profile.weights[0]!.files.length, 2);

  assert.deepEqual(
    profile.cases.map((c) => `${c.strategyLabel} · ${c.target} · ${c.cache}`),
    DEFAULT_LABELS,
  );
  const completed = profile.cases.filter((c) => c.state !== "skipped" || !c.reason);
  assert.ok(
    ["full-read", "mmap", "parallel"].every((name) =>
      completed.some((c) => c.strategy.name === name)
    ),
    "the strategies every machine can run did run",
  );
  for (const c of completed) {
    assert.equal(c.state, "completed", `${c.id}: ${c.error ?? c.reason ?? ""}`);
    assert.equal(c.samples.length, 2, c.id);
    assert.equal(c.samples.filter((s) => !s.warmup).length, 2, c.id);
    assert.equal(c.stats?.samples, 2, c.id);
    assert.deepEqual(c.stats?.verified, { samples: 2, mode: "all" }, c.id);
    for (const sample of c.samples) {
      assert.deepEqual(sample.verification, { mode: "all", checkedBytes: sample.bytes }, c.id);
      assert.equal(sample.bytes, profile.weights[0]!.tensorBytes, c.id);
      assert.ok(sample.durationMs > 0, c.id);
      const phases = new Set(sample.spans.map((span) => span.phase));
      for (const phase of ["open", "parse", "alloc", "copy"] as const) {
        assert.ok(phases.has(phase), `${c.id}: no "${phase}" span in ${[...phases]}`);
      }
    }
  }
});

Deno.test("bench: --strategy mmap --cache warm runs exactly one case", async () => {
  await using out = await tempDir();
  const result = await cli([
    "bench",
    "--weights",
    SHARDED,
    "--strategy",
    "mmap",
    "--cache",
    "warm",
    "--runs",
    "1",
    "--warmup",
    "0",
    "--out",
    out.path,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(labelsWithTarget(result.stdout), ["mmap · host · warm"]);
  const profile = await readProfile(profilePath(result.stdout));
  assert.deepEqual(profile.cases.map((c) => [c.strategy.name, c.cache, c.state]), [
    ["mmap", "warm", "completed"],
  ]);
});

Deno.test("bench: --json prints the profile it wrote", async () => {
  await using out = await tempDir();
  const result = await cli([
    "bench",
    "--weights",
    TINY,
    "--runs",
    "1",
    "--warmup",
    "0",
    "--json",
    "--out",
    out.path,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout);
  const path = profilePath(result.stderr);
  assert.equal(dirname(path), out.path);
  assert.deepEqual(
    await listTree(out.path),
    [basename(path), basename(path).replace(/\.json$/, ".html")].sort(),
  );
  assert.match(result.stderr, new RegExp(`report: ${path.replace(/\.json$/, "\\.html")}`));
  assert.deepEqual(printed, JSON.parse(await Deno.readTextFile(path)));
  assert.equal(printed.schemaVersion, SCHEMA_VERSION);
  assert.equal(printed.cases.length, DEFAULT_LABELS.length);
});

// ---------------------------------------------------------------------------
// bench --dry-run

Deno.test("bench: --dry-run lists the cases and writes nothing", async () => {
  await using out = await tempDir();
  const result = await cli(["bench", "--weights", SHARDED, "--dry-run", "--out", out.path]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^weights tiny-sharded: 9 tensors, [\d.]+ KiB in 2 safetensors files \(headers checked\)$/m,
  );
  for (const id of DEFAULT_LABELS.map((l) => `tiny-sharded/${l.replaceAll(" · ", "/")}`)) {
    assert.ok(result.stdout.includes(id), `case "${id}" not listed:\n${result.stdout}`);
  }
  assert.match(result.stdout, new RegExp(`${DEFAULT_LABELS.length} cases`));
  assert.doesNotMatch(result.stdout + result.stderr, /profile: /);
  assert.deepEqual(await listTree(out.path), []);
});

Deno.test("bench: --dry-run --json prints the plan as JSON and writes nothing", async () => {
  await using out = await tempDir();
  const result = await cli([
    "bench",
    "--weights",
    SHARDED,
    "--dry-run",
    "--json",
    "--out",
    out.path,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout);
  assert.ok(Array.isArray(plan.cases), "cases array");
  assert.deepEqual(
    plan.cases.map((c: { id: string }) => c.id),
    DEFAULT_LABELS.map((l) => `tiny-sharded/${l.replaceAll(" · ", "/")}`),
  );
  assert.deepEqual(await listTree(out.path), []);
});

Deno.test("bench: --dry-run of the default scenario is instant and generates no fixture", async () => {
  await using out = await tempDir();
  await using cache = await tempDir();
  const result = await cli(["bench", "--dry-run", "--out", out.path], {
    WEIGHTBENCH_CACHE: cache.path,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`quick: ${DEFAULT_LABELS.length} cases`));
  assert.ok(result.ms < 3_000, `took ${result.ms.toFixed(0)} ms`);
  assert.deepEqual(await listTree(cache.path), [], "no fixture generated");
  assert.deepEqual(await listTree(out.path), []);
});

// ---------------------------------------------------------------------------
// bench: bad input

/** A bad-input case: the arguments after `bench` (`--out` is added) and what the line must name. */
interface BadInput {
  readonly name: string;
  readonly args: readonly string[];
  readonly expected: readonly (string | RegExp)[];
}

const quick = ["--runs", "1", "--warmup", "0"];
const BAD_BENCH_INPUTS: readonly BadInput[] = [
  {
    name: "--weights of a missing path",
    args: ["--weights", `${TESTDATA}/missing.safetensors`, ...quick],
    expected: [`"${TESTDATA}/missing.safetensors"`, /no such file/],
  },
  {
    name: "--weights of a folder without weights",
    args: ["--weights", `${TESTDATA}/bad/not-weights`, ...quick],
    expected: [`"${TESTDATA}/bad/not-weights"`, /no weight files/],
  },
  {
    name: "a truncated file",
    args: ["--weights", `${TESTDATA}/bad/truncated.safetensors`, ...quick],
    expected: [`"${TESTDATA}/bad/truncated.safetensors"`, /truncated|past|beyond|exceeds/],
  },
  {
    name: "a header length larger than the file",
    args: ["--weights", `${TESTDATA}/bad/header-length-lies.safetensors`, ...quick],
    expected: [`"${TESTDATA}/bad/header-length-lies.safetensors"`, "9000000000000000", /\b15\b/],
  },
  {
    name: "overlapping tensors",
    args: ["--weights", `${TESTDATA}/bad/overlap.safetensors`, ...quick],
    expected: [`"${TESTDATA}/bad/overlap.safetensors"`, /overlap/, `"a"`, `"b"`],
  },
  {
    name: "a header that is not JSON",
    args: ["--weights", `${TESTDATA}/bad/not-json.safetensors`, ...quick],
    expected: [`"${TESTDATA}/bad/not-json.safetensors"`, /JSON/],
  },
  {
    name: "an unknown dtype",
    args: ["--weights", `${TESTDATA}/bad/unknown-dtype.safetensors`, ...quick],
    expected: [`"${TESTDATA}/bad/unknown-dtype.safetensors"`, `"F61"`, `did you mean "F16"`],
  },
  {
    name: "an index that names a file outside its folder",
    args: ["--weights", `${TESTDATA}/bad/index-escape`, ...quick],
    expected: ["model.safetensors.index.json", `"../tiny.safetensors"`],
  },
  {
    name: "--strategy mmpa",
    args: ["--weights", TINY, "--strategy", "mmpa", ...quick],
    expected: ["--strategy", `"mmpa"`, `did you mean "mmap"`],
  },
  { name: "--runs -1", args: ["--weights", TINY, "--runs", "-1"], expected: ["--runs", `"-1"`] },
  { name: "--runs abc", args: ["--weights", TINY, "--runs", "abc"], expected: ["--runs", `"abc"`] },
  { name: "--runs 0", args: ["--weights", TINY, "--runs", "0"], expected: ["--runs", `"0"`] },
  {
    name: "--warmup -2",
    args: ["--weights", TINY, "--warmup", "-2"],
    expected: ["--warmup", `"-2"`],
  },
  {
    name: "--cache lukewarm",
    args: ["--weights", TINY, "--cache", "lukewarm", ...quick],
    expected: ["--cache", `"lukewarm"`, /cold/, /warm/],
  },
  {
    name: "an unknown flag",
    args: ["--weights", TINY, "--rusn", "3"],
    expected: [`"--rusn"`, `did you mean "--runs"`],
  },
  {
    name: "a missing --scenario file",
    args: ["--scenario", "nope.json"],
    expected: [`"nope.json"`, /no such file/],
  },
  {
    name: "--target cuda:0 without a CUDA target",
    args: ["--weights", TINY, "--target", "cuda:0", ...quick],
    expected: [`"cuda:0"`],
  },
  {
    name: "--target tpu",
    args: ["--weights", TINY, "--target", "tpu", ...quick],
    expected: [`"tpu"`],
  },
];

for (const bad of BAD_BENCH_INPUTS) {
  Deno.test(`bench rejects ${bad.name}: exit 2, one line, nothing written`, async () => {
    await using out = await tempDir();
    const result = await cli(["bench", ...bad.args, "--out", out.path]);
    const line = await assertInputError(result, bad.expected, out.path);
    // A dry run checks what a run checks: the same line, before any case is listed.
    const dry = await cli(["bench", ...bad.args, "--dry-run", "--out", out.path]);
    assert.equal(await assertInputError(dry, bad.expected, out.path), line, "--dry-run");
  });
}

Deno.test("bench --dry-run of an empty folder or a missing path: exit 2, as the run", async () => {
  await using empty = await tempDir();
  await using out = await tempDir();
  await assertInputError(
    await cli(["bench", "--weights", empty.path, "--dry-run", "--out", out.path]),
    [`Cannot read "${empty.path}": no weight files in folder`],
    out.path,
  );
  await assertInputError(
    await cli(["bench", "--weights", "/nonexistent", "--dry-run", "--out", out.path]),
    [`Cannot read "/nonexistent": no such file or folder`],
    out.path,
  );
});

Deno.test("bench --format: wide keeps the phases, markdown and json print what they say", async () => {
  await using out = await tempDir();
  const run = (...flags: string[]) =>
    cli([
      "bench",
      "--weights",
      SHARDED,
      "--strategy",
      "full-read,mmap",
      "--runs",
      "3",
      "--warmup",
      "0",
      "--out",
      out.path,
      ...flags,
    ]);
  const wide = await run("--format", "wide", "--project", "13B@FP8,140GB");
  assert.equal(wide.code, 0, wide.stderr);
  assert.deepEqual(tableRows(wide.stdout)[0], [
    "case",
    "median",
    "IQR",
    "GB/s",
    "of limit",
    "phases (median ms)",
    "peak RSS",
    "verified",
    "cache",
    "notes",
  ]);
  assert.match(wide.stdout, /^13B · FP8 +13 GB +\d/m, "the user's own size, projected");
  assert.match(wide.stdout, /^140GB \* +140 GB +\d/m, "larger than this machine's memory");
  assert.equal((await run("--wide")).code, 0);

  const markdown = await run("--format", "markdown");
  assert.equal(markdown.code, 0, markdown.stderr);
  assert.match(markdown.stdout, /^## weightbench: quick\n/);
  assert.match(markdown.stdout, /^- Cold: \S+ is fastest/m);
  assert.match(markdown.stdout, /^\*\*Advice for host: on this machine, load with /m);
  assert.match(markdown.stdout, /^\| model \| size \| cold: /m);
  assert.match(markdown.stderr, /^profile: /m);

  await assertInputError(await run("--json", "--format", "table"), [
    "--format table and --json do not go together",
  ]);
  await assertInputError(await run("--format", "html"), [
    `Invalid --format "html": expected table, wide, markdown, json`,
  ]);
  await assertInputError(await run("--project", "13B@FP7"), [`Invalid --project "13B@FP7"`]);
});

Deno.test("bench rejects a scenario with an unknown strategy, naming file, index and suggestion", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const scenario = join(dir.path, "typo.json");
  await Deno.writeTextFile(
    scenario,
    JSON.stringify({
      name: "typo",
      weights: [join(ROOT, TINY)],
      strategies: ["full-read", "mmpa"],
      runs: 1,
      warmup: 0,
    }),
  );
  const result = await cli(["bench", "--scenario", scenario, "--out", out.path]);
  const line = await assertInputError(result, [], out.path);
  assert.equal(
    line,
    `error: ${scenario}: strategies[1]: unknown strategy "mmpa" (did you mean "mmap"?)`,
  );
});

Deno.test("bench rejects a scenario that is not valid JSON", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const scenario = join(dir.path, "broken.json");
  await Deno.writeTextFile(scenario, `{"name": "broken", "weights": [`);
  const result = await cli(["bench", "--scenario", scenario, "--out", out.path]);
  await assertInputError(result, [scenario, /JSON/], out.path);
});

Deno.test("bench rejects a TypeScript scenario whose default export has runs: -1", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  const scenario = join(dir.path, "negative.ts");
  await Deno.writeTextFile(
    scenario,
    `export default { name: "negative", weights: [${
      JSON.stringify(join(ROOT, TINY))
    }], runs: -1 };\n`,
  );
  const result = await cli(["bench", "--scenario", scenario, "--out", out.path]);
  await assertInputError(result, [scenario, /\bruns\b/], out.path);
});

Deno.test("bench rejects an unavailable --target before generating any fixture", async () => {
  await using dir = await tempDir();
  await using out = await tempDir();
  await using cache = await tempDir();
  const scenario = join(dir.path, "small.json");
  await Deno.writeTextFile(
    scenario,
    JSON.stringify({
      name: "small",
      weights: [{ fixture: { layout: "llama-3.2-1b", size: "8MiB" } }],
      strategies: ["mmap"],
      runs: 1,
      warmup: 0,
    }),
  );
  const result = await cli(
    ["bench", "--scenario", scenario, "--target", "cuda:0", "--out", out.path],
    { WEIGHTBENCH_CACHE: cache.path },
  );
  await assertInputError(result, [`"cuda:0"`], out.path);
  assert.deepEqual(
    await listTree(cache.path),
    [],
    "a fixture was generated for a run that cannot start",
  );
});

Deno.test("bench rejects an --out it cannot write before measuring anything", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "");
  const result = await cli([
    "bench",
    "--weights",
    `${TESTDATA}/tiny.safetensors`,
    "--out",
    join(file, "runs"),
  ]);
  await assertInputError(result, [
    `Cannot write profiles to "${join(file, "runs")}"`,
    "not a folder",
  ]);
  assert.deepEqual(await listTree(dir.path), ["a-file"]);
});

Deno.test("main rejects an unknown command with a suggestion", async () => {
  const result = await cli(["benh"]);
  await assertInputError(result, [`"benh"`, `did you mean "bench"`]);
});

// ---------------------------------------------------------------------------
// bench: interrupt

for (
  const [signal, code, state] of [
    ["SIGINT", 130, "interrupted"],
    ["SIGTERM", 143, "interrupted"],
    ["SIGKILL", null, "running"],
  ] as const
) {
  Deno.test(`bench: ${signal} mid-run keeps every sample taken in a valid profile`, async () => {
    await using out = await tempDir();
    // 4 cases × 3000 samples of the tiny file take several seconds here.
    const { child, done } = spawnCli([
      "bench",
      "--weights",
      TINY,
      "--strategy",
      "full-read,mmap",
      "--runs",
      "3000",
      "--warmup",
      "0",
      "--out",
      out.path,
    ]);
    let exited = false;
    child.status.then(() => exited = true);
    // Wait for the journal's second write, so the kill lands between writes as often as not.
    const deadline = Date.now() + 20_000;
    let writes = 0;
    let last = "";
    while (writes < 2 && Date.now() < deadline && !exited) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const names = (await listTree(out.path)).filter((n) => n.endsWith(".json"));
      const text = names.length === 1
        ? await Deno.readTextFile(join(out.path, names[0]!)).catch(() => "")
        : "";
      if (text !== "" && text !== last) [writes, last] = [writes + 1, text];
    }
    assert.ok(!exited, "the run ended before the signal was sent; give it more samples");
    child.kill(signal);
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 5_000);
    const result = await done;
    clearTimeout(watchdog);
    const stderr = result.stderr;
    if (code !== null) {
      assert.equal(result.signal, null, `did not stop within 5 s of ${signal}`);
      assert.equal(result.code, code, stderr);
      assert.match(
        stderr,
        new RegExp(`Interrupted by ${signal}: \\d+ timed samples of 4 of 4 cases kept in`),
      );
      assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    }
    const files = await listTree(out.path);
    const profiles = files.filter((n) => n.endsWith(".json"));
    assert.equal(profiles.length, 1, `one profile: ${files}`);
    assert.ok(
      files.every((n) => n.endsWith(".json") || n.endsWith(".html")),
      `no litter: ${files}`,
    );
    const profile = await readProfile(join(out.path, profiles[0]!));
    assert.equal(profile.run.state, state);
    if (code !== null) assert.equal(profile.run.interruptedBy, signal);
    for (const c of profile.cases) {
      assert.equal(c.state, "completed", c.id);
      const timed = c.samples.filter((s) => !s.warmup).length;
      assert.ok(timed > 0 && timed < 3000, `${c.id}: ${timed} samples`);
      assert.equal(c.stats?.samples, timed, "the statistics cover what was measured");
    }
  });
}

Deno.test("bench: a first run on a storage says before its first sample that it will probe it", async () => {
  await using dir = await tempDir();
  const weights = join(dir.path, "model");
  await generateFixture(
    { layout: "llama-3.2-1b", size: 64 << 20, dtype: "F16", shards: 1 },
    weights,
  );
  const limits = join(dir.path, "limits");
  await Deno.mkdir(limits);
  const { child, done } = spawnCli([
    "bench",
    "--weights",
    weights,
    "--strategy",
    "mmap",
    "--cache",
    "warm",
    "--runs",
    "3000",
    "--warmup",
    "0",
    "--out",
    join(dir.path, "out"),
  ], { env: { WEIGHTBENCH_LIMITS: limits } });
  // The journal is written after the first sample: by then the announcement must be out.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const profiles = (await listTree(join(dir.path, "out")).catch(() => [])).filter((n) =>
      n.endsWith(".json")
    );
    if (profiles.length > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGINT");
  const watchdog = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const result = await done;
  clearTimeout(watchdog);
  const stderr = result.stderr;
  assert.equal(result.code, 130, stderr);
  const lines = stderr.split("\n");
  const announced = lines.findIndex((l) => /^first run on this storage: after the samples/.test(l));
  assert.ok(announced >= 0, stderr);
  const measured = lines.findIndex((l) => /^measured \d+/.test(l));
  assert.ok(measured === -1 || announced < measured, stderr);
  // Interrupted: no probe ran, nothing cached.
  assert.doesNotMatch(stderr, /measuring this machine's limits/);
  assert.deepEqual(await listTree(limits), []);
});

Deno.test("bench: where the hashing Workers cannot start, every byte is still checked on one thread", async () => {
  await using out = await tempDir();
  const worker = join(ROOT, "bench/core/_hash_worker.ts");
  const args = ["bench", "--weights", TINY, "--strategy", "mmap", "--runs", "3", "--json"];
  const result = await cli([...args, "--out", out.path], {}, [`--deny-read=${worker}`]);
  assert.equal(result.code, 0, result.stderr);
  for (const c of JSON.parse(result.stdout).cases) {
    assert.equal(c.state, "completed", c.error);
    for (const sample of c.samples) {
      assert.equal(sample.verification.mode, "all");
      assert.ok(sample.verification.checkedBytes > 0);
    }
  }
});

// ---------------------------------------------------------------------------
// inspect

interface InspectJson {
  tensorCount: number;
  files: { path: string; size: number }[];
  tensors: {
    name: string;
    dtype: string;
    shape: number[];
    file: string;
    offset: number;
    byteLength: number;
    sha256?: string;
  }[];
}

const TINY_TENSORS = [
  ["embed.weight", "F16", [4, 8], 64],
  ["proj.weight", "BF16", [3, 5], 30],
  ["norm.weight", "F32", [7], 28],
  ["step", "I64", [], 8],
  ["empty", "U8", [0, 4], 0],
  ["mask", "BOOL", [3], 3],
] as const;

Deno.test("inspect: lists the tensors of a file with dtypes and shapes", async () => {
  const result = await cli(["inspect", TINY]);
  assert.equal(result.code, 0, result.stderr);
  const rows = tableRows(result.stdout);
  assert.deepEqual(rows[0], ["name", "dtype", "shape", "file", "offset", "bytes"]);
  const listed = rows.slice(1).map(([name, dtype, shape, file, , bytes]) => [
    name,
    dtype,
    shape,
    file,
    bytes,
  ]);
  assert.deepEqual(
    listed.sort(),
    TINY_TENSORS.map(([name, dtype, shape, bytes]) => [
      name,
      dtype,
      `[${shape.join(", ")}]`,
      "tiny.safetensors",
      String(bytes),
    ]).sort(),
  );
  assert.match(result.stdout, /\b6 tensors\b/);
});

Deno.test("inspect --json: every tensor with name, dtype, shape, file, offset and byteLength", async () => {
  const result = await cli(["inspect", TINY, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as InspectJson;
  assert.equal(json.tensorCount, 6);
  const size = (await Deno.stat(join(ROOT, TINY))).size;
  assert.deepEqual(
    json.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength]).sort(),
    TINY_TENSORS.map(([name, dtype, shape, bytes]) => [name, dtype, [...shape], bytes]).sort(),
  );
  for (const t of json.tensors) {
    assert.equal(t.file, "tiny.safetensors");
    assert.ok(Number.isSafeInteger(t.offset) && t.offset >= 8, `${t.name}: offset ${t.offset}`);
    assert.ok(t.offset + t.byteLength <= size, `${t.name} runs past the file`);
    assert.equal(t.sha256, undefined, "no hash without --hash");
  }
});

/** Checks every `sha256` of an `inspect --json --hash` listing against the file's own bytes. */
async function assertHashes(json: InspectJson): Promise<void> {
  const byName = new Map(json.files.map((f) => [basename(f.path), join(ROOT, f.path)]));
  const contents = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const t of json.tensors) {
    const path = byName.get(t.file);
    assert.ok(path, `tensor ${t.name} names file ${t.file}, not in files`);
    if (!contents.has(path)) contents.set(path, await Deno.readFile(path));
    const bytes = contents.get(path)!.slice(t.offset, t.offset + t.byteLength);
    assert.equal(bytes.length, t.byteLength, `${t.name}: slice length`);
    assert.equal(t.sha256, await sha256Hex(bytes), `sha256 of ${t.name}`);
  }
}

Deno.test("inspect --hash: each tensor's sha256 matches its bytes in the file", async () => {
  const result = await cli(["inspect", TINY, "--json", "--hash"]);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as InspectJson;
  assert.equal(json.tensors.length, 6);
  await assertHashes(json);
});

Deno.test("inspect: a sharded folder lists 9 tensors across 2 files, hashes checked", async () => {
  const table = await cli(["inspect", SHARDED]);
  assert.equal(table.code, 0, table.stderr);
  const rows = tableRows(table.stdout).slice(1).filter((cells) => cells[0] !== "");
  assert.equal(rows.length, 9);
  assert.deepEqual([...new Set(rows.map((cells) => cells[3]))].sort(), [
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
  ]);

  const result = await cli(["inspect", SHARDED, "--json", "--hash"]);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as InspectJson;
  assert.equal(json.tensorCount, 9);
  assert.equal(json.files.length, 2);
  const perFile = Object.groupBy(json.tensors, (t) => t.file);
  assert.equal(perFile["model-00001-of-00002.safetensors"]?.length, 5);
  assert.equal(perFile["model-00002-of-00002.safetensors"]?.length, 4);
  await assertHashes(json);
});

const BAD_INSPECT_INPUTS: readonly BadInput[] = [
  { name: "no PATH", args: [], expected: [/PATH/] },
  {
    name: "a missing path",
    args: [`${TESTDATA}/missing.safetensors`],
    expected: [`"${TESTDATA}/missing.safetensors"`, /no such file/],
  },
  {
    name: "a folder without weights",
    args: [`${TESTDATA}/bad/not-weights`],
    expected: [`"${TESTDATA}/bad/not-weights"`, /no weight files/],
  },
  ...["truncated", "header-length-lies", "overlap", "not-json", "unknown-dtype"].map((name) => ({
    name: `bad/${name}.safetensors`,
    args: [`${TESTDATA}/bad/${name}.safetensors`],
    expected: [`"${TESTDATA}/bad/${name}.safetensors"`],
  })),
  {
    name: "bad/index-escape",
    args: [`${TESTDATA}/bad/index-escape`],
    expected: ["model.safetensors.index.json", `"../tiny.safetensors"`],
  },
  { name: "an unknown flag", args: [TINY, "--jsno"], expected: [`did you mean "--json"`] },
];

for (const bad of BAD_INSPECT_INPUTS) {
  Deno.test(`inspect rejects ${bad.name}: exit 2, one line`, async () => {
    await assertInputError(await cli(["inspect", ...bad.args]), bad.expected);
  });
}

// ---------------------------------------------------------------------------
// fixtures

/** Name, size and modification time of every entry under `dir`, for "untouched" checks. */
async function snapshot(dir: string): Promise<string[]> {
  const entries: string[] = [];
  for (const path of await listTree(dir)) {
    const info = await Deno.lstat(join(dir, path));
    entries.push(`${path} ${info.size} ${info.mtime?.getTime()} ${info.ino}`);
  }
  return entries;
}

Deno.test("fixtures: generates, refuses to overwrite, --force replaces, and bench loads it", async (t) => {
  await using tmp = await tempDir();
  const dir = join(tmp.path, "f");
  const args = [
    "fixtures",
    "--out",
    dir,
    "--layout",
    "llama-3.2-1b",
    "--size",
    "8MiB",
    "--shards",
    "2",
  ];
  const expectedFiles = [
    "fixture.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
  ];

  await t.step("generates 2 shards, the index and fixture.json", async () => {
    const result = await cli(args);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await listTree(dir), expectedFiles);
    assert.deepEqual(await listTree(tmp.path), ["f", ...expectedFiles.map((f) => `f/${f}`)]);
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, "fixture.json")));
    assert.equal(manifest.spec.layout, "llama-3.2-1b");
    assert.equal(manifest.spec.shards, 2);
    assert.ok(manifest.tensorBytes <= 8 * 1024 * 1024 && manifest.tensorBytes > 0);
  });

  await t.step("refuses to write over it, leaving it untouched", async () => {
    await Deno.writeTextFile(join(dir, "marker"), "old");
    const before = await snapshot(dir);
    const result = await cli(args);
    await assertInputError(result, [`"${dir}"`, /already exists/]);
    assert.deepEqual(await snapshot(dir), before);
    assert.deepEqual(await listTree(tmp.path), [
      "f",
      ...[...expectedFiles, "marker"].sort().map((f) => `f/${f}`),
    ]);
  });

  await t.step("--force replaces it", async () => {
    const result = await cli([...args, "--force"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await listTree(dir), expectedFiles, "the old folder is gone, marker included");
    assert.deepEqual(await listTree(tmp.path), ["f", ...expectedFiles.map((f) => `f/${f}`)]);
  });

  await t.step("bench loads it", async () => {
    await using out = await tempDir();
    const result = await cli([
      "bench",
      "--weights",
      dir,
      "--runs",
      "1",
      "--warmup",
      "0",
      "--strategy",
      "full-read",
      "--cache",
      "warm",
      "--out",
      out.path,
    ]);
    assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    const profile = await readProfile(profilePath(result.stdout));
    assert.deepEqual(profile.cases.map((c) => [c.strategyLabel, c.cache, c.state]), [
      ["full-read", "warm", "completed"],
    ]);
    assert.equal(profile.cases[0]!.samples[0]?.verification.mode, "all");
  });
});

const BAD_FIXTURE_INPUTS: readonly BadInput[] = [
  {
    name: "a size too small for the layout",
    args: ["--size", "1KiB", "--layout", "llama-3-70b"],
    expected: [/too small/, `"llama-3-70b"`],
  },
  {
    name: "an unknown layout",
    args: ["--layout", "llama-9"],
    expected: [`"llama-9"`, "llama-3-8b", "llama-3-70b", "llama-3.2-1b"],
  },
  { name: "an unknown dtype", args: ["--dtype", "F8"], expected: ["--dtype", `"F8"`] },
];

for (const bad of BAD_FIXTURE_INPUTS) {
  Deno.test(`fixtures rejects ${bad.name}: exit 2, one line, nothing written`, async () => {
    await using tmp = await tempDir();
    const result = await cli(["fixtures", "--out", join(tmp.path, "g"), ...bad.args]);
    await assertInputError(result, bad.expected, tmp.path);
  });
}
