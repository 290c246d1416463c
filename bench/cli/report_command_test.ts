/**
 * The report command: where it writes, what it prints, and one clear error
 * for every bad input. Most tests call the command in this process; the
 * stdout and exit-code contract is checked once through `bench/main.ts` with
 * the report task's permissions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { baselineProfile, currentProfile, unrelatedProfile } from "../../report/_fixtures.ts";
import { withTempDir } from "../util/testing.ts";
import { reportCommand } from "./report_command.ts";
import { cli } from "./_cli_testing.ts";

/** Runs the command with console.log captured. */
async function run(args: string[]): Promise<{ code: number; log: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    const code = await reportCommand(args);
    return { code, log: lines.join("\n") };
  } finally {
    console.log = original;
  }
}

async function writeProfiles(dir: string): Promise<{ a: string; b: string; other: string }> {
  const a = join(dir, "a.json");
  const b = join(dir, "b.json");
  const other = join(dir, "other.json");
  await Deno.writeTextFile(a, JSON.stringify(baselineProfile()));
  await Deno.writeTextFile(b, JSON.stringify(currentProfile()));
  await Deno.writeTextFile(other, JSON.stringify(unrelatedProfile()));
  return { a, b, other };
}

Deno.test("report: HTML next to the first profile by default, or at -o; its path printed", async () => {
  await withTempDir(async (dir) => {
    const { a, b } = await writeProfiles(dir);
    const one = await run([a]);
    assert.equal(one.code, 0);
    assert.match(one.log, new RegExp(`^report: ${join(dir, "a.html")} \\(\\d+\\.\\d\\d KiB\\)$`));
    assert.match(await Deno.readTextFile(join(dir, "a.html")), /^<!doctype html>/);

    const two = await run([a, b]);
    assert.match(two.log, /a-compare\.html/);
    const out = join(dir, "site", "nested", "x.html");
    await run([a, b, "-o", out]);
    assert.match(await Deno.readTextFile(out), /2 profiles compared/);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["a-compare.html", "a.html", "a.json", "b.json", "other.json", "site"]);
  });
});

Deno.test("report: markdown, BMF and gab to a file with -o", async () => {
  await withTempDir(async (dir) => {
    const { a, b } = await writeProfiles(dir);
    await run([a, b, "--format", "markdown", "-o", join(dir, "summary.md")]);
    assert.match(await Deno.readTextFile(join(dir, "summary.md")), /\*\*2 regressions\*\*/);
    await run([a, "--format", "bmf", "-o", join(dir, "bmf.json")]);
    assert.ok(Object.keys(JSON.parse(await Deno.readTextFile(join(dir, "bmf.json")))).length === 4);
    await run([a, "--format", "gab", "-o", join(dir, "gab.json")]);
    assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "gab.json"))).length, 4);
  });
});

Deno.test("report: unrelated profiles still make a report that says nothing could be compared", async () => {
  await withTempDir(async (dir) => {
    const { a, other } = await writeProfiles(dir);
    const out = join(dir, "mixed.html");
    assert.equal((await run([a, other, "-o", out])).code, 0);
    assert.match(await Deno.readTextFile(out), /No case could be compared/);
  });
});

Deno.test("report: bad input is one clear error", async () => {
  await withTempDir(async (dir) => {
    const { a, b } = await writeProfiles(dir);
    const future = join(dir, "future.json");
    await Deno.writeTextFile(future, JSON.stringify({ ...baselineProfile(), schemaVersion: 99 }));
    const truncated = join(dir, "truncated.json");
    await Deno.writeTextFile(truncated, JSON.stringify(baselineProfile()).slice(0, 5000));
    const cases: [string[], RegExp][] = [
      [[], /^Missing PROFILE/],
      [
        [future],
        /future\.json": schemaVersion 99 is newer than 2, the newest this weightbench reads: update weightbench$/,
      ],
      [[a, truncated], /truncated\.json": not valid JSON \(truncated\?\)/],
      [[join(dir, "nope.json")], /Cannot read profile ".*nope\.json"/],
      [
        [a, "--format", "pdf"],
        /^Invalid --format "pdf": expected one of html, markdown, bmf, gab, csv$/,
      ],
      [[a, b, "--format", "bmf"], /^--format bmf takes one profile, got 2/],
      [[a, "-o", a], /^Refusing to write the report over the profile/],
      [[a, "--index", dir], /^--index takes a folder, not profiles/],
      [["--index", join(dir, "missing")], /^Cannot read the folder/],
      [["--bogus"], /^Unknown flag "--bogus"/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(() => run(args), (error: unknown) => {
        assert.ok(error instanceof InputError, `${args.join(" ")}: ${error}`);
        assert.match(error.message, message, args.join(" "));
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["a.json", "b.json", "future.json", "other.json", "truncated.json"]);
  });
});

Deno.test("report --index: a page per run, an index with trends, files that are not profiles named", async () => {
  await withTempDir(async (dir) => {
    await writeProfiles(dir);
    await Deno.writeTextFile(join(dir, "broken.json"), "{");
    await Deno.writeTextFile(join(dir, "notes.txt"), "not json, not read");
    const out = join(dir, "site");
    const { log } = await run(["--index", dir, "-o", out]);
    assert.match(log, /^site: .*index\.html \(3 run pages; 1 file was not a profile\)$/);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, ["a.html", "b.html", "index.html", "other.html"]);
    const index = await Deno.readTextFile(join(out, "index.html"));
    assert.equal(index.match(/<tr class="run">/g)?.length, 3);
    assert.match(index, /<code>broken\.json<\/code>: not valid JSON/);
    assert.match(
      await Deno.readTextFile(join(out, "a.html")),
      /<a href="index\.html">← all runs<\/a>/,
    );

    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    await assert.rejects(() => run(["--index", empty]), /No profiles in/);
  });
});

Deno.test("report: markdown goes to stdout; bad input exits 2 with one line (through bench/main.ts)", async () => {
  await withTempDir(async (dir) => {
    const { a, b } = await writeProfiles(dir);
    const spawn = (args: string[]) => cli(["report", ...args]);
    const ok = await spawn([a, b, "--format", "markdown"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^## weightbench: 2 profiles compared\n/);
    const csv = await spawn([a, "--format", "csv"]);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trimEnd().split("\r\n");
    assert.match(lines[0]!, /^case,weights,strategy,target,cache,state,samples,median_ms,/);
    assert.ok(lines.length > 1, "a row per case");
    const bad = await spawn([a, "--format", "pdf"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
    assert.equal(
      bad.stderr,
      'error: Invalid --format "pdf": expected one of html, markdown, bmf, gab, csv\n',
    );
  });
});
