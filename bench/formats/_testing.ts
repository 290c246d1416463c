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
import { type ByteSource, bytesSource, type WeightFileIndex, type WeightFormat } from "./format.ts";

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

/** Runs the Python script at `path` (a file: `torch.jit.script` reads its source) with `args`; returns its stdout. */
export async function runPythonFile(path: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: [path, ...args],
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

/*
 * How a fuzz run tells a parser made slow by a hostile file from a slow
 * machine. It guards the promise of every reader: counts and lengths a file
 * claims are checked against its real size before they are used, so a hostile
 * header fails fast, whatever it claims. The check this replaces,
 * `slowestMs < 200` on one wall-clock reading per parse, failed whenever a
 * loaded machine stalled one parse of 20,000. Two checks take its place:
 *
 * - Work, counted, never timed: every byte a parse reads through its source is
 *   tallied, and no mutant may read more than `READ_FACTOR` times its own
 *   size (plus `READ_SLACK`). The fuzzer is seeded and the parsers are
 *   deterministic, so this gives the same answer on every machine and every
 *   run. It catches a reader that reads the file over and over (again for
 *   every entry or field): invisible in time on the in-memory sources fuzzed
 *   here, where a read is a view, but from a file every read is an
 *   allocation and a copy.
 * - Time, relative and confirmed: after the run the slowest mutants are parsed
 *   again, `RETIME_TRIALS` times each, alternating with the valid file, and the
 *   fastest parse of each is compared with the valid file's fastest. A parser
 *   that loops or allocates by a count the file claims is that slow on every
 *   parse; a stall (scheduler, GC, JIT warm-up) hits one parse, not every
 *   one, and load slows the mutant and the valid file alike. `SLOW_FACTOR` is
 *   generous: the mutants of these files stay within a few times the valid
 *   file (see the ratio each fuzz test prints).
 */

/**
 * Most bytes a parse may read, as a multiple of the file's size. The readers
 * read each region once, and a few twice: a zip's tail (the last 22 bytes,
 * then up to 64 KiB), then its directory, local headers and pickle, which do
 * not overlap; an ONNX model's varint data through the source as well as
 * through the cursor's window. Under 3 times the size; a reader that reads the whole
 * file again for each zip entry goes past 4 (tiny-views.pt has 4 entries).
 */
const READ_FACTOR = 4;
/** Bytes a parse may read beyond `READ_FACTOR` times the size: fixed-size records (a zip's end records) of files shorter than them. */
const READ_SLACK = 256;
/** How many of the slowest mutants are parsed again after the run. */
const RETIMED_MUTANTS = 8;
/** Parses of each re-timed mutant, and of the valid file beside it; the fastest of each counts. */
const RETIME_TRIALS = 5;
/** How many times the valid file's fastest parse a re-timed mutant's fastest parse may take. */
const SLOW_FACTOR = 200;
/** The valid file's parse time, at least: keeps the ratio meaningful near the clock's resolution. */
const MIN_BASELINE_MS = 0.005;

/** The mutant that read the most for its size. */
export interface ReadWork {
  readonly bytesRead: number;
  /** The mutant's size. */
  readonly size: number;
  readonly where: string;
}

/** The re-timed mutant whose fastest parse was slowest against the valid file's. */
export interface Retimed {
  /** The mutant's fastest parse. */
  readonly mutantMs: number;
  /** The valid file's fastest parse, timed alternately with the mutant's. */
  readonly validMs: number;
  /** `mutantMs / validMs`. */
  readonly ratio: number;
  readonly where: string;
}

/** What a fuzz run saw. */
export interface FuzzReport {
  readonly parsed: number;
  readonly failed: number;
  /** Distinct error messages with numbers and quoted names taken out. */
  readonly checks: ReadonlySet<string>;
  /** The slowest single parse, on the wall clock: printed, never asserted (a loaded machine stalls one now and then). */
  readonly slowestMs: number;
  readonly heaviestRead: ReadWork;
  readonly retimed: Retimed;
  readonly iterations: number;
  /** Wall time of the whole run. */
  readonly elapsedMs: number;
}

/** Most bytes a parse of a `size`-byte file may read. */
function _readBudget(size: number): number {
  return READ_FACTOR * size + READ_SLACK;
}

/**
 * The verdict every fuzz test wants of a run, printed: some mutants parse and
 * some fail, at least `minChecks` distinct checks fired, no parse read more
 * than its budget, and no mutant parses much slower than the valid file.
 */
export function assertFuzzed(label: string, report: FuzzReport, minChecks = 0): void {
  assert.ok(report.parsed > 0 && report.failed > 0, JSON.stringify(report));
  assert.ok(
    report.checks.size >= minChecks,
    `only ${report.checks.size} checks: ${[...report.checks].join(" | ")}`,
  );
  const { heaviestRead: read, retimed } = report;
  assert.ok(
    read.bytesRead <= _readBudget(read.size),
    `a parse of ${read.size} bytes read ${read.bytesRead}, more than ${READ_FACTOR} times its ` +
      `size plus ${READ_SLACK}, at ${read.where}`,
  );
  assert.ok(
    retimed.ratio < SLOW_FACTOR,
    `the fastest of ${RETIME_TRIALS} parses took ${retimed.mutantMs.toFixed(3)} ms, ` +
      `${retimed.ratio.toFixed(0)} times the valid file's ${retimed.validMs.toFixed(3)} ms, ` +
      `at ${retimed.where}`,
  );
  console.log(
    `${label}: ${report.iterations} mutants in ${report.elapsedMs.toFixed(0)} ms, ` +
      `${report.parsed} parsed, ${report.checks.size} distinct errors, ` +
      `slowest ${retimed.ratio.toFixed(1)}x the valid file, ` +
      `most read ${(read.bytesRead / Math.max(1, read.size)).toFixed(1)}x the size`,
  );
}

/**
 * Parses `iterations` mutants of `valid` (each 1–`maxMutations` mutations,
 * seeded by `seed` and the iteration): every parse must succeed with tensors
 * inside the file, or throw a one-line {@link WeightFileError}; anything else
 * fails with the seed to replay it. Counts the bytes each parse reads, and
 * re-times the slowest mutants against `valid` (see {@link assertFuzzed}).
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
  let heaviestRead: ReadWork = { bytesRead: 0, size: 0, where: "no mutant" };
  const slowest: _TimedMutant[] = [];
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
    const source = new _CountingSource("fuzz.bin", file);
    const start = performance.now();
    let index: WeightFileIndex | undefined;
    let caught: unknown;
    let threw = false;
    try {
      index = format.parse(source);
    } catch (error) {
      caught = error;
      threw = true;
    }
    const ms = performance.now() - start;
    slowestMs = Math.max(slowestMs, ms);
    _keepSlowest(slowest, { ms, file, where });
    if (
      _readShare(source.bytesRead, file.length) >
        _readShare(heaviestRead.bytesRead, heaviestRead.size)
    ) {
      heaviestRead = { bytesRead: source.bytesRead, size: file.length, where };
    }
    if (threw || index === undefined) {
      checks.add(_failureCheck(caught, where));
      failed++;
      continue;
    }
    parsed++;
    _assertTensorsInside(index, file, where);
    options.check?.(index, file, where);
  }
  return {
    parsed,
    failed,
    checks,
    slowestMs,
    heaviestRead,
    retimed: _retime(format, valid, slowest),
    iterations: options.iterations,
    elapsedMs: performance.now() - began,
  };
}

/** Asserts `error` is a one-line {@link WeightFileError}; returns its message with numbers and quoted names taken out. */
function _failureCheck(error: unknown, where: string): string {
  if (!(error instanceof WeightFileError)) {
    throw new Error(`Fuzz failure at ${where}: parse threw ${error}`, { cause: error });
  }
  assert.ok(!error.message.includes("\n"), `multi-line message at ${where}: ${error.message}`);
  return error.message.replace(/"(?:[^"\\]|\\.)*"…?/g, "s").replace(/\d+(\.\d+)?/g, "N").slice(
    0,
    60,
  );
}

/** Asserts every tensor of `index` lies inside `file`, in order, without overlaps. */
function _assertTensorsInside(index: WeightFileIndex, file: Uint8Array, where: string): void {
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
}

/** A source over bytes in memory that counts the bytes its reads return. */
class _CountingSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  bytesRead = 0;
  readonly #inner: ByteSource;
  constructor(name: string, bytes: Uint8Array) {
    this.name = name;
    this.size = bytes.length;
    this.#inner = bytesSource(name, bytes);
  }
  read(offset: number, length: number): Uint8Array {
    const bytes = this.#inner.read(offset, length);
    this.bytesRead += bytes.length;
    return bytes;
  }
}

/** How much of its budget a parse of `size` bytes that read `bytesRead` used. */
function _readShare(bytesRead: number, size: number): number {
  return bytesRead / _readBudget(size);
}

/** A mutant and its first parse's wall time. */
interface _TimedMutant {
  readonly ms: number;
  readonly file: Uint8Array;
  readonly where: string;
}

/** Keeps the {@link RETIMED_MUTANTS} slowest mutants in `slowest`, slowest first. */
function _keepSlowest(slowest: _TimedMutant[], mutant: _TimedMutant): void {
  if (slowest.length === RETIMED_MUTANTS && mutant.ms <= slowest.at(-1)!.ms) return;
  let at = slowest.length;
  while (at > 0 && slowest[at - 1]!.ms < mutant.ms) at--;
  slowest.splice(at, 0, mutant);
  if (slowest.length > RETIMED_MUTANTS) slowest.pop();
}

/**
 * Parses each of `slowest` again {@link RETIME_TRIALS} times, alternating with
 * `valid`, and returns the one whose fastest parse is the most times the
 * valid file's fastest.
 */
function _retime(
  format: WeightFormat,
  valid: Uint8Array,
  slowest: readonly _TimedMutant[],
): Retimed {
  let worst: Retimed = { mutantMs: 0, validMs: 0, ratio: 0, where: "no mutant" };
  for (const mutant of slowest) {
    let mutantMs = Infinity;
    let validMs = Infinity;
    for (let trial = 0; trial < RETIME_TRIALS; trial++) {
      mutantMs = Math.min(mutantMs, _parseMs(format, mutant.file));
      validMs = Math.min(validMs, _parseMs(format, valid));
    }
    const ratio = mutantMs / Math.max(validMs, MIN_BASELINE_MS);
    if (ratio > worst.ratio) worst = { mutantMs, validMs, ratio, where: mutant.where };
  }
  return worst;
}

/** Wall time of one parse of `file`, whether it succeeds or throws (the first pass judged which). */
function _parseMs(format: WeightFormat, file: Uint8Array): number {
  const start = performance.now();
  try {
    format.parse(bytesSource("fuzz.bin", file));
  } catch {
    // Judged in the first pass: only the time matters here.
  }
  return performance.now() - start;
}
