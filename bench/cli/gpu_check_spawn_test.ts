import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../util/testing.ts";
import { runWithDeadline } from "./gpu_check_spawn.ts";

Deno.test("a step's subprocess is killed at its deadline, even one that ignores SIGTERM", async () => {
  const began = performance.now();
  const ended = await runWithDeadline("bash", ["-c", "trap '' TERM; echo started; sleep 30"], {
    limitS: 1,
    graceS: 0.5,
  });
  const seconds = (performance.now() - began) / 1000;
  assert.ok(ended.timedOut);
  assert.equal(ended.output, "started\n");
  assert.ok(seconds < 3, `ran ${seconds.toFixed(1)} s past a 1 s deadline`);
});

Deno.test("SIGTERM comes first, so a step can save its work within the grace period", async () => {
  const ended = await runWithDeadline(
    "bash",
    ["-c", "trap 'echo saved; exit 143' TERM; while true; do sleep 0.05; done"],
    { limitS: 2, graceS: 1.5 },
  );
  assert.ok(ended.timedOut);
  assert.equal(ended.code, 143);
  assert.equal(ended.output, "saved\n");
});

Deno.test("output streams into its file and to the caller line by line as it comes", async () => {
  await withTempDir(async (dir) => {
    const stream = join(dir, "tests.txt");
    const lines: string[] = [];
    const seen: string[] = [];
    const ended = await runWithDeadline(
      "bash",
      ["-c", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three"],
      {
        limitS: 10,
        stream,
        onLine: (line) => {
          lines.push(line);
          seen.push(Deno.readTextFileSync(stream)); // the file already holds the line
        },
      },
    );
    assert.equal(ended.code, 0);
    assert.equal(ended.timedOut, false);
    assert.deepEqual(lines, ["one", "two", "three"]);
    assert.deepEqual(seen, ["one\n", "one\ntwo\n", "one\ntwo\nthree\n"]);
  });
});
