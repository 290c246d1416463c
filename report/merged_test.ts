import assert from "node:assert/strict";
import { mergeProfiles } from "../bench/compare/merge_profiles.ts";
import { herdProfiles, shardedProfiles } from "../bench/compare/_testing.ts";
import { syntheticProfile } from "../profiles/_synthetic.ts";
import { buildReport } from "./model.ts";
import { renderHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";
import { INJECTION } from "./_fixtures.ts";

const ASSETS = { chartJs: "/* chart.js */", clientJs: "/* client */" };

Deno.test("report of merged shards: each case's node, the nodes, and an environment column per node", () => {
  const merged = mergeProfiles(shardedProfiles(3)).profile;
  const report = buildReport([{ profile: merged, source: "merged.json" }]);
  const p = report.profiles[0]!;
  assert.deepEqual(p.cases.map((c) => c.node), [
    "gpu-01",
    "gpu-02",
    "gpu-03",
    "gpu-01",
    "gpu-02",
    "gpu-03",
  ]);
  assert.equal(p.cases[0]!.label, "full-read · cold", "no node in labels that are unique anyway");
  assert.deepEqual(
    p.nodes.map((n) => [n.label, n.part, n.scheduler, n.completed, n.skipped, n.errored]),
    [
      ["gpu-01", "shard 1/3", "slurm job 500, task 1", 2, 0, 0],
      ["gpu-02", "shard 2/3", "slurm job 500, task 2", 1, 1, 0],
      ["gpu-03", "shard 3/3", "slurm job 500, task 3", 1, 0, 1],
    ],
  );
  assert.deepEqual(p.nodes[1]!.environment.slice(0, 3), [
    ["node", "gpu-02"],
    ["part of the run", "shard 2/3"],
    ["scheduler", "slurm job 500, task 2"],
  ]);
  assert.equal(p.herd, null);

  const html = renderHtml(report, ASSETS);
  assert.ok(html.includes("<th>case</th><th>node</th>"), "a node column");
  assert.ok(html.includes('<td class="node">gpu-03</td>'));
  assert.ok(html.includes('<table class="nodes">'));
  assert.ok(
    html.includes("<th>gpu-01 (shard 1/3)</th><th>gpu-02 (shard 2/3)</th>"),
    "env per node",
  );
  assert.ok(html.includes("Merged from 3 shards"));
  const md = renderMarkdown(report);
  assert.match(md, /\| full-read · cold \| gpu-01 \| /);
  assert.match(md, /\| gpu-02 \| shard 2\/3 \| slurm job 500, task 2 \| gpu-02 \| 1 \| 0 \| 1 \|/);
});

Deno.test("report of a merged herd: per-node labels, the herd table with spread and fleet GB/s", () => {
  const merged = mergeProfiles(herdProfiles(3)).profile;
  const report = buildReport([{ profile: merged }]);
  const p = report.profiles[0]!;
  assert.equal(p.cases[0]!.label, "full-read · cold · node-1", "the node tells the copies apart");
  assert.equal(p.herd?.members, 3);
  const html = renderHtml(report, ASSETS);
  assert.ok(html.includes('<table class="herd">'));
  assert.ok(html.includes('<th class="num">node-3</th>'));
  assert.match(html, /2\.00×/, "the slowest node takes twice as long");
  assert.ok(html.includes('href="#profile-0-herd"'));
  const md = renderMarkdown(report);
  assert.match(
    md,
    /\| case \| node-1 \| node-2 \| node-3 \| spread \| start skew \| fleet GB\/s \|/,
  );
});

Deno.test("report of merged profiles: node names are escaped, a missing shard is shown, and a plain profile is unchanged", () => {
  const shards = shardedProfiles(3);
  const hostile = {
    ...shards[0]!,
    profile: { ...shards[0]!.profile, node: { name: INJECTION, host: "h", scheduler: null } },
  };
  const merged = mergeProfiles([hostile, shards[1]!], { allowMissing: true }).profile;
  const html = renderHtml(buildReport([{ profile: merged }]), ASSETS);
  assert.ok(!html.includes("<script>alert(1)"), "escaped");
  assert.ok(html.includes("Missing from this merge: shard 3/3 of &quot;synthetic&quot;"));
  const plain = buildReport([{ profile: syntheticProfile() }]).profiles[0]!;
  assert.deepEqual(plain.nodes, []);
  assert.equal(plain.merged, null);
  assert.ok(plain.cases.every((c) => c.node === null));
  assert.ok(
    !renderHtml(buildReport([{ profile: syntheticProfile() }]), ASSETS).includes("<th>node</th>"),
  );
});

Deno.test("compare of two merged runs matches cases by id and tells each case's node", async () => {
  const { compareProfiles } = await import("../bench/compare/compare_profiles.ts");
  const { renderComparisonTable } = await import("./compare_text.ts");
  const a = mergeProfiles(shardedProfiles(2)).profile;
  const b = mergeProfiles(shardedProfiles(3)).profile;
  const result = compareProfiles(a, b);
  assert.deepEqual(result.cases.map((c) => c.id), a.cases.map((c) => c.id));
  assert.equal(result.cases[2]!.baseline?.node, "gpu-01");
  assert.equal(result.cases[2]!.current?.node, "gpu-03");
  assert.match(renderComparisonTable(result), /on gpu-01 .*on gpu-03/);
  const mixed = structuredClone(b) as unknown as {
    nodes: { environment: { cpu: { model: string } } }[];
  };
  // Replaced, not edited: structuredClone keeps the nodes' shared cpu object shared.
  mixed.nodes[1]!.environment.cpu = { ...mixed.nodes[1]!.environment.cpu, model: "Other CPU" };
  const warned = compareProfiles(a, mixed as unknown as typeof b);
  assert.ok(warned.warnings.some((w) => /merges 3 nodes of 2 kinds of machine/.test(w)));
});
