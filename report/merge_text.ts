/**
 * What `merge` prints: one row per node (its shard or herd member, the
 * scheduler's job and task, how many of its cases completed), and for a herd
 * one row per case with every node's median load time, the spread between
 * the fastest and slowest node, the start skew and the fleet's throughput.
 * Pure functions of a merged profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderMergeSummary } from "./merge_text.ts";
 * import { mergeProfiles } from "../bench/compare/merge_profiles.ts";
 * import { shardedProfiles } from "../bench/compare/_testing.ts";
 *
 * const text = renderMergeSummary(mergeProfiles(shardedProfiles(2)).profile);
 * assert.match(text, /synthetic: 6 cases from 2 shards on 2 nodes/);
 * assert.match(text, /│ gpu-02 +│ 2\/2 +│ slurm 500\.2 +│/);
 * ```
 *
 * @module
 */

import Table from "cli-table3";
import type { Profile } from "../profiles/schema.ts";
import { formatDuration } from "./table.ts";
import { herdSummary } from "../bench/compare/herd.ts";

/** The node table, and for a herd the per-case table. */
export function renderMergeSummary(profile: Profile): string {
  const nodes = profile.nodes ?? [];
  const mode = profile.merged?.mode ?? "combined";
  const sourcesNoun = mode === "shards" ? "shards" : mode === "herd" ? "herd members" : "profiles";
  const lines = [
    `${profile.scenario.name}: ${profile.cases.length} case${
      profile.cases.length === 1 ? "" : "s"
    } from ${nodes.length} ${sourcesNoun} on ${new Set(nodes.map((n) => n.label)).size} node${
      new Set(nodes.map((n) => n.label)).size === 1 ? "" : "s"
    }`,
  ];
  const table = new Table({
    head: [
      "node",
      mode === "herd" ? "member" : mode === "shards" ? "shard" : "part",
      "scheduler",
      "cases",
      "run",
    ],
    style: { head: [], border: [] },
  });
  nodes.forEach((n, i) => {
    const own = profile.cases.filter((c) => c.node === i);
    const states = ["completed", "errored", "skipped"].map((state) =>
      [
        state,
        own.filter((c) => c.state === state).length,
      ] as const
    ).filter(([, count]) => count > 0);
    const scheduler = n.node?.scheduler;
    table.push([
      n.label,
      n.shard
        ? `${mode === "combined" ? `${n.shard.mode} ` : ""}${n.shard.index}/${n.shard.count}`
        : mode === "combined"
        ? "whole run"
        : "—",
      scheduler
        ? `${scheduler.kind} ${scheduler.jobId ?? "?"}${
          scheduler.taskId === null ? "" : `.${scheduler.taskId}`
        }`
        : "—",
      states.length === 0 ? "none" : states.map(([state, count]) => `${count} ${state}`).join(", "),
      `${n.run.startedAt.slice(0, 19).replace("T", " ")} · ${formatDuration(n.run.durationMs)}`,
    ]);
  });
  lines.push(table.toString());
  for (const missing of profile.merged?.missing ?? []) lines.push(`missing: ${missing}`);

  const herd = herdSummary(profile);
  if (herd) {
    const start = herd.start
      ? `synchronised start ${new Date(herd.start.startAt).toISOString()} (${
        herd.start.source === "start-at" ? "--start-at" : `barrier ${herd.start.source}`
      }), one load every ${herd.start.slotMs / 1000} s`
      : "start not synchronised (no --start-at or --barrier)";
    lines.push(`herd of ${herd.members}: ${start}`);
    const herdTable = new Table({
      head: ["case", ...herd.nodes, "spread", "start skew", "fleet GB/s"],
      style: { head: [], border: [] },
    });
    for (const c of herd.cases) {
      herdTable.push([
        `${c.strategy} · ${c.cache}`,
        ...herd.nodes.map((_, node) => {
          const r = c.nodes.find((n) => n.node === node);
          if (!r) return "—";
          if (r.medianMs === null) return r.state;
          return `${formatDuration(r.medianMs)}${
            r.lateMs !== null && r.lateMs > 1000 ? ` (late ${formatDuration(r.lateMs)})` : ""
          }`;
        }),
        c.spread === null ? "—" : `${c.spread.toFixed(2)}×`,
        c.startSkewMs === null ? "—" : formatDuration(c.startSkewMs),
        c.fleetGBps === null
          ? "—"
          : c.fleetGBps >= 0.1
          ? c.fleetGBps.toFixed(2)
          : c.fleetGBps.toPrecision(2),
      ]);
    }
    lines.push(herdTable.toString());
    lines.push(
      "spread: slowest node's median / fastest's; start skew: first to last node's load start; " +
        "fleet GB/s: every node's bytes over first start to last finish",
    );
  }
  return `${lines.join("\n")}\n`;
}
