import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixtureKey } from "../../fixtures/generate.ts";
import { parseScenario, type ScenarioInput } from "../scenarios/schema.ts";
import { STRATEGIES } from "../strategies/registry.ts";
import type { Strategy, StrategyDefinition } from "../strategies/strategy.ts";
import { fileSystemOf } from "../util/testing.ts";
import { planCases } from "./plan.ts";
import { readMemory } from "../core/memory.ts";
import {
  type CaseRun,
  runCases,
  type RunEvent,
  type RunOptions,
  type RunResult,
} from "./runner.ts";
import { type Sample } from "../../profiles/schema.ts";

const TINY_SHARDED = fileURLToPath(
  new URL("../../fixtures/testdata/tiny-sharded", import.meta.url),
);

/** A private copy of tiny-sharded, so cache states act on files no one else maps. */
async function withWeights(fn: (dir: string, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "weightbench-runner-" });
  try {
    const dir = join(root, "tiny-sharded");
    await Deno.mkdir(dir);
    for await (const entry of Deno.readDir(TINY_SHARDED)) {
      await Deno.copyFile(join(TINY_SHARDED, entry.name), join(dir, entry.name));
    }
    await fn(dir, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function plan(input: Omit<ScenarioInput, "name">) {
  const scenario = parseScenario({ name: "runner-test", targets: ["host"], ...input }, "t.json");
  return { scenario, cases: planCases(scenario) };
}

function options(root: string, extra: Partial<RunOptions> = {}): RunOptions {
  return { runs: 3, warmup: 1, fixtureRoot: join(root, "fixtures"), ...extra };
}

function samplesOf(run: CaseRun): readonly Sample[] {
  return run.outcome.samples;
}

/** Wraps a registered strategy; `tweak` sees each load's number (1-based) and the inner strategy. */
function wrapped(
  name: string,
  tweak: Partial<Strategy> & { onLoad?: (load: number) => void },
): StrategyDefinition {
  const base = STRATEGIES[name]!;
  return {
    ...base,
    create(options) {
      const inner = base.create(options);
      let loads = 0;
      return {
        name: inner.name,
        ...(tweak.unsupported ? { unsupported: tweak.unsupported } : {}),
        async load(context) {
          const result = await inner.load(context);
          tweak.onLoad?.(++loads);
          return result;
        },
        close() {
          inner.close?.();
          tweak.close?.();
        },
      };
    },
  };
}

Deno.test("runCases: 2 strategies x cold/warm, interleaved, every sample measured", async () => {
  await withWeights(async (dir, root) => {
    const { scenario, cases } = plan({
      weights: [dir],
      strategies: ["full-read", "mmap"],
      cache: ["cold", "warm"],
      runs: 3,
      warmup: 1,
    });
    assert.equal(cases.length, 4);
    const events: RunEvent[] = [];
    const result = await runCases(
      cases,
      options(root, {
        runs: scenario.runs,
        warmup: scenario.warmup,
        onEvent: (e) => events.push(e),
      }),
    );
    const onTmpfs = ["tmpfs", "ramfs"].includes((await fileSystemOf(dir)) ?? "");
    const procKnown = readMemory() !== undefined;

    assert.equal(result.cases.length, 4);
    assert.deepEqual(Object.keys(result.targets), ["host"]);
    assert.equal(result.weights.length, 1);
    for (const run of result.cases) {
      assert.equal(
        run.outcome.state,
        "completed",
        `${run.case.id}: ${JSON.stringify(run.outcome)}`,
      );
      const samples = samplesOf(run);
      assert.equal(samples.length, 4, run.case.id);
      assert.deepEqual(samples.map((s) => s.warmup), [true, false, false, false]);
      assert.deepEqual(samples.map((s) => s.round), [0, 1, 2, 3]);
      for (const sample of samples) {
        const where = `${run.case.id} round ${sample.round}`;
        assert.deepEqual(sample.verification, { mode: "all", checkedBytes: sample.bytes }, where);
        assert.ok(sample.durationMs > 0, where);
        assert.ok(sample.startedAt >= 0, where);
        assert.ok(sample.harnessMs >= 0 && sample.harnessMs < 50, `${where}: ${sample.harnessMs}`);
        assert.ok(sample.cachePrepMs >= 0, where);
        assert.equal(sample.bytes, 4704, where);
        assert.equal(sample.bytesRead, 3632 + 2024, where);
        if (run.case.cache === "warm" || !onTmpfs) {
          assert.equal(sample.cache.established, true, `${where}: ${JSON.stringify(sample.cache)}`);
        }
        if (run.case.cache === "warm") assert.equal(sample.cache.residentFraction, 1, where);
        if (procKnown) {
          assert.ok(sample.peakRssBytes !== null && sample.peakRssBytes > 0, where);
        }
        const phases = new Set(sample.spans.map((s) => s.phase));
        for (const phase of ["open", "parse", "alloc", "copy", "verify", "free"] as const) {
          assert.ok(phases.has(phase), `${where}: no ${phase} span`);
        }
      }
    }

    // Interleaved: each round takes one sample of every case, and no case
    // takes two samples in a row while the others wait.
    const timeline = result.cases
      .flatMap((run) => samplesOf(run).map((s) => ({ index: run.case.index, sample: s })))
      .sort((a, b) => a.sample.startedAt - b.sample.startedAt);
    assert.equal(timeline.length, 16);
    for (let round = 0; round < 4; round++) {
      const slice = timeline.slice(round * 4, round * 4 + 4);
      assert.ok(slice.every((s) => s.sample.round === round), `round ${round} is not contiguous`);
      assert.deepEqual(new Set(slice.map((s) => s.index)).size, 4, `round ${round}`);
    }
    for (let i = 1; i < timeline.length; i++) {
      assert.notEqual(
        timeline[i]!.index,
        timeline[i - 1]!.index,
        `case ${timeline[i]!.index} sampled twice in a row: ${
          timeline.map((s) => s.index).join(",")
        }`,
      );
    }

    const sampleEvents = events.filter((e) => e.kind === "sample");
    assert.equal(sampleEvents.length, 16);
    assert.deepEqual(sampleEvents.map((e) => e.done), Array.from({ length: 16 }, (_, i) => i + 1));
    assert.ok(sampleEvents.every((e) => e.total === 16));
    assert.equal(events.filter((e) => e.kind === "fixture").length, 0);
  });
});

Deno.test("runCases: a strategy that throws is errored, the other cases complete", async () => {
  await withWeights(async (dir, root) => {
    const { cases } = plan({ weights: [dir], strategies: ["full-read", "mmap"], cache: ["warm"] });
    const flaky = wrapped("full-read", {
      onLoad: (load) => {
        // the load's buffers are left on the target: the runner must free them
        if (load === 2) throw new Error("Injected failure on load 2");
      },
    });
    const result = await runCases(
      cases,
      options(root, { strategies: { ...STRATEGIES, "full-read": flaky } }),
    );
    const [failed, other] = result.cases;
    assert.equal(failed!.case.strategy.name, "full-read");
    assert.deepEqual(failed!.outcome.state, "errored");
    assert.equal(
      failed!.outcome.state === "errored" ? failed!.outcome.error : undefined,
      "Injected failure on load 2",
    );
    assert.equal(samplesOf(failed!).length, 1);
    assert.equal(other!.outcome.state, "completed", JSON.stringify(other!.outcome));
    assert.equal(samplesOf(other!).length, 4);
    assert.ok(samplesOf(other!).every((s) => s.verification.checkedBytes === s.bytes));
  });
});

Deno.test("runCases: a strategy that is unsupported is skipped with its reason", async () => {
  await withWeights(async (dir, root) => {
    const { cases } = plan({ weights: [dir], strategies: ["full-read", "mmap"], cache: ["warm"] });
    let loads = 0;
    const unsupported = wrapped("mmap", {
      unsupported: () => "needs a GPU",
      onLoad: () => loads++,
    });
    const result = await runCases(
      cases,
      options(root, { strategies: { ...STRATEGIES, mmap: unsupported } }),
    );
    const [completed, skipped] = result.cases;
    assert.equal(completed!.outcome.state, "completed");
    assert.equal(samplesOf(completed!).length, 4);
    assert.deepEqual(skipped!.outcome, { state: "skipped", reason: "needs a GPU", samples: [] });
    assert.equal(loads, 0);
  });
});

Deno.test("runCases: an abort ends the run between samples, keeping what it measured", async () => {
  await withWeights(async (dir, root) => {
    const { cases } = plan({ weights: [dir], strategies: ["full-read", "mmap"], cache: ["warm"] });
    const controller = new AbortController();
    const reason = new Error("Stopped by the test");
    let closed = 0;
    let samples = 0;
    const snapshots: RunResult[] = [];
    const strategies = {
      "full-read": wrapped("full-read", { close: () => closed++ }),
      mmap: wrapped("mmap", { close: () => closed++ }),
    };
    const result = await runCases(
      cases,
      options(root, {
        strategies,
        signal: controller.signal,
        onEvent: (event) => {
          if (event.kind === "sample" && ++samples === 5) controller.abort(reason);
        },
        onSample: (soFar) => {
          snapshots.push(soFar);
        },
      }),
    );
    assert.equal(samples, 5);
    assert.equal(closed, 2, "every strategy is closed after an abort");
    assert.equal(result.state, "interrupted");
    assert.equal(result.interruption, reason);
    const kept = result.cases.map((c) => c.outcome.samples.length);
    assert.equal(kept[0]! + kept[1]!, 5, "every sample taken is in the result");
    assert.equal(snapshots.length, 5, "the caller saw the run after every sample");
    assert.ok(snapshots.every((s) => s.state === "running"));
    assert.deepEqual(
      snapshots.map((s) => s.cases.reduce((n, c) => n + c.outcome.samples.length, 0)),
      [1, 2, 3, 4, 5],
    );
  });
});

Deno.test("runCases: a fixture is generated on first use and reused after", async () => {
  const root = await Deno.makeTempDir({ prefix: "weightbench-runner-fixture-" });
  try {
    const { scenario, cases } = plan({
      weights: [{ fixture: { layout: "llama-3.2-1b", size: "2MiB", dtype: "F16", shards: 2 } }],
      strategies: ["mmap"],
      cache: ["warm"],
    });
    const spec = scenario.weights[0]!;
    assert.ok(spec.kind === "fixture");
    const run = async () => {
      const events: RunEvent[] = [];
      const result = await runCases(
        cases,
        options(root, { runs: 1, warmup: 0, onEvent: (e) => events.push(e) }),
      );
      assert.equal(result.cases[0]!.outcome.state, "completed");
      assert.equal(samplesOf(result.cases[0]!).length, 1);
      return events.filter((e) => e.kind === "fixture");
    };
    const first = await run();
    assert.ok(first.length > 0, "the first run generates the fixture");
    const last = first.at(-1)!;
    assert.equal(last.kind === "fixture" && last.done === last.total, true);
    const dir = join(root, "fixtures", fixtureKey(spec));
    const made = (await Deno.stat(join(dir, "fixture.json"))).mtime;
    assert.deepEqual(await run(), [], "the second run reuses it");
    assert.deepEqual((await Deno.stat(join(dir, "fixture.json"))).mtime, made);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("runner: sampled verification computes no digest of the weights; full verification does", async () => {
  await withWeights(async (dir, root) => {
    const { cases } = plan({ weights: [{ path: dir }], strategies: ["mmap"], cache: ["warm"] });
    for (const verify of ["sampled", "all"] as const) {
      const events: RunEvent[] = [];
      const run = await runCases(
        cases,
        options(root, { runs: 1, warmup: 0, verify, onEvent: (e) => events.push(e) }),
      );
      assert.equal(run.cases[0]!.outcome.state, "completed");
      const digested = events.some((e) => e.kind === "prepare" && e.step === "digest");
      assert.equal(digested, verify === "all", `verify ${verify}`);
    }
  });
});

Deno.test("runCases: sampling stops a steady case early and a noisy one at its budget", async () => {
  await withWeights(async (dir, root) => {
    const { cases } = plan({ weights: [dir], strategies: ["full-read", "mmap"], cache: ["warm"] });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let jitter = 0;
    const totals: [number, number][] = [];
    const strategies = {
      // Every load takes 40 ms more: a median known within 10% after the minimum.
      "full-read": wrapped("full-read", {}),
      // Loads alternate between 10 and 60 ms more: never within 10%.
      mmap: wrapped("mmap", {}),
    };
    const slowed = (definition: StrategyDefinition, extra: () => number): StrategyDefinition => ({
      ...definition,
      create(options) {
        const inner = definition.create(options);
        return {
          ...inner,
          name: inner.name,
          load: async (context) => {
            await sleep(extra());
            return inner.load(context);
          },
        };
      },
    });
    const result = await runCases(
      cases,
      options(root, {
        runs: 40,
        warmup: 0,
        sampling: { minRuns: 4, maxRuns: 40, ciTarget: 0.1, budgetMs: 600 },
        onEvent: (event) => {
          if (event.kind === "sample") totals.push([event.done, event.total]);
        },
        strategies: {
          "full-read": slowed(strategies["full-read"], () => 40),
          mmap: slowed(strategies.mmap, () => (jitter++ % 2 === 0 ? 10 : 60)),
        },
      }),
    );
    const [steady, noisy] = result.cases.map((c) => samplesOf(c).length);
    assert.ok(steady! >= 4 && steady! < 10, `the steady case took ${steady} samples`);
    assert.ok(noisy! > steady! && noisy! < 40, `the noisy case took ${noisy} samples`);
    assert.equal(result.state, "complete");
    // The expected total follows the budget, not the 80 samples that maxRuns allows, and ends true.
    assert.ok(totals.every(([done, total]) => done <= total), JSON.stringify(totals));
    assert.ok(totals[4]![1] < 40, `after a few samples ${totals[4]![1]} expected`);
    assert.deepEqual(totals.at(-1), [steady! + noisy!, steady! + noisy!]);
  });
});
