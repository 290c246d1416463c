/**
 * Whether a load's host memory fits this machine, asked before the load
 * rather than learnt from the kernel's out-of-memory killer: a strategy adds
 * up what it would hold (its staging, and the loaded bytes themselves when the
 * target is host memory) and refuses the case up front, with the figures,
 * when that is more than the memory the machine has available. Page cache
 * does not count against a load: the kernel gives it back on demand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostMemoryShortfall } from "./host_memory.ts";
 *
 * const GiB = 2 ** 30;
 * assert.equal(hostMemoryShortfall([{ what: "staging", bytes: GiB }], 8 * GiB), undefined);
 * assert.equal(
 *   hostMemoryShortfall(
 *     [{ what: "staging", bytes: 26 * GiB }, { what: "the host target", bytes: 26 * GiB }],
 *     22 * GiB,
 *   ),
 *   "it would hold 52.00 GiB of host memory (staging 26.00 GiB, the host target 26.00 GiB), " +
 *     "more than the 22.00 GiB this machine has available",
 * );
 * ```
 *
 * @module
 */

import type { Target } from "../core/target.ts";
import { formatBytes } from "../util/size.ts";

/**
 * Share of the available memory a load may plan to hold: the rest is left to
 * the process itself, the page cache a load reads through, and the machine's
 * other work. @default 0.9
 */
export const HOST_MEMORY_HEADROOM = 0.9;

/** Host memory one part of a load would hold. */
export interface HostMemoryNeed {
  /** What holds it, in words: `staging`, `the host target`. */
  readonly what: string;
  readonly bytes: number;
}

/** Bytes of memory this machine can still give (MemAvailable), or undefined where unknown. */
export function availableHostMemory(): number | undefined {
  try {
    return Deno.systemMemoryInfo().available;
  } catch {
    return undefined;
  }
}

/**
 * Why holding `needs` at once does not fit in `available` bytes (less the
 * headroom), or undefined when it fits or the available memory is unknown.
 */
export function hostMemoryShortfall(
  needs: readonly HostMemoryNeed[],
  available: number | undefined = availableHostMemory(),
): string | undefined {
  if (available === undefined) return undefined;
  const parts = needs.filter((n) => n.bytes > 0);
  const total = parts.reduce((sum, n) => sum + n.bytes, 0);
  if (total <= available * HOST_MEMORY_HEADROOM) return undefined;
  const detail = parts.map((n) => `${n.what} ${formatBytes(n.bytes)}`).join(", ");
  return `it would hold ${formatBytes(total)} of host memory (${detail}), more than the ${
    formatBytes(available)
  } this machine has available`;
}

/**
 * The needs of a load that holds `stagingBytes` of staging on `target`, which
 * holds `targetBytes` in host memory when it is the `host` target.
 */
export function loadNeeds(
  target: Pick<Target, "id">,
  stagingBytes: number,
  targetBytes: number,
): HostMemoryNeed[] {
  return [
    { what: "staging", bytes: stagingBytes },
    { what: "the host target", bytes: target.id === "host" ? targetBytes : 0 },
  ];
}
