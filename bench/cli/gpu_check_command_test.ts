import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_cli_testing.ts";
import { withTempDir } from "../util/testing.ts";

/** Runs `deno task gpu-check` as deno.json has it, with `args`, into `out`. */
async function gpuCheck(out: string, args: readonly string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "gpu-check", "--out", out, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test("gpu-check ends with its verdict, the exit code it documents, and a summary of every step", async () => {
  await withTempDir(async (out) => {
    const { code, stdout } = await gpuCheck(out, ["--steps", "device,cli"]);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assert.equal(code, summary.exitCode, stdout);
    assert.deepEqual(
      summary.steps.map((s: { name: string; state: string }) => [s.name, s.state]),
      [["device and nvidia-smi", "ok"], ["unknown ordinal through the CLI (exit 2)", "ok"]],
    );
    const device = JSON.parse(await Deno.readTextFile(join(out, "device.json")));
    if (!device.gpu) {
      // no GPU here: a clear verdict, exit 3, and the driver's own answer in it
      assert.equal(code, 3);
      assert.match(summary.verdict, /^no GPU here: .+; nothing was measured on cuda:0 /);
      assert.ok(stdout.trimEnd().split("\n").at(-1)!.includes("no GPU here: "), stdout);
      assert.match(
        await Deno.readTextFile(join(out, "results.md")),
        /^Verdict: no GPU here: .* \(exit 3\)$/m,
      );
    }
  });
});

Deno.test("gpu-check refuses a budget it cannot keep, with one line and exit 2", async () => {
  await withTempDir(async (out) => {
    const { code } = await gpuCheck(out, ["--budget", "3"]);
    assert.equal(code, 2);
  });
});
