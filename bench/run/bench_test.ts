import assert from "node:assert/strict";
import { join } from "node:path";
import { InterruptedError } from "../util/errors.ts";
import { withTempDir } from "../util/testing.ts";
import { runBench } from "./bench.ts";
import { planBench } from "./options.ts";

const TINY = new URL("../../fixtures/testdata/tiny.safetensors", import.meta.url).pathname;

Deno.test("runBench: a run that writes nothing leaves no folder it made", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "new", "deeper");
    const plan = await planBench({
      weights: TINY,
      strategy: ["full-read"],
      target: ["host"],
      runs: 1,
      probe: false,
      out,
    });
    const controller = new AbortController();
    controller.abort(new InterruptedError("SIGINT"));
    await assert.rejects(
      () => runBench(plan, { signal: controller.signal }),
      /Interrupted by SIGINT before the first sample: no profile written/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the folders it created are gone");
  });
});

Deno.test("runBench: returns the profile it wrote, complete, with its environment", async () => {
  await withTempDir(async (dir) => {
    const plan = await planBench({
      weights: TINY,
      strategy: ["mmap"],
      target: ["host"],
      cache: ["warm"],
      runs: 2,
      warmup: 0,
      probe: false,
      out: dir,
    });
    const events: string[] = [];
    const { profile, path } = await runBench(plan, { onEvent: (e) => events.push(e.kind) });
    assert.equal(profile.run.state, "complete");
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(path)),
      JSON.parse(JSON.stringify(profile)),
    );
    assert.equal(profile.cases.length, 1);
    assert.equal(profile.cases[0]!.samples.length, 2);
    assert.ok(profile.environment.storage.length > 0, "the weights' storage is described");
    assert.ok(events.includes("ready") && events.includes("sample"), String(events));
  });
});
