import assert from "node:assert/strict";
import { detectNode, SCHEDULER_VARIABLES } from "./scheduler.ts";

const reader = (env: Record<string, string>) => (name: string) => env[name];

Deno.test("detectNode: a Slurm array task records the array job, the task and the node", () => {
  const node = detectNode(
    reader({
      SLURM_JOB_ID: "1043",
      SLURM_ARRAY_JOB_ID: "1040",
      SLURM_ARRAY_TASK_ID: "3",
      SLURM_ARRAY_TASK_COUNT: "4",
      SLURM_NODEID: "0",
      SLURMD_NODENAME: "gpu-07",
      PATH: "/usr/bin",
    }),
    "gpu-07.example",
  );
  assert.deepEqual(node, {
    name: "gpu-07",
    host: "gpu-07.example",
    scheduler: {
      kind: "slurm",
      jobId: "1040",
      taskId: "3",
      env: {
        SLURM_JOB_ID: "1043",
        SLURM_ARRAY_JOB_ID: "1040",
        SLURM_ARRAY_TASK_ID: "3",
        SLURM_ARRAY_TASK_COUNT: "4",
        SLURM_NODEID: "0",
        SLURMD_NODENAME: "gpu-07",
      },
    },
  });
});

Deno.test("detectNode: a plain Slurm job step uses the job id and the task rank", () => {
  const node = detectNode(reader({ SLURM_JOB_ID: "77", SLURM_PROCID: "5" }), "n1");
  assert.equal(node.scheduler?.jobId, "77");
  assert.equal(node.scheduler?.taskId, "5");
  assert.equal(node.name, "n1");
});

Deno.test("detectNode: an Indexed Job pod records the completion index and the Kubernetes node", () => {
  const node = detectNode(
    reader({
      JOB_COMPLETION_INDEX: "0",
      JOB_NAME: "weightbench-shards",
      POD_NAME: "weightbench-shards-0-abcde",
      NODE_NAME: "gke-pool-a100-1",
      HOSTNAME: "weightbench-shards-0-abcde",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    }),
    "weightbench-shards-0-abcde",
  );
  assert.equal(node.name, "gke-pool-a100-1");
  assert.equal(node.scheduler?.kind, "kubernetes");
  assert.equal(node.scheduler?.jobId, "weightbench-shards");
  assert.equal(node.scheduler?.taskId, "0");
  assert.ok(!("KUBERNETES_SERVICE_HOST" in node.scheduler!.env), "addresses are not ids");
});

Deno.test("detectNode: no scheduler, and --node-label wins over every name", () => {
  assert.deepEqual(detectNode(reader({}), "laptop"), {
    name: "laptop",
    host: "laptop",
    scheduler: null,
  });
  assert.equal(
    detectNode(reader({ SLURM_JOB_ID: "1", SLURMD_NODENAME: "a" }), "h", "rack-2").name,
    "rack-2",
  );
  assert.equal(detectNode(reader({ SLURM_JOB_ID: " " }), "h").scheduler, null, "blank is unset");
});

Deno.test("SCHEDULER_VARIABLES lists every variable read, once", () => {
  const read: string[] = [];
  detectNode((name) => {
    read.push(name);
    return name === "SLURM_JOB_ID" || name === "JOB_COMPLETION_INDEX" ? "1" : undefined;
  }, "h");
  for (const name of read) assert.ok(SCHEDULER_VARIABLES.includes(name), name);
  assert.equal(new Set(SCHEDULER_VARIABLES).size, SCHEDULER_VARIABLES.length);
});
