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
  safeName,
  SCHEMA_VERSION,
  type ShardInfo,
  TOOL_VERSION,
} from "../../profiles/profile.ts";
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
  const warnings: string[] = [];
  const entries = inputs.map(({ profile, source }): Entry => {
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
  });
  refuseDuplicates(entries);
  if (!combine) refuseMixtures(entries);

  // Shards and herd members are checked per plan, even when combined: none is dropped silently.
  const groups = new Map<string, Entry[]>();
  for (const e of entries) {
    const key = e.shard ? `${e.kind} ${e.shard.count} ${e.shard.plan.digest}` : `whole ${e.source}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const missing: string[] = [];
  const ordered: Entry[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    if (first.shard) {
      const byIndex = [...group].sort((a, b) => a.shard!.index - b.shard!.index);
      checkShardGroup(byIndex, missing, options.allowMissing ?? false);
      ordered.push(...byIndex);
    } else {
      ordered.push(...group);
    }
  }
  if (missing.length > 0) {
    warnings.push(`Merged without ${missing.join(", ")}: these shards are missing`);
  }

  const single = groups.size === 1 && entries[0]!.shard !== null;
  const nodes = ordered.map((e, position): ProfileNode => ({
    key: single ? String(e.shard!.index) : String(position + 1),
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

  let cases: (ProfileCase & { node: number })[] = ordered.flatMap((e, n) =>
    e.profile.cases.map((c) => ({ ...c, node: n }))
  );
  const kinds = new Set(entries.map((e) => e.kind));
  const mode: MergeInfo["mode"] = combine && (kinds.size > 1 || groups.size > 1 ||
      new Set(entries.map((e) => e.profile.scenario.name)).size > 1)
    ? "combined"
    : kinds.has("herd")
    ? "herd"
    : kinds.has("shard")
    ? "shards"
    : "combined";
  if (mode === "shards") cases.sort((a, b) => a.index - b.index || a.node - b.node);
  if (mode === "herd") cases.sort((a, b) => a.index - b.index || a.node - b.node);
  const counts = new Map<string, number>();
  for (const c of cases) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
  cases = cases.map((c) =>
    counts.get(c.id)! > 1 ? { ...c, id: `${c.id}@${nodes[c.node]!.key}`, planId: c.id } : c
  );

  warnings.push(...differences(ordered));
  const first = ordered[0]!.profile;
  const createdAt = (options.now ?? new Date()).toISOString();
  const scenarioNames = [...new Set(ordered.map((e) => e.profile.scenario.name))];
  const scenarioName = scenarioNames.join(" + ");
  const starts = ordered.map((e) => Date.parse(e.profile.run.startedAt)).filter(Number.isFinite);
  const ends = ordered.map((e) => Date.parse(e.profile.run.startedAt) + e.profile.run.durationMs)
    .filter(Number.isFinite);
  const startedAt = starts.length > 0 ? Math.min(...starts) : Date.parse(createdAt);
  const hosts = [...new Set(nodes.map((n) => n.label))];
  const profile: Profile = {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: "weightbench", version: TOOL_VERSION },
    id: `${createdAt.replace(/[:.]/g, "-")}-${safeName(scenarioName)}-merged`,
    createdAt,
    command: [...(options.command ?? ["merge"])],
    scenario: scenarioNames.length === 1 ? first.scenario : {
      ...first.scenario,
      name: scenarioName,
      description: `combined from ${ordered.length} profiles of ${scenarioNames.length} scenarios`,
    },
    environment: {
      ...first.environment,
      host: hosts.length === 1 ? hosts[0]! : describeHosts(hosts),
      storage: uniqueBy(
        ordered.flatMap((e) => e.profile.environment.storage),
        (s) => JSON.stringify(s),
      ),
    },
    limits: commonLimits(nodes.map((n) => n.limits)),
    targets: Object.assign({}, ...[...ordered].reverse().map((e) => e.profile.targets)),
    weights: uniqueBy(
      ordered.flatMap((e) => e.profile.weights),
      (w) => `${w.label} ${w.tensorBytes}`,
    ),
    run: {
      startedAt: new Date(startedAt).toISOString(),
      durationMs: ends.length > 0 ? Math.max(...ends) - startedAt : 0,
      runs: first.run.runs,
      warmup: first.run.warmup,
    },
    cases,
    merged: { mode, sources: ordered.length, missing },
    nodes,
  };
  return { profile, warnings };
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
  const { count, plan, mode } = group[0]!.shard!;
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
    const ids = new Set<string>();
    for (const c of e.profile.cases) {
      if (c.index < 0 || c.index >= plan.cases || !Number.isInteger(c.index)) {
        throw new InputError(
          `Cannot merge "${e.source}": case "${c.id}" has plan index ${c.index}, outside the plan's ${plan.cases} cases`,
        );
      }
      if (mode === "shard" && shardOfCase(c.index, count) !== e.shard!.index) {
        throw new InputError(
          `Cannot merge "${e.source}": shard ${
            e.shard!.index
          }/${count} holds case "${c.id}", which belongs to shard ${
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
        `Cannot merge "${e.source}": herd member ${
          e.shard!.index
        }/${count} holds ${e.profile.cases.length} cases, its plan ${plan.cases}`,
      );
    }
  }
  const absent = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (absent.length > 0 && !allowMissing) {
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
  missing.push(...absent.map((i) => `${noun} ${i}/${count} of "${scenario}"`));
  if (mode === "shard" && absent.length === 0) {
    const total = group.reduce((sum, e) => sum + e.profile.cases.length, 0);
    if (total !== plan.cases) {
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
  }
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
