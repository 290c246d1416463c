/**
 * The commands at a real terminal: run under a pseudo-TTY (util-linux
 * `script`), with stdin closed, as a person at a shell runs them. Piped runs
 * never prompt for a permission, so only a TTY shows a task that would stop
 * at "Deno requests … access" and wait for an answer nobody gives.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { baselineProfile, currentProfile } from "../../report/_fixtures.ts";
import { writeProfile } from "../../profiles/files.ts";
import { ROOT, taskFlags, tempDir, TESTDATA } from "./_cli_testing.ts";

/** A command that prompts would wait forever: give up well before the suite does. */
const TTY_LIMIT_S = 40;

const script = new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
const ignore = !(await script);
if (ignore) console.log("tty tests skipped: util-linux `script` is not installed");

/** Runs `deno run <task flags> bench/main.ts ...args` at a pseudo-TTY; output as the terminal got it. */
async function atTerminal(args: readonly string[]): Promise<{ code: number; output: string }> {
  const deno = [Deno.execPath(), "run", ...taskFlags(args[0]!), "bench/main.ts", ...args];
  const line = deno.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("timeout", {
    args: ["-s", "KILL", String(TTY_LIMIT_S), "script", "-qec", line, "/dev/null"],
    cwd: ROOT,
    env: { TERM: "xterm-256color" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const result = await child.output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

function assertNoPrompt(result: { code: number; output: string }, what: string): void {
  assert.doesNotMatch(result.output, /Deno requests|Allow\?/, `${what} stopped at a prompt`);
  assert.notEqual(result.code, 137, `${what} still running after ${TTY_LIMIT_S} s: killed`);
  assert.equal(result.code, 0, `${what}:\n${result.output}`);
}

Deno.test({
  name: "tty: inspect, compare, report and bench run to their end at a terminal, with no prompt",
  ignore,
  fn: async () => {
    await using out = await tempDir();
    const baseline = await writeProfile(baselineProfile(), out.path);
    const current = await writeProfile(currentProfile(), out.path);

    const inspect = await atTerminal(["inspect", join(TESTDATA, "tiny.safetensors")]);
    assertNoPrompt(inspect, "inspect");
    assert.match(inspect.output, /6 tensors/);

    const compare = await atTerminal(["compare", baseline, current]);
    assert.doesNotMatch(compare.output, /Deno requests|Allow\?/, "compare stopped at a prompt");
    assert.ok([0, 1].includes(compare.code), `compare:\n${compare.output}`);

    const report = await atTerminal(["report", baseline, current, "-o", join(out.path, "r.html")]);
    assertNoPrompt(report, "report");

    const bench = await atTerminal([
      "bench",
      "--weights",
      join(TESTDATA, "tiny.safetensors"),
      "--strategy",
      "full-read",
      "--cache",
      "warm",
      "--runs",
      "2",
      "--no-probe",
      "--out",
      out.path,
    ]);
    assertNoPrompt(bench, "bench");
    assert.match(bench.output, /full-read · warm/);
  },
});
