/**
 * One profile from the profiles of a fleet run: the shards of one plan
 * (`bench --shard I/N` on N machines), the members of one herd
 * (`bench --herd I/N`), or, with `combine`, any profiles as given. A pure
 * function of its inputs.
 *
 * The merged profile is an ordinary profile (report, compare and every
 * reader take it) with two additions: `nodes`, one entry per source profile
 * with its shard, node, scheduler ids, environment and limits, and on each
 * case `node`, the index of the node that ran it. The top-level environment
 * is the first node's (its `host` names every node). Cases keep their ids;
 * where an id would repeat (every member of a herd runs every case, or
 * combined profiles share a case), each copy gets `@<node key>` and keeps the
 * original as `planId`.
 *
 * Refused, with one line naming the files: profiles of different scenarios
 * or plans, different shard counts, a mix of shards, herds and whole runs
 * (unless `combine`), a shard given twice, a shard holding a case that is not
 * its own, an already merged profile, and a missing shard — named as `2/3` —
 * unless `allowMissing`, which records it in `merged.missing`. Profiles of
 * another schema version are refused by `readProfile` before they get here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeProfiles } from "./merge_profiles.ts";
 * import { shardedProfiles } from "./_testing.ts";
 *
 * const { profile } = mergeProfiles(shardedProfiles(3));
 * assert.equal(profile.merged?.mode, "shards");
 * assert.equal(profile.nodes?.length, 3);
 * assert.deepEqual(profile.cases.map((c) => c.node), [0, 1, 2, 0, 1, 2]);
 * assert.throws(
 *   () => mergeProfiles(shardedProfiles(3).slice(0, 2)),
 *   /Missing shard 3\/3 of "synthetic"/,
 * );
 * ```
 *
 * @module
 */

import { InputError } from "../util/errors.ts";
import {
  type MachineLimits,
  type MergeInfo,
  type Profile,
  type ProfileCase,
  type ProfileNode,
  SCHEMA_VERSION,
  type ShardInfo,
  TOOL_VERSION,
} from "../../profiles/schema.ts";
import { safeName } from "../../profiles/files.ts";
import { shardOfCase } from "../run/shard.ts";

/** A profile to merge and the file it came from. */
export interface MergeInput {
  readonly profile: Profile;
  readonly source: string;
}

/** How to merge; every field is optional. */
export interface MergeOptions {
  /** Merge profiles of different scenarios, plans or kinds, as given. @default false */
  readonly combine?: boolean;
  /** Write the merged profile although shards are missing, and record which. @default false */
  readonly allowMissing?: boolean;
  /** The command line recorded in the merged profile. @default ["merge"] */
  readonly command?: readonly string[];
  readonly now?: Date;
}

/** The merged profile, and what its reader should know. */
export interface MergeResult {
  readonly profile: Profile;
  readonly warnings: readonly string[];
}

type Kind = "shard" | "herd" | "whole";

interface Entry {
  readonly profile: Profile;
  readonly source: string;
  readonly kind: Kind;
  readonly shard: ShardInfo | null;
}

/** Merges `inputs` (at least one) into one profile; throws {@link InputError} on refusal. */
export function mergeProfiles(
  inputs: readonly MergeInput[],
  options: MergeOptions = {},
): MergeResult {
  if (inputs.length === 0) {
    throw new InputError("Missing PROFILE: merge takes the profiles of a sharded or herd run");
  }
  const combine = options.combine ?? false;
  const entries = inputs.map(entryOf);
  refuseDuplicates(entries);
  if (!combine) refuseMixtures(entries);
  const groups = groupByPlan(entries);
  const { ordered, missing } = orderGroups(groups, options.allowMissing ?? false);
  const warnings: string[] = [];
  if (missing.length > 0) {
    warnings.push(`Merged without ${missing.join(", ")}: these shards are missing`);
  }
  const nodes = nodesOf(ordered, groups.size === 1 && entries[0]!.shard !== null);
  const mode = mergeMode(entries, groups.size, combine);
  const cases = mergedCases(ordered, nodes, mode);
  warnings.push(...differences(ordered));
  const createdAt = (options.now ?? new Date()).toISOString();
  const first = ordered[0]!.profile;
  const scenario = mergedScenario(ordered);
  const profile: Profile = {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: "weightbench", version: TOOL_VERSION },
    id: `${createdAt.replace(/[:.]/g, "-")}-${safeName(scenario.name)}-merged`,
    createdAt,
    command: [...(options.command ?? ["merge"])],
    scenario,
    environment: mergedEnvironment(ordered, nodes),
    limits: commonLimits(nodes.map((n) => n.limits)),
    targets: Object.assign({}, ...[...ordered].reverse().map((e) => e.profile.targets)),
    weights: uniqueBy(
      ordered.flatMap((e) => e.profile.weights),
      (w) => `${w.label} ${w.tensorBytes}`,
    ),
    run: {
      ...mergedSpan(ordered, createdAt),
      runs: first.run.runs,
      warmup: first.run.warmup,
      ...mergedState(ordered.map((e) => e.profile.run)),
    },
    cases,
    merged: { mode, sources: ordered.length, missing },
    nodes,
  };
  return { profile, warnings };
}

/** `input` as an entry to merge: refused when of another schema version or already merged. */
function entryOf({ profile, source }: MergeInput): Entry {
  if (profile.schemaVersion !== SCHEMA_VERSION) {
    throw new InputError(
      `Cannot merge "${source}": schemaVersion ${profile.schemaVersion} is not ${SCHEMA_VERSION}, the version this tool reads`,
    );
  }
  if (profile.merged || profile.nodes) {
    throw new InputError(
      `Cannot merge "${source}": it is already a merged profile; merge the profiles it was made from`,
    );
  }
  const shard = profile.shard ?? null;
  return { profile, source, kind: shard?.mode ?? "whole", shard };
}

/** The entries by plan: the shards or herd members of one plan together, each whole run alone. */
function groupByPlan(entries: readonly Entry[]): Map<string, Entry[]> {
  const groups = new Map<string, Entry[]>();
  for (const e of entries) {
    const key = e.shard ? `${e.kind} ${e.shard.count} ${e.shard.plan.digest}` : `whole ${e.source}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return groups;
}

/**
 * The entries in merge order: group by group, shards by index. Shards and
 * herd members are checked per plan, even when combined: none is dropped
 * silently; with `allowMissing`, the absent ones are listed in `missing`.
 */
function orderGroups(
  groups: ReadonlyMap<string, readonly Entry[]>,
  allowMissing: boolean,
): { ordered: Entry[]; missing: string[] } {
  const missing: string[] = [];
  const ordered: Entry[] = [];
  for (const group of groups.values()) {
    if (group[0]!.shard) {
      const byIndex = [...group].sort((a, b) => a.shard!.index - b.shard!.index);
      checkShardGroup(byIndex, missing, allowMissing);
      ordered.push(...byIndex);
    } else {
      ordered.push(...group);
    }
  }
  return { ordered, missing };
}

/** One node per entry, keyed by shard index when all are one plan's shards, else by position. */
function nodesOf(ordered: readonly Entry[], byShardIndex: boolean): ProfileNode[] {
  return ordered.map((e, position): ProfileNode => ({
    key: byShardIndex ? String(e.shard!.index) : String(position + 1),
    label: e.profile.node?.name ?? e.profile.environment.host,
    profile: e.profile.id,
    source: e.source,
    scenario: e.profile.scenario.name,
    shard: e.shard,
    node: e.profile.node ?? null,
    environment: e.profile.environment,
    limits: e.profile.limits ?? null,
    targets: e.profile.targets,
    run: e.profile.run,
    command: e.profile.command,
    cases: e.profile.cases.length,
  }));
}

/** What the merge made: one plan's shards, one herd, or, with `combine` across kinds, plans or scenarios, a combination. */
function mergeMode(
  entries: readonly Entry[],
  groupCount: number,
  combine: boolean,
): MergeInfo["mode"] {
  const kinds = new Set(entries.map((e) => e.kind));
  const scenarios = new Set(entries.map((e) => e.profile.scenario.name));
  if (combine && (kinds.size > 1 || groupCount > 1 || scenarios.size > 1)) return "combined";
  if (kinds.has("herd")) return "herd";
  if (kinds.has("shard")) return "shards";
  return "combined";
}

/**
 * Every entry's cases, each with the index of its node: in plan order for
 * shards and herds. An id that repeats gets `@<node key>` on each copy, which
 * keeps the original as `planId`.
 */
function mergedCases(
  ordered: readonly Entry[],
  nodes: readonly ProfileNode[],
  mode: MergeInfo["mode"],
): (ProfileCase & { node: number })[] {
  const cases = ordered.flatMap((e, n) => e.profile.cases.map((c) => ({ ...c, node: n })));
  if (mode === "shards" || mode === "herd") {
    cases.sort((a, b) => a.index - b.index || a.node - b.node);
  }
  const counts = new Map<string, number>();
  for (const c of cases) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
  return cases.map((c) =>
    counts.get(c.id)! > 1 ? { ...c, id: `${c.id}@${nodes[c.node]!.key}`, planId: c.id } : c
  );
}

/** The first entry's scenario, or when the entries ran several, one named after them all. */
function mergedScenario(ordered: readonly Entry[]): Profile["scenario"] {
  const first = ordered[0]!.profile;
  const names = [...new Set(ordered.map((e) => e.profile.scenario.name))];
  if (names.length === 1) return first.scenario;
  return {
    ...first.scenario,
    name: names.join(" + "),
    description: `combined from ${ordered.length} profiles of ${names.length} scenarios`,
  };
}

/** The first node's environment, its host naming every node and its storage every node's. */
function mergedEnvironment(
  ordered: readonly Entry[],
  nodes: readonly ProfileNode[],
): Profile["environment"] {
  const hosts = [...new Set(nodes.map((n) => n.label))];
  return {
    ...ordered[0]!.profile.environment,
    host: hosts.length === 1 ? hosts[0]! : describeHosts(hosts),
    storage: uniqueBy(
      ordered.flatMap((e) => e.profile.environment.storage),
      (s) => JSON.stringify(s),
    ),
  };
}

/** From the earliest start to the latest end among the entries (at `createdAt` when none has a start). */
function mergedSpan(
  ordered: readonly Entry[],
  createdAt: string,
): { startedAt: string; durationMs: number } {
  const starts = ordered.map((e) => Date.parse(e.profile.run.startedAt)).filter(Number.isFinite);
  const ends = ordered.map((e) => Date.parse(e.profile.run.startedAt) + e.profile.run.durationMs)
    .filter(Number.isFinite);
  const startedAt = starts.length > 0 ? Math.min(...starts) : Date.parse(createdAt);
  return {
    startedAt: new Date(startedAt).toISOString(),
    durationMs: ends.length > 0 ? Math.max(...ends) - startedAt : 0,
  };
}

function describe(e: Entry): string {
  return e.shard ? `${e.kind} ${e.shard.index}/${e.shard.count}` : "a whole run";
}

function refuseDuplicates(entries: readonly Entry[]): void {
  const seen = new Map<string, Entry>();
  for (const e of entries) {
    const earlier = seen.get(e.profile.id);
    if (earlier) {
      throw new InputError(
        `Cannot merge "${earlier.source}" and "${e.source}": they are the same profile (${e.profile.id})`,
      );
    }
    seen.set(e.profile.id, e);
  }
}

function refuseMixtures(entries: readonly Entry[]): void {
  const first = entries[0]!;
  for (const e of entries.slice(1)) {
    const a = first.profile.scenario.name;
    const b = e.profile.scenario.name;
    if (a !== b) {
      throw new InputError(
        `Cannot merge profiles of different scenarios: "${first.source}" ran "${a}", "${e.source}" ran "${b}" (--combine merges them anyway)`,
      );
    }
    if (first.kind !== e.kind) {
      throw new InputError(
        `Cannot merge "${first.source}" (${describe(first)}) with "${e.source}" (${
          describe(e)
        }) of scenario "${a}" (--combine merges them anyway)`,
      );
    }
    if (first.shard && e.shard) {
      if (first.shard.count !== e.shard.count) {
        throw new InputError(
          `Cannot merge "${first.source}" (${describe(first)}) with "${e.source}" (${
            describe(e)
          }): different shard counts (--combine merges them anyway)`,
        );
      }
      if (first.shard.plan.digest !== e.shard.plan.digest) {
        throw new InputError(
          `Cannot merge "${first.source}" and "${e.source}": different plans of scenario "${a}" (${first.shard.plan.cases} and ${e.shard.plan.cases} cases, digests ${first.shard.plan.digest} and ${e.shard.plan.digest}); run every shard with the same scenario and flags (--combine merges them anyway)`,
        );
      }
    }
    if (first.kind === "whole" && e.kind === "whole") {
      throw new InputError(
        `Cannot merge "${first.source}" and "${e.source}": neither is a shard (bench --shard I/N) or a herd member (bench --herd I/N); --combine merges whole runs as they are`,
      );
    }
  }
}

/** One plan's shards (or herd members), sorted by index: none twice, none missing, each case its own. */
function checkShardGroup(group: readonly Entry[], missing: string[], allowMissing: boolean): void {
  const { count, mode } = group[0]!.shard!;
  const scenario = group[0]!.profile.scenario.name;
  const noun = mode === "herd" ? "member" : "shard";
  const byIndex = new Map<number, Entry>();
  for (const e of group) {
    const earlier = byIndex.get(e.shard!.index);
    if (earlier) {
      throw new InputError(
        `${capitalize(noun)} ${
          e.shard!.index
        }/${count} of "${scenario}" given twice: "${earlier.source}" and "${e.source}"`,
      );
    }
    byIndex.set(e.shard!.index, e);
    checkOwnCases(e, group[0]!.shard!);
  }
  const absent = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (absent.length > 0 && !allowMissing) refuseAbsent(group, absent, noun, scenario);
  missing.push(...absent.map((i) => `${noun} ${i}/${count} of "${scenario}"`));
  if (mode === "shard" && absent.length === 0) checkPlanCovered(group, scenario);
}

/**
 * A shard's or herd member's cases, against its group's `shard` info: each in
 * the plan, once, a shard's each its own; a herd member's all of them.
 */
function checkOwnCases(e: Entry, { count, plan, mode }: ShardInfo): void {
  const index = e.shard!.index;
  const ids = new Set<string>();
  for (const c of e.profile.cases) {
    if (c.index < 0 || c.index >= plan.cases || !Number.isInteger(c.index)) {
      throw new InputError(
        `Cannot merge "${e.source}": case "${c.id}" has plan index ${c.index}, outside the plan's ${plan.cases} cases`,
      );
    }
    if (mode === "shard" && shardOfCase(c.index, count) !== index) {
      throw new InputError(
        `Cannot merge "${e.source}": shard ${index}/${count} holds case "${c.id}", which belongs to shard ${
          shardOfCase(c.index, count)
        }/${count}`,
      );
    }
    if (ids.has(c.id)) {
      throw new InputError(`Cannot merge "${e.source}": it holds case "${c.id}" twice`);
    }
    ids.add(c.id);
  }
  if (mode === "herd" && e.profile.cases.length !== plan.cases) {
    throw new InputError(
      `Cannot merge "${e.source}": herd member ${index}/${count} holds ${e.profile.cases.length} cases, its plan ${plan.cases}`,
    );
  }
}

/** Throws naming the `absent` shard indexes of `group` and the profiles given. */
function refuseAbsent(
  group: readonly Entry[],
  absent: readonly number[],
  noun: string,
  scenario: string,
): never {
  const { count } = group[0]!.shard!;
  const names = absent.map((i) => `${i}/${count}`);
  throw new InputError(
    `Missing ${noun}${absent.length === 1 ? "" : "s"} ${joinAnd(names)} of "${scenario}": ` +
      `no profile among the ${group.length} given (${
        group.map((e) => `${e.shard!.index}/${count} "${e.source}"`).join(", ")
      }) records ${absent.length === 1 ? "it" : "them"} (--allow-missing merges without ${
        absent.length === 1 ? "it" : "them"
      })`,
  );
}

/** Every shard present: together they must hold every case of the plan. */
function checkPlanCovered(group: readonly Entry[], scenario: string): void {
  const { plan } = group[0]!.shard!;
  const total = group.reduce((sum, e) => sum + e.profile.cases.length, 0);
  if (total === plan.cases) return;
  const have = new Set(group.flatMap((e) => e.profile.cases.map((c) => c.index)));
  const lost = Array.from({ length: plan.cases }, (_, i) => i).filter((i) => !have.has(i));
  throw new InputError(
    `Cannot merge the shards of "${scenario}": they hold ${total} cases, the plan ${plan.cases}${
      lost.length > 0
        ? `; plan case${lost.length === 1 ? "" : "s"} ${
          lost.slice(0, 5).map((i) => i + 1).join(", ")
        } in no profile`
        : ""
    }`,
  );
}

/** Things that differ between nodes and matter to the reader. */
function differences(entries: readonly Entry[]): string[] {
  const out: string[] = [];
  const distinct = <T>(pick: (p: Profile) => T) => [
    ...new Set(entries.map((e) => JSON.stringify(pick(e.profile)))),
  ];
  if (distinct((p) => p.environment.git.commit).length > 1) {
    out.push(
      `The nodes ran different commits (${
        distinct((p) => p.environment.git.commit?.slice(0, 10) ?? null).join(", ")
      })`,
    );
  }
  if (distinct((p) => [p.run.runs, p.run.warmup]).length > 1) {
    out.push("The nodes took different numbers of samples per case");
  }
  if (distinct((p) => p.tool.version).length > 1) {
    out.push(`The nodes ran different weightbench versions (${distinct((p) => p.tool.version)})`);
  }
  return out;
}

function commonLimits(limits: readonly (MachineLimits | null)[]): MachineLimits | null {
  const texts = new Set(limits.map((l) => JSON.stringify(l)));
  return texts.size === 1 ? limits[0] ?? null : null;
}

function describeHosts(hosts: readonly string[]): string {
  const shown = hosts.slice(0, 4).join(", ");
  return `${hosts.length} nodes: ${shown}${hosts.length > 4 ? `, +${hosts.length - 4} more` : ""}`;
}

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function joinAnd(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A merged run is complete only when every node's was; else the worst state, with its signal. */
function mergedState(
  runs: readonly Profile["run"][],
): Pick<Profile["run"], "state" | "interruptedBy"> {
  const interrupted = runs.find((r) => r.state === "interrupted");
  if (interrupted !== undefined) {
    return {
      state: "interrupted",
      ...(interrupted.interruptedBy === undefined
        ? {}
        : { interruptedBy: interrupted.interruptedBy }),
    };
  }
  return { state: runs.some((r) => r.state === "running") ? "running" : "complete" };
}
