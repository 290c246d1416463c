/**
 * Deterministic pseudo-random numbers: the same seed gives the same sequence
 * on every machine, so fixtures and bootstrap intervals are reproducible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fillRandomWords, hashSeed, seededRandom } from "./random.ts";
 *
 * const a = seededRandom("case-1");
 * const b = seededRandom(hashSeed("case-1"));
 * assert.ok(a() === b());
 *
 * const words = new Uint32Array(4);
 * fillRandomWords(words, 42);
 * assert.ok(words.some((w) => w !== 0));
 * ```
 *
 * @module
 */

/** A 32-bit FNV-1a hash of `text`, for turning names into seeds. */
export function hashSeed(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A generator of floats in [0, 1) (mulberry32), seeded by a number or a string. */
export function seededRandom(seed: number | string): () => number {
  let state = typeof seed === "string" ? hashSeed(seed) : seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fills `words` with xorshift128 output seeded by `seed`; fast enough for
 * gigabytes of fixture data. Returns nothing; the same seed fills the same words.
 */
export function fillRandomWords(words: Uint32Array, seed: number): void {
  // splitmix32 expands the seed into a non-zero xorshift128 state.
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let x = next() | 1, y = next(), z = next(), w = next();
  for (let i = 0; i < words.length; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    words[i] = w;
  }
}
