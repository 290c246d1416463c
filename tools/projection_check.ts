/**
 * Checks the projection (`bench/compare/projection.ts`) against a real load:
 * the load time projected from a 256 MiB run against the time measured at
 * 4 GiB, on this machine, per strategy and cache state. Both sizes are
 * generated fixtures of the Llama-3-8B layout in one file (cached), loaded to
 * the host target through the real runner, alternating sample by sample so
 * the machine's noise falls on both alike. Prints the machine's load before
 * and after (the machine may be shared: say so with the figures).
 *
 *     deno run -q --v8-flags=--expose-gc -P=measure tools/projection_check.ts \
 *       [--small 256MiB] [--large 4GiB] [--strategy mmap,full-read,direct] \
 *       [--cache cold,warm] [--runs 5]
 *
 * The test `bench/compare/projection_test.ts` checks the same at small sizes
 * on every test run.
 *
 * @module
 */

import Table from "cli-table3";
import { runScript } from "./_script.ts";
import { commaList, positiveInteger } from "../bench/cli/args.ts";
import { pointOf, projectBytes } from "../bench/compare/projection.ts";
import { planBench } from "../bench/run/options.ts";
import { parseScenario } from "../bench/scenarios/schema.ts";
import { runBench } from "../bench/run/bench.ts";
import { InputError } from "../bench/util/errors.ts";
import { formatBytes, parseSize } from "../bench/util/size.ts";
import { formatDuration } from "../report/table.ts";
import { readProcText } from "../bench/ffi/procfs.ts";

const USAGE =
  `Usage: deno run -q --v8-flags=--expose-gc -P=measure tools/projection_check.ts [options]

Projects the load time of --large from a run at --small and measures it, per
strategy and cache state: the projection must come within 15%.

Options:
  --small SIZE       the size projected from (default: 256MiB)
  --large SIZE       the size measured and projected to (default: 4GiB)
  --strategy a,b     strategies (default: mmap,full-read,direct)
  --cache a,b        cold, warm or both (default: cold,warm)
  --runs N           timed samples per case (default: 5)
  -h, --help         show this help
`;

/** How far a projection may be from the measured median. */
const TOLERANCE = 0.15;

await runScript(USAGE, {
  small: { type: "string" },
  large: { type: "string" },
  strategy: { type: "string" },
  cache: { type: "string" },
  runs: { type: "string" },
}, async (values) => {
  const size = (flag: string, text: string) => {
    const bytes = parseSize(text);
    if (bytes === undefined || bytes <= 0) throw new InputError(`Invalid ${flag} "${text}"`);
    return bytes;
  };
  const small = size("--small", values.small ?? "256MiB");
  const large = size("--large", values.large ?? "4GiB");
  const strategies = commaList(values.strategy) ?? ["mmap", "full-read", "direct"];
  const caches = (commaList(values.cache) ?? ["cold", "warm"]) as ("cold" | "warm")[];
  const runs = positiveInteger("--runs", values.runs) ?? 5;
  const out = await Deno.makeTempDir({ prefix: "projection-check-" });
  console.log(`before: ${uptime()}`);
  try {
    const plan = await planBench({
      // Parsed as a scenario file is, so every strategy gets its options' defaults.
      scenario: parseScenario({
        name: "projection-check",
        description: `${formatBytes(small)} projected to ${formatBytes(large)}`,
        weights: [small, large].map((bytes) => ({
          fixture: { layout: "llama-3-8b", size: bytes, dtype: "F16", shards: 1 },
        })),
        strategies,
        targets: ["host"],
        cache: caches,
        runs,
        warmup: 1,
      }, "tools/projection_check.ts"),
      out,
      probe: false,
      verify: "sampled",
      command: ["tools/projection_check.ts", ...Deno.args],
    });
    const started = performance.now();
    const { profile } = await runBench(plan, {
      onEvent: (event) => {
        if (event.kind === "sample" && event.done % 10 === 0) {
          console.error(`  ${event.done}/${event.total} samples`);
        }
      },
    });
    console.log(
      `after: ${uptime()} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    const table = new Table({
      head: [
        "strategy · cache",
        `${formatBytes(small)} median`,
        `${formatBytes(large)} projected`,
        `${formatBytes(large)} measured`,
        "error",
        "error, fastest samples",
        "error, flat rate",
      ],
      style: { head: [], border: [] },
      wordWrap: true,
      colWidths: [20, 12, 12, 12, 10, 12, 10],
    });
    let misses = 0;
    let checked = 0;
    for (const strategy of strategies) {
      for (const cache of caches) {
        const cases = profile.cases.filter((c) =>
          c.strategy.name === strategy && c.cache === cache
        );
        const [from, to] = cases;
        if (from?.stats == null || to?.stats == null) {
          const why = [from, to].map((c) => c?.error ?? c?.reason).find(Boolean) ?? "no samples";
          table.push([`${strategy} · ${cache}`, { colSpan: 6, content: `not measured: ${why}` }]);
          continue;
        }
        const point = pointOf(from)!;
        const bytes = pointOf(to)!.bytes;
        const projected = projectBytes([point], bytes).seconds * 1000;
        const flat = bytes / (point.gbps * 1e6);
        const measured = to.stats.durationMs.median;
        const error = projected / measured - 1;
        const fastest = projectBytes([pointOf(from, "min")!], bytes).seconds * 1000 /
            to.stats.durationMs.min - 1;
        checked++;
        if (Math.abs(error) > TOLERANCE) misses++;
        table.push([
          `${strategy} · ${cache}`,
          formatDuration(from.stats.durationMs.median),
          formatDuration(projected),
          formatDuration(measured),
          `${(error * 100).toFixed(1)}%${Math.abs(error) > TOLERANCE ? " ✗" : " ✓"}`,
          `${(fastest * 100).toFixed(1)}%`,
          `${((flat / measured - 1) * 100).toFixed(1)}%`,
        ]);
      }
    }
    console.log(table.toString());
    console.log(
      `${checked - misses} of ${checked} projections within ${TOLERANCE * 100}% of the measured ` +
        `median (error: projected / measured − 1, of the medians; fastest samples: the same ` +
        `from each size's fastest sample; flat rate: the medians without setting open and ` +
        `parse apart)`,
    );
    return misses === 0 && checked > 0 ? 0 : 1;
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

/** The load averages, from /proc/loadavg. */
function uptime(): string {
  const [one, five, fifteen] = (readProcText("/proc/loadavg") ?? "").split(" ");
  return fifteen === undefined
    ? "load average unknown"
    : `load average ${one}, ${five}, ${fifteen} (${navigator.hardwareConcurrency} cores)`;
}
