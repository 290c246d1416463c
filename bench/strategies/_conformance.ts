/**
 * The conformance suite every strategy runs: the same fixtures, loaded
 * through each option set of a strategy onto a fresh target (`host`, or the
 * one the third argument opens: `gds` runs it on cuda targets), with every
 * placed byte compared against the file read independently, and the phases,
 * byte counts, repeated loads and a file truncated under the strategy checked.
 *
 * A strategy's test is five lines:
 *
 * ```ts ignore
 * import { strategyConformance } from "./_conformance.ts";
 * import { mmap } from "./mmap.ts";
 *
 * strategyConformance(mmap, { default: {}, "transfer=tensor": { transfer: "tensor" } });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateFixture } from "../../fixtures/generate.ts";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { isDequantType, referenceDequantizeF16 } from "../quant/reference.ts";
import { digestKey, type TensorDigests, tensorDigests } from "../core/digests.ts";
import { Recorder } from "../core/recorder.ts";
import { verifyLoad } from "../core/verify.ts";
import { HostTarget } from "../targets/host.ts";
import type { Target } from "../core/target.ts";
import { type Strategy, type StrategyDefinition } from "./strategy.ts";
import { dataSpan, type LoadResult, targetFootprint } from "../core/load.ts";

/** The checked-in test data. */
const TESTDATA = fileURLToPath(new URL("../../fixtures/testdata/", import.meta.url));
/** Target bytes reserved per file beyond the footprint, for the target's alignment. */
const SLACK_PER_FILE = 4096;
/**
 * One small file of every other format: GGUF (quantized and plain tensors),
 * PyTorch checkpoints (storages shared by several views; shards with their
 * index), ONNX with raw_data and typed fields, and ONNX with external data.
 */
const OTHER_FORMATS = [
  "tiny.gguf",
  "tiny-views.pt",
  "tiny-pt-sharded",
  "tiny.onnx",
  "tiny-onnx-external",
];
/** A load that takes longer than this counts as hung. */
const HANG_MS = 15_000;

/** Weights every variant loads, with the truth to check a load against. */
interface Fixture {
  readonly name: string;
  readonly weights: WeightSet;
  readonly digests: TensorDigests;
  /** Each file's bytes, read with `Deno.readFile`: the independent truth. */
  readonly bytes: ReadonlyMap<string, Uint8Array>;
}

/**
 * Registers the conformance tests of `definition`: each variant (an option
 * set, validated by the definition's schema) loads tiny.safetensors,
 * tiny-sharded/, a generated two-shard fixture and a small file of each other
 * format, and meets a file truncated after it was opened with an error.
 */
export function strategyConformance<Options extends Record<string, unknown>>(
  definition: StrategyDefinition<Options>,
  variants: Record<string, Record<string, unknown>>,
  on: ConformanceTarget = { name: "", open: () => new HostTarget() },
): void {
  const open = on.open;
  const name = `${definition.name} conformance${on.name ? ` on ${on.name}` : ""}`;
  Deno.test({
    name: on.skip === undefined ? name : `${name} (skipped: ${on.skip})`,
    ignore: on.skip !== undefined,
    fn: (t) => suite(t),
  });
  if (on.skip !== undefined) console.log(`skipping "${name}": ${on.skip}`);
  const suite = async (t: Deno.TestContext) => {
    const root = await Deno.makeTempDir({ prefix: `weightbench-${definition.name}-` });
    try {
      const fixtures = [
        await prepareFixture("tiny.safetensors", join(TESTDATA, "tiny.safetensors")),
        await prepareFixture("tiny-sharded", join(TESTDATA, "tiny-sharded")),
        await prepareFixture("generated llama-3.2-1b 8MiB 2 shards", await generated(root)),
        ...await Promise.all(
          OTHER_FORMATS.map((name) => prepareFixture(name, join(TESTDATA, name))),
        ),
      ];
      for (const [i, [variant, input]] of Object.entries(variants).entries()) {
        await t.step(variant, async (t) => {
          const options = definition.options.parse(input);
          for (const fixture of fixtures) {
            await t.step(fixture.name, () => checkLoads(definition, options, fixture, open));
          }
          await t.step(
            "throws on a file truncated after it was opened",
            () =>
              checkTruncated(
                definition,
                options,
                join(root, `truncated-${i}`),
                fixtures[2]!,
                open,
              ),
          );
        });
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  };
}

/** Where a strategy's conformance loads: a fresh host target unless told otherwise. */
export interface ConformanceTarget {
  /** Said in the test's name. */
  readonly name: string;
  /** A fresh target for each check. */
  readonly open: () => Target;
  /** Why the suite cannot run here (printed, the test ignored). */
  readonly skip?: string | undefined;
}

async function generated(root: string): Promise<string> {
  const dir = join(root, "llama-3.2-1b");
  await generateFixture({ layout: "llama-3.2-1b", size: 8 << 20, dtype: "F16", shards: 2 }, dir);
  return dir;
}

async function prepareFixture(name: string, path: string): Promise<Fixture> {
  const weights = await openWeights(path);
  const bytes = new Map<string, Uint8Array>();
  for (const file of weights.files) bytes.set(file.path, await Deno.readFile(file.path));
  return { name, weights, digests: await tensorDigests(weights), bytes };
}

function openTarget(open: () => Target, strategy: Strategy, ...weights: WeightSet[]): Target {
  const target = open();
  target.reserve(
    Math.max(
      ...weights.map((w) =>
        (strategy.footprint?.(w) ?? targetFootprint(w)) + w.files.length * SLACK_PER_FILE
      ),
    ),
  );
  return target;
}

/** Loads twice in a row, then again after `freeAll()`, checking every load. */
async function checkLoads<Options extends Record<string, unknown>>(
  definition: StrategyDefinition<Options>,
  options: Options,
  fixture: Fixture,
  open: () => Target,
): Promise<void> {
  const strategy = definition.create(options);
  using target = openTarget(open, strategy, fixture.weights);
  try {
    assert.equal(strategy.name, definition.name);
    assert.equal(strategy.unsupported?.(fixture.weights, target), undefined);
    for (let i = 0; i < 2; i++) {
      const result = await loadChecked(strategy, fixture, target);
      for (const buffer of result.buffers) target.free(buffer);
    }
    await loadChecked(strategy, fixture, target);
    target.freeAll();
    const result = await loadChecked(strategy, fixture, target);
    for (const buffer of result.buffers) target.free(buffer);
  } finally {
    strategy.close?.();
  }
}

/** One load with a recorder, checked against the fixture's files. */
async function loadChecked(
  strategy: Strategy,
  { weights, digests, bytes }: Fixture,
  target: Target,
): Promise<LoadResult> {
  await strategy.prepareSample?.(weights, target);
  const recorder = new Recorder();
  const result = await withTimeout(strategy.load({ weights, target, recorder }));
  const durationMs = recorder.now();

  // (a) every tensor placed exactly once, where the source has it
  const expected = new Map(
    weights.files.flatMap((f) => f.index.tensors.map((t) => [digestKey(f.path, t.name), t])),
  );
  const placed = new Set<string>();
  for (const placement of result.placements) {
    const key = digestKey(placement.file, placement.tensor.name);
    const source = expected.get(key);
    assert.ok(source, `"${placement.tensor.name}" from "${placement.file}" is not in the source`);
    assert.ok(!placed.has(key), `"${placement.tensor.name}" was placed twice`);
    placed.add(key);
    assert.deepEqual(placement.tensor, source);
    assert.ok(result.buffers.includes(placement.buffer), "placement buffer not in buffers");
    const length = placement.transform?.byteLength ?? source.byteLength;
    assert.ok(
      placement.offset >= 0 && placement.offset + length <= placement.buffer.size,
      `"${source.name}" at ${placement.offset}+${length} is outside its ${placement.buffer.size}-byte buffer`,
    );
  }
  assert.equal(placed.size, expected.size, "some tensors were never placed");

  // (b) the target holds the file's bytes, compared with an independent read, or, for a
  // tensor placed dequantized, the reference dequantizer's FP16 of those bytes
  for (const { file, tensor, buffer, offset, transform } of result.placements) {
    const source = bytes.get(file)!.subarray(tensor.offset, tensor.offset + tensor.byteLength);
    if (transform === undefined) {
      assertSameBytes(target.readBack(buffer, offset, tensor.byteLength), source, tensor.name);
      continue;
    }
    const from = transform.from;
    assert.equal(from, tensor.dtype, `"${tensor.name}": transform of another dtype`);
    assert.ok(transform.kind === "dequantize" && isDequantType(from), `"${tensor.name}": ${from}`);
    const half = referenceDequantizeF16(from, source);
    assertSameBytes(
      target.readBack(buffer, offset, transform.byteLength),
      new Uint8Array(half.buffer),
      `${tensor.name} (${transform.from} → ${transform.to})`,
    );
  }

  // (c) the verifier agrees
  const verification = verifyLoad(weights, digests, result, target);
  assert.equal(verification.tensors, weights.tensorCount);
  assert.equal(verification.bytes, weights.tensorBytes);

  // (d) the phases are there, each span inside the load
  const phases = new Set(recorder.spans.map((s) => s.phase));
  for (const phase of ["open", "parse", "alloc", target.transferPhase] as const) {
    assert.ok(phases.has(phase), `no "${phase}" span among ${[...phases].join(", ")}`);
  }
  for (const file of weights.files) {
    for (const phase of ["parse", "alloc", target.transferPhase] as const) {
      assert.ok(
        recorder.spans.some((s) => s.phase === phase && s.detail === file.path),
        `no "${phase}" span for "${file.path}"`,
      );
    }
  }
  for (const span of recorder.spans) {
    assert.ok(
      span.start >= 0 && span.end >= span.start && span.end <= durationMs,
      `span ${JSON.stringify(span)} is not inside the ${durationMs} ms load`,
    );
  }

  // (e) every byte of every file was read: exactly, for safetensors (a header
  // and tensors without holes); at least every tensor byte for the formats
  // with bytes between or after their tensors, which a strategy reading the
  // header and the data span skips, or reads twice when parsing.
  let fileBytes = 0;
  for (const file of bytes.values()) fileBytes += file.length;
  if (weights.files.every((f) => f.format.name === "safetensors")) {
    assert.equal(result.bytesRead, fileBytes);
  } else {
    let spanBytes = 0;
    for (const file of weights.files) {
      const { begin, end } = dataSpan(file.index.tensors);
      spanBytes += end - begin;
    }
    assert.ok(
      result.bytesRead >= spanBytes,
      `read ${result.bytesRead} bytes, fewer than the ${spanBytes} of the files' data spans`,
    );
  }
  return result;
}

/** A file truncated after `openWeights` makes the load throw, and the strategy recovers. */
async function checkTruncated<Options extends Record<string, unknown>>(
  definition: StrategyDefinition<Options>,
  options: Options,
  dir: string,
  intact: Fixture,
  open: () => Target,
): Promise<void> {
  await Deno.mkdir(dir);
  const path = join(dir, "model.safetensors");
  await Deno.copyFile(intact.weights.files[0]!.path, path);
  const weights = await openWeights(path);
  const { size, dataOffset } = weights.files[0]!.index;
  const strategy = definition.create(options);
  using target = openTarget(open, strategy, weights, intact.weights);
  try {
    // Cut deeper each time: inside the data, at its start, inside the header, to nothing.
    for (const length of [Math.floor(size / 2) + 3, dataOffset, 20, 0]) {
      await Deno.truncate(path, length);
      await strategy.prepareSample?.(weights, target);
      const recorder = new Recorder();
      await assert.rejects(
        withTimeout(strategy.load({ weights, target, recorder })),
        (error: unknown) => {
          assert.ok(error instanceof Error, `threw ${String(error)}`);
          assert.ok(!error.message.startsWith("Timed out"), error.message);
          return true;
        },
        `a load of "${path}" truncated to ${length} bytes did not throw`,
      );
      target.freeAll();
    }
    await loadChecked(strategy, intact, target);
  } finally {
    strategy.close?.();
  }
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `"${what}": length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `"${what}" differs at byte ${i} of ${expected.length}: ${actual[i]} where the file has ${
          expected[i]
        }`,
      );
    }
  }
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
