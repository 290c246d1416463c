import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openWeights, type WeightSet } from "../formats/weights.ts";
import { fullRead } from "../strategies/full_read.ts";
import { type LoadResult, type Placement, targetFootprint } from "./load.ts";
import { HostTarget } from "../targets/host.ts";
import { type TensorDigests, tensorDigests } from "./digests.ts";
import { Recorder } from "./recorder.ts";
import { VerificationError, verifyLoad, verifyLoadWith } from "./verify.ts";
import { HashPool } from "./hash_pool.ts";

const TINY_SHARDED = fileURLToPath(
  new URL("../../fixtures/testdata/tiny-sharded", import.meta.url),
);

interface Loaded {
  readonly weights: WeightSet;
  readonly digests: TensorDigests;
  readonly target: HostTarget;
  readonly result: LoadResult;
}

/** Runs `check` on a real full-read load of tiny-sharded onto a fresh host target. */
async function withLoad(check: (loaded: Loaded) => void | Promise<void>): Promise<void> {
  const weights = await openWeights(TINY_SHARDED);
  const digests = await tensorDigests(weights);
  using target = new HostTarget();
  target.reserve(targetFootprint(weights) + weights.files.length * 4096);
  const strategy = fullRead.create(fullRead.options.parse({}));
  try {
    const result = await strategy.load({ weights, target, recorder: new Recorder() });
    await check({ weights, digests, target, result });
  } finally {
    strategy.close?.();
  }
}

/** `text` as a literal inside a regular expression. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function withPlacements(result: LoadResult, placements: readonly Placement[]): LoadResult {
  return { ...result, placements };
}

/** Both verifiers refuse `result` with `message`: on this thread, and hashed by a pool of Workers. */
async function assertFails(loaded: Loaded, result: LoadResult, message: RegExp): Promise<void> {
  const check = (error: unknown) => {
    assert.ok(error instanceof VerificationError, String(error));
    assert.equal(error.name, "VerificationError");
    assert.match(error.message, message);
    return true;
  };
  assert.throws(() => verifyLoad(loaded.weights, loaded.digests, result, loaded.target), check);
  using pool = new HashPool(2);
  await assert.rejects(
    verifyLoadWith(pool, loaded.weights, loaded.digests, result, loaded.target),
    check,
  );
}

Deno.test("verifyLoad passes an intact load", async () => {
  await withLoad(async ({ weights, digests, target, result }) => {
    const verification = verifyLoad(weights, digests, result, target);
    assert.equal(verification.tensors, weights.tensorCount);
    assert.equal(verification.bytes, weights.tensorBytes);
    using pool = new HashPool(2);
    assert.deepEqual(await verifyLoadWith(pool, weights, digests, result, target), verification);
  });
});

Deno.test("verifyLoad catches a corrupted byte on the target", async () => {
  await withLoad(async (loaded) => {
    const { result, target } = loaded;
    const last = result.placements.at(-1)!;
    const view = target.readBack(last.buffer, last.offset + last.tensor.byteLength - 1, 1);
    view[0] = view[0]! ^ 0x01;
    await assertFails(
      loaded,
      result,
      new RegExp(`Tensor "${literal(last.tensor.name)}" from ".*" differs on host`),
    );
  });
});

Deno.test("verifyLoad catches a tensor placed at another tensor's bytes", async () => {
  await withLoad(async (loaded) => {
    const [a, b] = loaded.result.placements.filter((p) => p.tensor.byteLength === 512);
    assert.ok(a && b && a.tensor.name !== b.tensor.name);
    const swapped = loaded.result.placements.map((p) =>
      p === a ? { ...a, buffer: b.buffer, offset: b.offset } : p
    );
    await assertFails(loaded, withPlacements(loaded.result, swapped), /differs on host/);
  });
});

Deno.test("verifyLoad catches a missing placement", async () => {
  await withLoad(async (loaded) => {
    const placements = loaded.result.placements;
    const gone = placements[3]!;
    await assertFails(
      loaded,
      withPlacements(loaded.result, placements.filter((p) => p !== gone)),
      new RegExp(
        `1 of ${placements.length} tensors never reached host, first "${
          literal(gone.tensor.name)
        }"`,
      ),
    );
  });
});

Deno.test("verifyLoad catches a duplicated placement", async () => {
  await withLoad(async (loaded) => {
    const placements = loaded.result.placements;
    const twice = placements[1]!;
    await assertFails(
      loaded,
      withPlacements(loaded.result, [...placements, twice]),
      new RegExp(`"${literal(twice.tensor.name)}" from ".*" was placed twice`),
    );
  });
});

Deno.test("verifyLoad catches a tensor that is not in the source", async () => {
  await withLoad(async (loaded) => {
    const placements = loaded.result.placements;
    const first = placements[0]!;
    const ghost: Placement = { ...first, tensor: { ...first.tensor, name: "ghost.weight" } };
    await assertFails(
      loaded,
      withPlacements(loaded.result, [...placements, ghost]),
      /Tensor "ghost\.weight" from ".*" is not in the source/,
    );
    // a real tensor name, claimed from the wrong file
    const other = loaded.weights.files[1]!.path;
    const misfiled: Placement = { ...first, file: other };
    await assertFails(
      loaded,
      withPlacements(loaded.result, [misfiled, ...placements.slice(1)]),
      /is not in the source/,
    );
  });
});
