/**
 * `--help` on every task: one usage text on stdout, exit 0, and nothing done
 * (no file written or rebuilt, no measurement).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./layers.ts";

const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
  tasks: Record<string, { command: string }>;
};
/** Every task that runs one of the project's scripts, with the command line it runs. */
const scripts = Object.entries(config.tasks)
  .map(([name, task]) => [name, task.command.split(/\s+/)] as const)
  .filter(([, words]) => words[0] === "deno" && words[1] === "run");

/** Modification times of every file under `dir` (skipping caches and output folders). */
async function tree(dir: string): Promise<Map<string, number>> {
  const skip = new Set([".git", "node_modules", ".cache", "runs", "limits", "history", ".device"]);
  const found = new Map<string, number>();
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      if (skip.has(entry.name)) continue;
      const full = join(path, entry.name);
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile) found.set(full, (await Deno.stat(full)).mtime?.getTime() ?? 0);
    }
  };
  await walk(dir);
  return found;
}

Deno.test("help: every task answers --help with its usage, exit 0, and does nothing else", async () => {
  assert.ok(scripts.length >= 10, `tasks found: ${scripts.map(([n]) => n)}`);
  const before = await tree(join(ROOT, "kernels"));
  for (const [name, words] of scripts) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...words.slice(1), "--help"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `deno task ${name} --help: exit ${output.code}\n${stderr}`);
    assert.match(stdout, /^Usage: deno task /m, `deno task ${name} --help printed no usage`);
    assert.equal(stderr, "", `deno task ${name} --help wrote to stderr`);
  }
  assert.deepEqual(await tree(join(ROOT, "kernels")), before, "--help rebuilt something");
});
