/**
 * The Slurm deployment on a real scheduler: a single-machine cluster (munge,
 * slurmctld and slurmd from Debian's packages, on loopback) runs
 * `deploy/slurm/submit.sh 3` for a small scenario on the host target — a job
 * array of three shards and the dependent merge job — and the merged profile
 * must hold every planned case exactly once, each on the array task that ran
 * it. Skipped, with the reason printed, where the packages are missing or the
 * daemons cannot start.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readProfile } from "../../profiles/files.ts";
import { testUnless } from "../../bench/util/testing.ts";
import { findSlurm, type LocalSlurm, startLocalSlurm } from "./_local_slurm.ts";
import { strategyNames } from "../../bench/strategies/registry.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SUBMIT = join(ROOT, "deploy/slurm/submit.sh");
/** The whole test, cluster start included, stays under a minute. */
const WAIT_MS = 45_000;
/** Whether the bench task may read the Slurm ids (the env list of deno.json's `measure` set). */
const BENCH_READS_SLURM = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).permissions
  .measure.env.includes("SLURM_ARRAY_TASK_ID");

const found = findSlurm();
let cluster: LocalSlurm | undefined;
let skip: string | undefined = "missing" in found ? found.missing : undefined;
if (skip === undefined && "paths" in found) {
  try {
    cluster = await startLocalSlurm(found.paths);
    globalThis.addEventListener("unload", () => cluster?.stopSync());
  } catch (error) {
    skip = `the local Slurm cluster did not start: ${(error as Error).message.split("\n")[0]}`;
  }
}

testUnless(
  skip,
  "slurm: a 3-task job array and its merge job give every case exactly once",
  async () => {
    const slurm = cluster!;
    try {
      const results = join(slurm.dir, "results");
      const weights = join(ROOT, "fixtures/testdata/tiny-sharded");
      const submitted = await new Deno.Command("bash", {
        args: [SUBMIT, "3", results],
        env: {
          ...slurm.env,
          WB_GPUS: "0",
          WB_SCENARIO: "quick",
          WB_BENCH_ARGS: `--weights ${weights} --target host --runs 2 --warmup 0 --no-probe`,
          WB_DENO: Deno.execPath(),
          NO_COLOR: "1",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(submitted.stdout);
      assert.equal(submitted.code, 0, `${out}\n${new TextDecoder().decode(submitted.stderr)}`);
      assert.match(out, /^shards: job (\d+) \(array 1-3, --gres=none\)$/m);
      const arrayJob = /^shards: job (\d+)/m.exec(out)![1]!;

      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const queue = await slurm.run("squeue", ["-h", "-o", "%i %T %r"]);
        assert.equal(queue.code, 0, queue.stderr);
        if (queue.stdout.trim() === "") break;
        assert.ok(
          Date.now() < deadline,
          `jobs still queued after ${WAIT_MS / 1000} s:\n${queue.stdout}\n${slurm.logs()}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }

      const logs = join(results, "logs");
      const logText = async () => {
        const parts: string[] = [];
        for await (const e of Deno.readDir(logs)) {
          parts.push(`--- ${e.name}\n${await Deno.readTextFile(join(logs, e.name))}`);
        }
        return parts.join("\n");
      };
      const merged = join(results, "merged.json");
      const exists = await Deno.stat(merged).then(() => true, () => false);
      assert.ok(exists, `no merged profile\n${await logText()}`);
      const profile = await readProfile(merged);
      const html = await Deno.readTextFile(join(results, "merged.html"));
      assert.ok(html.includes('<table class="nodes">'), "the merge job wrote the report");

      const planned = strategyNames().flatMap((name) => [
        `tiny-sharded/${name}/host/cold`,
        `tiny-sharded/${name}/host/warm`,
      ]);
      const ids = profile.cases.map((c) => c.id);
      assert.deepEqual(ids, planned, "every case exactly once, in plan order");
      // A strategy this machine cannot run (gds without libcufile) is skipped with its reason.
      assert.ok(
        profile.cases.every((c) => c.state === "completed" || (c.state === "skipped" && c.reason)),
        await logText(),
      );
      assert.deepEqual(profile.merged, { mode: "shards", sources: 3, missing: [] });
      const nodes = profile.nodes!;
      assert.deepEqual(nodes.map((n) => n.shard?.index), [1, 2, 3]);
      if (!BENCH_READS_SLURM) {
        console.log(
          "note: deno.json's measure permission set does not let it read SLURM_*: ids not checked",
        );
      }
      for (const n of nodes) {
        const scheduler = n.node?.scheduler;
        if (!BENCH_READS_SLURM) continue;
        assert.equal(scheduler?.kind, "slurm");
        assert.equal(scheduler.jobId, arrayJob, "the array job");
        assert.equal(scheduler.taskId, n.shard?.index.toString(), "the array task is the shard");
        assert.equal(n.label, "localhost", "SLURMD_NODENAME");
      }
    } finally {
      await slurm.stop();
    }
  },
);
