/**
 * Which machine of a fleet ran a profile, and under which scheduler job: the
 * node's name and the job, array task or pod ids that Slurm and Kubernetes
 * put in the environment. Read with {@link optionalEnv}, so a variable the
 * process may not read (the task's `--allow-env` list) counts as unset.
 *
 * Slurm: `SLURM_JOB_ID`, `SLURM_ARRAY_JOB_ID`, `SLURM_ARRAY_TASK_ID`,
 * `SLURM_ARRAY_TASK_COUNT`, `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_NODEID`,
 * `SLURMD_NODENAME`, `SLURM_CLUSTER_NAME`, `SLURM_JOB_NAME`.
 * Kubernetes: `JOB_COMPLETION_INDEX` (set on Indexed Job pods), and what the
 * manifests in `deploy/k8s/` pass through the downward API: `POD_NAME`,
 * `POD_NAMESPACE`, `NODE_NAME`, `JOB_NAME`; `HOSTNAME` is the pod's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectNode } from "./scheduler.ts";
 *
 * const env: Record<string, string> = {
 *   SLURM_JOB_ID: "1042", SLURM_ARRAY_JOB_ID: "1040", SLURM_ARRAY_TASK_ID: "2",
 *   SLURMD_NODENAME: "gpu-07",
 * };
 * const node = detectNode((name) => env[name], "gpu-07.cluster");
 * assert.equal(node.name, "gpu-07");
 * assert.equal(node.scheduler?.kind, "slurm");
 * assert.equal(node.scheduler?.jobId, "1040");
 * assert.equal(node.scheduler?.taskId, "2");
 * ```
 *
 * @module
 */

import { optionalEnv } from "../util/env.ts";
import type { NodeInfo, SchedulerIds } from "../../profiles/schema.ts";

/** The Slurm variables read, in the order they are recorded. */
export const SLURM_VARIABLES = [
  "SLURM_JOB_ID",
  "SLURM_ARRAY_JOB_ID",
  "SLURM_ARRAY_TASK_ID",
  "SLURM_ARRAY_TASK_COUNT",
  "SLURM_PROCID",
  "SLURM_NTASKS",
  "SLURM_NODEID",
  "SLURMD_NODENAME",
  "SLURM_CLUSTER_NAME",
  "SLURM_JOB_NAME",
] as const;

/** The Kubernetes variables read. */
export const KUBERNETES_VARIABLES = [
  "JOB_COMPLETION_INDEX",
  "JOB_NAME",
  "POD_NAME",
  "POD_NAMESPACE",
  "NODE_NAME",
  "HOSTNAME",
  "KUBERNETES_SERVICE_HOST",
] as const;

/** Every variable {@link detectNode} reads: the `--allow-env` list the bench task needs. */
export const SCHEDULER_VARIABLES: readonly string[] = [
  ...SLURM_VARIABLES,
  ...KUBERNETES_VARIABLES,
];

/** Node and scheduler ids from `read` (an environment lookup); `label` overrides the name. */
export function detectNode(
  read: (name: string) => string | undefined,
  host: string,
  label?: string,
): NodeInfo {
  const value = (name: string) => {
    const text = read(name)?.trim();
    return text === undefined || text === "" ? undefined : text;
  };
  const collect = (names: readonly string[]) => {
    const found: Record<string, string> = {};
    for (const name of names) {
      const v = value(name);
      if (v !== undefined) found[name] = v;
    }
    return found;
  };
  let scheduler: SchedulerIds | null = null;
  let nodeName: string | undefined;
  if (value("SLURM_JOB_ID") !== undefined) {
    scheduler = {
      kind: "slurm",
      jobId: value("SLURM_ARRAY_JOB_ID") ?? value("SLURM_JOB_ID") ?? null,
      taskId: value("SLURM_ARRAY_TASK_ID") ?? value("SLURM_PROCID") ?? null,
      env: collect(SLURM_VARIABLES),
    };
    nodeName = value("SLURMD_NODENAME");
  } else if (
    value("JOB_COMPLETION_INDEX") !== undefined || value("KUBERNETES_SERVICE_HOST") !== undefined
  ) {
    const env = collect(KUBERNETES_VARIABLES);
    delete env.KUBERNETES_SERVICE_HOST; // an address, not an id
    scheduler = {
      kind: "kubernetes",
      jobId: value("JOB_NAME") ?? null,
      taskId: value("JOB_COMPLETION_INDEX") ?? null,
      env,
    };
    nodeName = value("NODE_NAME") ?? value("POD_NAME") ?? value("HOSTNAME");
  }
  const given = label?.trim();
  return { name: given || nodeName || host, host, scheduler };
}

/** This process's node, from the environment it may read. */
export function currentNode(label?: string): NodeInfo {
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch {
    // --allow-sys=hostname not granted: the scheduler's names still tell the node.
  }
  return detectNode(optionalEnv, host, label);
}
