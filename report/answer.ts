/**
 * The answer first, in words: the verdict (fastest strategy cold and warm,
 * its throughput, its share of the machine's limit, how many times faster
 * than `full-read`, and whether that is sure or a tie), one line of advice
 * per target, and the projection of common model sizes. The numbers come
 * from `bench/compare/verdict.ts` and `bench/compare/projection.ts`; this
 * module only words them, the same words for the terminal, markdown and HTML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { variantProfile } from "../bench/compare/_testing.ts";
 * import { answerOf, renderAnswer } from "./answer.ts";
 *
 * const profile = variantProfile({
 *   durations: (c, ms) => (c.strategy.name === "mmap" ? ms / 2 : ms),
 * });
 * const text = renderAnswer(answerOf(profile));
 * assert.match(text, /^Cold: mmap is fastest/m);
 * assert.match(text, /^Advice for host: on this machine, load with mmap \(1\.9\d× full-read cold, 1\.8\d× warm\)\.$/m);
 * assert.ok(text.includes("405B · FP16 *"), "too large for this machine's memory");
 * assert.ok(text.split("\n").every((line) => line.length <= 100));
 * ```
 *
 * @module
 */

import type { Profile } from "../profiles/schema.ts";
import type { CacheState } from "../bench/core/cache_state.ts";
import {
  type AdvicePick,
  type CacheVerdict,
  MIN_SAMPLES_FOR_CI,
  type ProfileVerdict,
  profileVerdict,
  REFERENCE_STRATEGY,
} from "../bench/compare/verdict.ts";
import {
  COMMON_MODELS,
  MIN_PROJECTION_BYTES,
  type ModelSize,
  type ProjectedTime,
  projectLoadTimes,
  type TargetProjection,
} from "../bench/compare/projection.ts";
import { formatBytes } from "../bench/util/size.ts";
import { formatDuration, LIMIT_SLACK } from "./table.ts";
import { wrapText } from "./_wrap.ts";

/** The verdict, advice and projections of one profile. */
export interface Answer {
  readonly verdict: ProfileVerdict;
  readonly projections: readonly TargetProjection[];
}

/** The answer of `profile`, projecting the common model sizes and then `extra` (`--project`). */
export function answerOf(profile: Profile, extra: readonly ModelSize[] = []): Answer {
  return {
    verdict: profileVerdict(profile),
    projections: projectLoadTimes(profile, [...COMMON_MODELS, ...extra]),
  };
}

/** Whether an answer has anything to say: at least one completed case. */
export function hasAnswer(answer: Answer): boolean {
  return answer.verdict.groups.length > 0;
}

// ---------------------------------------------------------------------------
// Numbers

/** A projected load time: `0.87 s`, `12.3 s`, `4.2 min`, `1.3 h`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 100) return `${seconds.toFixed(1)} s`;
  if (seconds < 6000) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A model's size in decimal gigabytes, as model cards give it: `16 GB`, `202.5 GB`. */
export function formatModelBytes(bytes: number): string {
  const gb = bytes / 1e9;
  if (gb >= 1000) return `${(gb / 1000).toPrecision(3)} TB`;
  return `${Number(gb.toPrecision(4))} GB`;
}

/** A speed-up: `1.46×`. */
export function formatTimes(value: number): string {
  return `${value.toFixed(value >= 10 ? 1 : 2)}×`;
}

function gbps(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 0.1 ? value.toFixed(2) : value.toPrecision(2);
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/** `a`, `a and b`, `a, b and c`, `a, b, c and 3 more`. */
export function listWords(items: readonly string[], most = 3): string {
  if (items.length <= 1) return items[0] ?? "";
  const shown = items.length > most + 1 ? items.slice(0, most) : items.slice(0, -1);
  const last = items.length > most + 1 ? `${items.length - most} more` : items.at(-1)!;
  return `${shown.join(", ")} and ${last}`;
}

// ---------------------------------------------------------------------------
// Verdict

/** One sentence group of the verdict: a cache state of one weights and target. */
export interface VerdictLine {
  /** `cold`, or `llama-3-8b · host · cold` when the profile has several weights or targets. */
  readonly label: string;
  readonly cache: CacheState;
  /** The fastest strategy. */
  readonly strategy: string;
  readonly text: string;
}

/** The verdict in sentences, one entry per weights × target × cache state. */
export function verdictLines(verdict: ProfileVerdict): VerdictLine[] {
  const several = verdict.groups.length > 1;
  return verdict.groups.flatMap((g) =>
    g.caches.map((v) => {
      const label = several ? `${g.weights} · ${g.target} · ${v.cache}` : v.cache;
      return {
        label,
        cache: v.cache,
        strategy: v.fastest.strategy,
        text: `${capitalise(label)}: ${cacheSentence(v)}`,
      };
    })
  );
}

function cacheSentence(v: CacheVerdict): string {
  const f = v.fastest;
  const facts = [formatDuration(f.medianMs), `${gbps(f.gbps)} GB/s`];
  if (f.ofLimit) facts.push(`${percent(f.ofLimit.fraction)} of ${f.ofLimit.limit}`);
  const sentences = [
    `${f.strategy} is fastest — ${facts.join(", ")}; ${versusFullRead(v)}.`,
    certaintySentence(v),
  ];
  if (f.ofLimit && f.ofLimit.fraction > LIMIT_SLACK) {
    sentences.push(
      `That is above the ${f.ofLimit.limit} limit the probe measured (${
        gbps(f.ofLimit.limitGBps)
      } GB/s), which looks low: deno task probe measures it again.`,
    );
  }
  if (f.noisy) {
    sentences.push(
      `Its samples are noisy (CV ${
        percent(f.cv)
      }): more --runs on a quieter machine would firm this up.`,
    );
  }
  if (f.cacheUncertain) {
    sentences.push(`Its ${v.cache} page cache was not established in every sample.`);
  }
  return sentences.join(" ");
}

function versusFullRead(v: CacheVerdict): string {
  const f = v.fastest;
  if (v.fullRead === null) return `${REFERENCE_STRATEGY} was not measured`;
  if (v.fullRead.id === f.id) return `the naive loader, ${REFERENCE_STRATEGY}, is the fastest here`;
  return `${formatTimes(f.vsFullRead!)} faster than ${REFERENCE_STRATEGY}`;
}

function certaintySentence(v: CacheVerdict): string {
  switch (v.certainty) {
    case "sure":
      return "Sure: its 95% interval is apart from every other strategy's.";
    case "alone":
      return "It is the only strategy measured.";
    case "unsure": {
      const n = Math.min(v.fastest.samples, v.ranking[1]?.samples ?? v.fastest.samples);
      return `Not ranked for sure: n too small for a CI (${n} sample${
        n === 1 ? "" : "s"
      }; a 95% interval needs ${MIN_SAMPLES_FOR_CI}).`;
    }
    case "tie": {
      const names = v.withinNoise.map((c) => c.strategy);
      return `A tie within noise: ${listWords(names)} ${
        names.length === 1 ? "overlaps" : "overlap"
      } its 95% interval.`;
    }
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------
// Advice

/**
 * One sentence of advice per target: `Advice for host: on this machine, load
 * with mmap (1.43× full-read cold, 2.57× warm); prestaged is within noise of it.`
 */
export function adviceLines(verdict: ProfileVerdict): string[] {
  return verdict.advice.map((a) => {
    const on = a.severalWeights ? ` (${a.weights}, the largest weights measured)` : "";
    const picks = a.picks.map((p) => {
      const where = a.picks.length > 1 ? ` ${whenText(p.caches[0]!.cache)}` : "";
      return `${p.strategy}${where} (${gains(p)})${standing(p)}`;
    });
    const also = a.picks.filter((p) => p.alternatives.length > 0).map((p) =>
      `${listWords(p.alternatives)} ${p.alternatives.length === 1 ? "is" : "are"} within noise of ${
        a.picks.length > 1 ? `${p.strategy} ${p.caches[0]!.cache}` : "it"
      }`
    );
    return `Advice for ${a.target}${on}: on this machine, load with ${picks.join(" and ")}${
      also.length > 0 ? `; ${also.join("; ")}` : ""
    }.`;
  });
}

function whenText(cache: CacheState): string {
  return cache === "cold" ? "from cold storage" : "when the weights are in the page cache";
}

/** `1.43× full-read cold, 2.57× warm`; `the naive loader itself`; `full-read not measured`. */
function gains(p: AdvicePick): string {
  if (p.caches.every((c) => c.vsFullRead === null)) return `${REFERENCE_STRATEGY} not measured`;
  if (p.strategy === REFERENCE_STRATEGY) {
    return "the naive loader itself: nothing measured beats it";
  }
  return p.caches.map((c, i) => {
    const state = p.caches.length > 1 ? ` ${c.cache}` : "";
    if (c.vsFullRead === null) return `${REFERENCE_STRATEGY} not measured${state}`;
    return `${formatTimes(c.vsFullRead)}${i === 0 ? ` ${REFERENCE_STRATEGY}` : ""}${state}`;
  }).join(", ");
}

/** `: fastest warm, within noise of the fastest cold (sharded)`, when it is not first everywhere. */
function standing(p: AdvicePick): string {
  const behind = p.caches.filter((c) => !c.fastest);
  if (behind.length === 0) return "";
  const first = p.caches.filter((c) => c.fastest).map((c) => c.cache);
  const lead = first.length > 0 ? `fastest ${first.join(" and ")}, ` : "";
  return `: ${lead}within noise of the fastest ${
    behind.map((c) => `${c.cache} (${c.fastestStrategy})`).join(" and ")
  }`;
}

// ---------------------------------------------------------------------------
// Projection

/** A projection as text cells: what the terminal, markdown and HTML tables show. */
export interface ProjectionTable {
  /** What it is and what it assumes, in one sentence. */
  readonly caption: string;
  /** The columns after model and size: the cache state each belongs to, and its own name. */
  readonly columns: readonly { readonly cache: CacheState; readonly head: string }[];
  /** Per row: the model, its size, then one time per column. */
  readonly rows: readonly (readonly string[])[];
  /** Whether each row is a model the user asked for. */
  readonly user: readonly boolean[];
  /** Footnotes: the marker of models too large for the memory they need. */
  readonly notes: readonly string[];
}

type Row = TargetProjection["rows"][number];

/** The projection of one target as a table of text. */
export function projectionTable(p: TargetProjection): ProjectionTable {
  const columns: {
    cache: CacheState;
    head: string;
    time: (row: Row) => ProjectedTime | undefined;
  }[] = [];
  const rates: string[] = [];
  for (const cache of ["cold", "warm"] as const) {
    const best = p.fastest[cache];
    if (best === undefined) continue;
    columns.push({ cache, head: best.strategy, time: (row) => row.times[best.key] });
    rates.push(`${cache} ${best.strategy} ${gbps(rateAt(best.points))} GB/s`);
    if (p.limits[cache] !== undefined) {
      columns.push({ cache, head: "at limit", time: (row) => row.atLimit[cache] });
    }
    const reference = p.fullRead[cache];
    if (reference !== undefined && reference.key !== best.key) {
      columns.push({ cache, head: reference.strategy, time: (row) => row.times[reference.key] });
    }
  }
  const limits = (["cold", "warm"] as const).flatMap((cache) => {
    const limit = p.limits[cache];
    return limit === undefined ? [] : [`${limit.name} ${gbps(limit.gbps)} GB/s`];
  });
  const curve = p.bases.some((b) => b.curve);
  const measured = formatBytes(p.measuredBytes);
  const caption = `Projection for ${p.target}, not a measurement: ${
    curve
      ? `each rate follows the curve measured across sizes up to ${measured}, held flat beyond it`
      : `the rate measured on ${measured} held flat with size`
  } (${rates.join(", ")}${limits.length > 0 ? `; limits: ${limits.join(", ")}` : ""}).${
    p.tooSmall
      ? ` The weights measured are too small to project from: below ${
        formatBytes(MIN_PROJECTION_BYTES)
      } a load's fixed costs weigh more than at scale, so these times are too long.`
      : ""
  }`;
  const rows = p.rows.map((row) => [
    `${row.model.label}${row.fits ? "" : " *"}`,
    formatModelBytes(row.model.bytes),
    ...columns.map((c) => {
      const t = c.time(row);
      return t === undefined ? "—" : formatSeconds(t.seconds);
    }),
  ]);
  const notes = p.memory !== null && p.rows.some((row) => !row.fits)
    ? [
      `* larger than ${p.memory.what} (${formatBytes(p.memory.bytes)}): ${
        p.target === "host"
          ? "it cannot stay in the page cache (warm) or be loaded whole on this machine"
          : "it needs several GPUs, each loading its share"
      }; the time is what the measured rate gives`,
    ]
    : [];
  return {
    caption,
    columns: columns.map(({ cache, head }) => ({ cache, head })),
    rows,
    user: p.rows.map((row) => row.model.user),
    notes,
  };
}

function rateAt(points: readonly { readonly gbps: number }[]): number {
  return points.at(-1)!.gbps;
}

// ---------------------------------------------------------------------------
// The terminal

/** How the answer is drawn in a terminal. */
export interface AnswerTextOptions {
  /** Columns to fit. @default 100 */
  readonly width?: number;
  /** Bold labels. @default false */
  readonly color?: boolean;
}

/** The verdict, advice and projections as terminal text, every line within `width`. */
export function renderAnswer(answer: Answer, options: AnswerTextOptions = {}): string {
  const width = options.width ?? 100;
  const bold = (text: string) => (options.color ? `\x1b[1m${text}\x1b[22m` : text);
  if (!hasAnswer(answer)) return "No case completed: nothing to rank or project.";
  const lines: string[] = [];
  for (const v of verdictLines(answer.verdict)) {
    const [head, ...rest] = wrapText(v.text, width, 2);
    const colon = head!.indexOf(":");
    lines.push(bold(head!.slice(0, colon + 1)) + head!.slice(colon + 1), ...rest);
  }
  for (const advice of adviceLines(answer.verdict)) {
    const [head, ...rest] = wrapText(advice, width, 2);
    const colon = head!.indexOf(":");
    lines.push(bold(head!.slice(0, colon + 1)) + head!.slice(colon + 1), ...rest);
  }
  for (const projection of answer.projections) {
    const table = projectionTable(projection);
    lines.push("", ...wrapText(table.caption, width, 2), ...alignColumns(table, width));
    for (const note of table.notes) lines.push(...wrapText(note, width, 2));
  }
  return lines.join("\n");
}

/**
 * The table as aligned columns two spaces apart, under a line naming each
 * cache state over its columns; a table too wide for `width` keeps its first
 * columns.
 */
function alignColumns(table: ProjectionTable, width: number): string[] {
  const head = ["model", "size", ...table.columns.map((c) => c.head)];
  const all = [head, ...table.rows];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  let keep = widths.length;
  while (keep > 2 && widths.slice(0, keep).reduce((a, b) => a + b + 2, -2) > width) keep--;
  const line = (row: readonly string[]) =>
    row.slice(0, keep).map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
    ).join("  ").trimEnd();
  // The cache state over its columns: `cold ──────` from its first column's start to its last's end.
  const starts = widths.map((_, i) => widths.slice(0, i).reduce((a, b) => a + b + 2, 0));
  let groups = "";
  table.columns.slice(0, keep - 2).forEach((c, i) => {
    const previous = table.columns[i - 1];
    const end = starts[i + 2]! + widths[i + 2]!;
    if (previous?.cache === c.cache) groups = groups.padEnd(end, "─");
    else groups = `${groups.padEnd(starts[i + 2]!)}${c.cache} `.padEnd(end, "─");
  });
  return [groups.trimEnd(), ...all.map(line)];
}
