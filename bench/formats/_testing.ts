/**
 * Test helpers shared by the format tests: running Debian's Python with torch
 * or onnx (tests that need it skip with the reason when it is absent), an
 * assertion that a parse fails with one line naming the file, and a
 * mutation fuzzer over valid files.
 *
 * @module
 */

import assert from "node:assert/strict";
import { WeightFileError } from "../util/errors.ts";
import { seededRandom } from "../util/random.ts";
import { optionalEnv } from "../util/env.ts";
import { bytesSource, type WeightFileIndex, type WeightFormat } from "./format.ts";

/** The Python that has Debian's `python3-torch` and `python3-onnx`: `WEIGHTBENCH_PYTHON`, else /usr/bin/python3. */
export const PYTHON = optionalEnv("WEIGHTBENCH_PYTHON") ?? "/usr/bin/python3";

/** Why Python with `modules` cannot run here, or `undefined` when it can. */
export function pythonSkipReason(...modules: string[]): string | undefined {
  const check = `import importlib.util, sys
missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]
print(",".join(missing))`;
  try {
    const out = new Deno.Command(PYTHON, { args: ["-c", check, ...modules], stderr: "null" })
      .outputSync();
    if (!out.success) return `${PYTHON} does not run`;
    const missing = new TextDecoder().decode(out.stdout).trim();
    if (missing !== "") {
      return `${PYTHON} lacks ${missing} (apt-get install python3-torch python3-numpy python3-onnx)`;
    }
    return undefined;
  } catch {
    return `no ${PYTHON} (apt-get install python3-torch python3-numpy python3-onnx)`;
  }
}

/** Runs a Python script with `args`; returns its stdout, throwing with its stderr on failure. */
export async function runPython(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    env: { PYTHONWARNINGS: "ignore" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`Python failed:\n${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

/** Parses and asserts a one-line {@link WeightFileError} naming `name`, whose detail matches `detail`. */
export function assertParseFails(
  format: WeightFormat,
  bytes: Uint8Array,
  detail: RegExp,
  name = "bad.bin",
): WeightFileError {
  let caught: unknown;
  try {
    format.parse(bytesSource(name, bytes));
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WeightFileError, `expected a WeightFileError, got ${caught}`);
  assert.equal(caught.file, name);
  assert.ok(!caught.message.includes("\n"), `message spans lines: ${caught.message}`);
  assert.match(caught.message.slice(`Cannot read "${name}": `.length), detail);
  return caught;
}

type Random = () => number;
/** A mutation: returns the mutant (a new array when the length changes). */
export type Mutation = (random: Random, file: Uint8Array) => Uint8Array;

const int = (random: Random, below: number) => Math.floor(random() * below);

/** Integers worth writing over a length or count: edges of every width. */
const EDGE_INTEGERS = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0xffffffffn,
  1n << 32n,
  1n << 53n,
  1n << 60n,
  1n << 62n,
  (1n << 63n) - 1n,
  (1n << 64n) - 1n,
];

/** Mutations every binary format meets: bit flips, bytes, truncation, edge integers, splices. */
export const BINARY_MUTATIONS: Record<string, Mutation> = {
  flipBit(random, file) {
    if (file.length === 0) return file;
    const at = int(random, file.length);
    file[at] = file[at]! ^ (1 << int(random, 8));
    return file;
  },
  overwriteByte(random, file) {
    if (file.length === 0) return file;
    file[int(random, file.length)] = int(random, 256);
    return file;
  },
  truncate(random, file) {
    return file.slice(0, int(random, file.length + 1));
  },
  edgeInteger(random, file) {
    const width = [1, 2, 4, 8][int(random, 4)]!;
    if (file.length < width) return file;
    const at = int(random, file.length - width + 1);
    let value = EDGE_INTEGERS[int(random, EDGE_INTEGERS.length)]!;
    if (random() < 0.3) value += BigInt(int(random, 5)) - 2n;
    for (let i = 0; i < width; i++) {
      file[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
    }
    return file;
  },
  insertBytes(random, file) {
    const at = int(random, file.length + 1);
    const inserted = Uint8Array.from({ length: 1 + int(random, 16) }, () => int(random, 256));
    const out = new Uint8Array(file.length + inserted.length);
    out.set(file.subarray(0, at));
    out.set(inserted, at);
    out.set(file.subarray(at), at + inserted.length);
    return out;
  },
  deleteBytes(random, file) {
    const at = int(random, file.length + 1);
    const count = Math.min(1 + int(random, 16), file.length - at);
    const out = new Uint8Array(file.length - count);
    out.set(file.subarray(0, at));
    out.set(file.subarray(at + count), at);
    return out;
  },
  duplicateRange(random, file) {
    if (file.length < 2) return file;
    const from = int(random, file.length);
    const length = 1 + int(random, Math.min(64, file.length - from));
    const to = int(random, file.length);
    const out = file.slice();
    out.set(file.subarray(from, from + length).subarray(0, out.length - to), to);
    return out;
  },
};

/** What a fuzz run saw. */
export interface FuzzReport {
  readonly parsed: number;
  readonly failed: number;
  /** Distinct error messages with numbers and quoted names taken out. */
  readonly checks: ReadonlySet<string>;
  readonly slowestMs: number;
  readonly iterations: number;
  /** Wall time of the whole run. */
  readonly elapsedMs: number;
}

/**
 * The verdict every fuzz test wants of a run, printed: some mutants parse and
 * some fail, at least `minChecks` distinct checks fired, no parse was slow.
 */
export function assertFuzzed(label: string, report: FuzzReport, minChecks = 0): void {
  assert.ok(report.parsed > 0 && report.failed > 0, JSON.stringify(report));
  assert.ok(
    report.checks.size >= minChecks,
    `only ${report.checks.size} checks: ${[...report.checks].join(" | ")}`,
  );
  assert.ok(report.slowestMs < 200, `slowest parse ${report.slowestMs} ms`);
  console.log(
    `${label}: ${report.iterations} mutants in ${report.elapsedMs.toFixed(0)} ms, ` +
      `${report.parsed} parsed, ${report.checks.size} distinct errors`,
  );
}

/**
 * Parses `iterations` mutants of `valid` (each 1–`maxMutations` mutations,
 * seeded by `seed` and the iteration): every parse must succeed with tensors
 * inside the file, or throw a one-line {@link WeightFileError}; anything else
 * fails with the seed to replay it.
 */
export function fuzzFormat(
  format: WeightFormat,
  valid: Uint8Array,
  options: {
    readonly seed: string;
    readonly iterations: number;
    readonly maxMutations?: number;
    readonly mutations?: Record<string, Mutation>;
    readonly check?: (index: WeightFileIndex, file: Uint8Array, where: string) => void;
  },
): FuzzReport {
  const began = performance.now();
  const mutations = options.mutations ?? BINARY_MUTATIONS;
  const names = Object.keys(mutations);
  let parsed = 0;
  let failed = 0;
  let slowestMs = 0;
  const checks = new Set<string>();
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    const seed = `${options.seed}:${iteration}`;
    const random = seededRandom(seed);
    let file: Uint8Array = valid.slice();
    const applied: string[] = [];
    const count = 1 + int(random, options.maxMutations ?? 3);
    for (let i = 0; i < count; i++) {
      const name = names[int(random, names.length)]!;
      applied.push(name);
      file = mutations[name]!(random, file);
    }
    const where = `seed "${seed}" (mutations ${applied.join(", ")})`;
    const start = performance.now();
    let index: WeightFileIndex;
    try {
      index = format.parse(bytesSource("fuzz.bin", file));
    } catch (error) {
      slowestMs = Math.max(slowestMs, performance.now() - start);
      if (!(error instanceof WeightFileError)) {
        throw new Error(`Fuzz failure at ${where}: parse threw ${error}`, { cause: error });
      }
      assert.ok(!error.message.includes("\n"), `multi-line message at ${where}: ${error.message}`);
      failed++;
      checks.add(
        error.message.replace(/"(?:[^"\\]|\\.)*"…?/g, "s").replace(/\d+(\.\d+)?/g, "N").slice(
          0,
          60,
        ),
      );
      continue;
    }
    slowestMs = Math.max(slowestMs, performance.now() - start);
    parsed++;
    assert.equal(index.size, file.length, where);
    let previousEnd = 0;
    for (const tensor of index.tensors) {
      assert.ok(
        Number.isSafeInteger(tensor.offset) && Number.isSafeInteger(tensor.byteLength) &&
          tensor.offset >= 0 && tensor.byteLength >= 0 &&
          tensor.offset + tensor.byteLength <= file.length,
        `tensor ${JSON.stringify(tensor.name)} outside the file at ${where}`,
      );
      assert.ok(tensor.offset >= previousEnd, `tensors overlap at ${where}`);
      previousEnd = tensor.offset + tensor.byteLength;
    }
    options.check?.(index, file, where);
  }
  return {
    parsed,
    failed,
    checks,
    slowestMs,
    iterations: options.iterations,
    elapsedMs: performance.now() - began,
  };
}
