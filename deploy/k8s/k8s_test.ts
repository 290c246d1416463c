/**
 * The Kubernetes manifests, checked offline: every YAML document parses
 * (`yaml`), validates against the Kubernetes OpenAPI schema of its kind
 * (`kubernetes-models`: types, enums, required fields, quantities), and the
 * Jobs have the shape a fleet run needs — batch/v1 Indexed Jobs whose
 * completions, parallelism and shard count agree, a GPU limit, volume mounts
 * of declared volumes backed by the claims in results-pvc.yaml, the downward
 * API ids weightbench records, and a shell command that parses (`sh -n`), maps
 * JOB_COMPLETION_INDEX to a 1-based shard and uses only flags the commands
 * have. kubeconform is not available offline; this is what stands in for it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { benchCommand } from "../../bench/cli/bench_command.ts";
import { mergeCommand } from "../../bench/cli/merge_command.ts";
import { reportCommand } from "../../bench/cli/report_command.ts";

const DIR = fileURLToPath(new URL(".", import.meta.url));

// deno-lint-ignore no-explicit-any
type Doc = any;

async function documents(file: string): Promise<Doc[]> {
  const text = await Deno.readTextFile(join(DIR, file));
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS();
  });
}

async function helpOf(command: (args: string[]) => Promise<number>): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    await command(["--help"]);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

const HELP = {
  bench: await helpOf(benchCommand),
  merge: await helpOf(mergeCommand),
  report: await helpOf(reportCommand),
};

/**
 * Every `deno task NAME --flag` (or `"${deno[@]}" task NAME`) in a script uses
 * a flag that NAME's help lists; returns how many calls it checked.
 */
function assertKnownFlags(script: string, where: string): number {
  const calls = script.replace(/\\\n/g, " ").split(/(?:\bdeno|"\$\{deno\[@\]\}")\s+task\s+/)
    .slice(1);
  for (const call of calls) {
    const name = call.split(/\s/)[0] as keyof typeof HELP;
    assert.ok(name in HELP, `${where}: deno task ${name}`);
    const flags = call.split(/[;&|\n]|\bthen\b|\bfi\b/)[0]!.match(/(?<=\s)--?[a-z][a-z-]*/g) ??
      [];
    for (const flag of flags) {
      assert.ok(
        new RegExp(`(^|[\\s,])${flag}([\\s,=]|$)`, "m").test(HELP[name]),
        `${where}: "${flag}" is not a flag of deno task ${name}`,
      );
    }
  }
  return calls.length;
}

async function shellParses(script: string, where: string): Promise<void> {
  const result = await new Deno.Command("sh", { args: ["-n", "-c", script], stderr: "piped" })
    .output();
  assert.equal(result.code, 0, `${where}: ${new TextDecoder().decode(result.stderr)}`);
}

function env(container: Doc): Map<string, Doc> {
  return new Map((container.env ?? []).map((e: Doc) => [e.name, e]));
}

const claims = new Set<string>();
for (const doc of await documents("results-pvc.yaml")) claims.add(doc.metadata.name);

Deno.test("k8s: every manifest validates against the Kubernetes schema of its kind", async () => {
  const files = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".yaml"))
    .sort();
  assert.deepEqual(files, [
    "herd-job.yaml",
    "merge-job.yaml",
    "results-pvc.yaml",
    "shards-job.yaml",
  ]);
  for (const file of files) {
    for (const doc of await documents(file)) {
      const where = `${file}: ${doc.kind} ${doc.metadata?.name}`;
      if (doc.kind === "Job") {
        assert.equal(doc.apiVersion, "batch/v1", where);
        new Job(doc).validate();
      } else if (doc.kind === "PersistentVolumeClaim") {
        assert.equal(doc.apiVersion, "v1", where);
        new PersistentVolumeClaim(doc).validate();
        assert.deepEqual(doc.spec.accessModes, ["ReadWriteMany"], `${where}: shared by every pod`);
      } else {
        assert.fail(`${where}: unexpected kind`);
      }
    }
  }
});

Deno.test("k8s: the validator does catch a broken Job", async () => {
  const [job] = await documents("shards-job.yaml");
  const broken = structuredClone(job);
  broken.spec.completionMode = "indexed";
  broken.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"] = "one";
  assert.throws(() => new Job(broken).validate(), /completionMode|nvidia/);
});

for (
  const [file, flag, count] of [
    ["shards-job.yaml", "--shard", "WB_SHARDS"],
    ["herd-job.yaml", "--herd", "WB_MEMBERS"],
  ] as const
) {
  Deno.test(`k8s: ${file} is an Indexed Job, one pod per ${flag} index, on a GPU each`, async () => {
    const [job] = await documents(file);
    const spec = job.spec;
    assert.equal(spec.completionMode, "Indexed");
    assert.ok(Number.isInteger(spec.completions) && spec.completions >= 1);
    assert.equal(spec.parallelism, spec.completions, "every index runs at once");
    assert.equal(spec.template.spec.restartPolicy, "Never");
    assert.equal(spec.backoffLimitPerIndex, 0, "a failed index neither retries nor stops others");
    const [container] = spec.template.spec.containers;
    assert.equal(spec.template.spec.containers.length, 1);
    assert.ok(container.resources.limits["nvidia.com/gpu"] >= 1, "a GPU per pod");
    const vars = env(container);
    assert.equal(vars.get(count)?.value, String(spec.completions), `${count} = completions`);
    assert.equal(
      vars.get("JOB_NAME")?.valueFrom?.fieldRef?.fieldPath,
      "metadata.labels['batch.kubernetes.io/job-name']",
    );
    assert.equal(vars.get("NODE_NAME")?.valueFrom?.fieldRef?.fieldPath, "spec.nodeName");
    assert.equal(vars.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");

    const volumes = new Map(spec.template.spec.volumes.map((v: Doc) => [v.name, v]));
    for (const mount of container.volumeMounts) {
      assert.ok(volumes.has(mount.name), `mount "${mount.name}" has a volume`);
    }
    for (const volume of volumes.values() as Iterable<Doc>) {
      if (volume.persistentVolumeClaim) {
        assert.ok(claims.has(volume.persistentVolumeClaim.claimName), volume.name);
      }
    }
    const mounts = container.volumeMounts.map((m: Doc) => m.mountPath);
    assert.ok(mounts.includes("/results"), "results on the shared volume");

    assert.deepEqual(container.command, ["/bin/sh", "-c"]);
    const script: string = container.args[0];
    assert.ok(
      script.includes(`${flag} "$((JOB_COMPLETION_INDEX + 1))/$${count}"`),
      `completion index K is ${flag} K+1/N: ${script}`,
    );
    assert.ok(script.includes('--out "/results/'), "profiles go to the shared volume");
    await shellParses(script, file);
    assert.equal(assertKnownFlags(script, file), 1);
    const cache = vars.get("WEIGHTBENCH_CACHE")?.value as string;
    assert.ok(mounts.some((m: string) => cache.startsWith(m)), "the fixture cache is on a volume");
  });
}

Deno.test("k8s: the herd's pods land on different nodes and load from the shared store", async () => {
  const [job] = await documents("herd-job.yaml");
  const affinity = job.spec.template.spec.affinity.podAntiAffinity
    .requiredDuringSchedulingIgnoredDuringExecution[0];
  assert.equal(affinity.topologyKey, "kubernetes.io/hostname");
  assert.deepEqual(
    affinity.labelSelector.matchLabels,
    job.spec.template.metadata.labels && {
      "app.kubernetes.io/component":
        job.spec.template.metadata.labels["app.kubernetes.io/component"],
    },
  );
  const [container] = job.spec.template.spec.containers;
  const models = job.spec.template.spec.volumes.find((v: Doc) => v.name === "models");
  assert.equal(models.persistentVolumeClaim.claimName, "weightbench-models");
  assert.match(env(container).get("WEIGHTBENCH_CACHE").value, /^\/models\//);
  assert.ok(container.args[0].includes("--barrier"));
});

Deno.test("k8s: the merge Job merges the run's parts and writes the report, without a GPU", async () => {
  const [job] = await documents("merge-job.yaml");
  const [container] = job.spec.template.spec.containers;
  assert.equal(container.resources.limits["nvidia.com/gpu"], undefined);
  const script: string = container.args[0];
  await shellParses(script, "merge-job.yaml");
  assert.equal(assertKnownFlags(script, "merge-job.yaml"), 3);
  assert.match(script, /deno task merge "\$dir\/\$WB_PARTS" -o "\$dir\/merged.json"/);
  assert.match(script, /deno task report "\$dir\/merged.json" -o "\$dir\/merged.html"/);
  const [shards] = await documents("shards-job.yaml");
  assert.equal(
    env(container).get("WB_RUN").value,
    env(shards.spec.template.spec.containers[0]).get("WB_RUN").value,
    "the merge reads the folder the shards write",
  );
});

Deno.test("slurm: the batch scripts parse and use only real flags", async () => {
  const slurm = join(DIR, "../slurm");
  for (
    const file of [
      "weightbench-shards.sbatch",
      "weightbench-merge.sbatch",
      "weightbench-herd.sbatch",
      "submit.sh",
    ]
  ) {
    const text = await Deno.readTextFile(join(slurm, file));
    const result = await new Deno.Command("bash", {
      args: ["-n", join(slurm, file)],
      stderr: "piped",
    })
      .output();
    assert.equal(result.code, 0, `${file}: ${new TextDecoder().decode(result.stderr)}`);
    assert.ok(assertKnownFlags(text, file) >= (file === "submit.sh" ? 0 : 1), file);
  }
  assert.throws(
    () => assertKnownFlags(`"\${deno[@]}" task bench --shard 1/2 --shrad 2`, "x"),
    /"--shrad" is not a flag of deno task bench/,
  );
  const shards = await Deno.readTextFile(join(slurm, "weightbench-shards.sbatch"));
  assert.match(shards, /^#SBATCH --gres=gpu:1$/m, "a GPU per array task");
  assert.match(shards, /--shard "\$index\/\$count"/);
  const submit = await Deno.readTextFile(join(slurm, "submit.sh"));
  assert.match(submit, /--array="1-\$count"/, "array tasks count from 1, as shards do");
  assert.match(
    submit,
    /--dependency="afterany:\$array"/,
    "the merge runs even after a failed shard",
  );
});
