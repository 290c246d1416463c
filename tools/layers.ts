/**
 * The layers of weightbench and the check that imports only point down.
 *
 * Each folder is one layer; a module may import from its own folder and from
 * layers below it, never above. The graph is the real one that Deno resolves
 * (`deno info --json`), from the entry points the tasks run and the Workers
 * they start; tests and their helpers may import anything, so they are not in
 * it. `layers_test.ts` runs the check in the suite; run this file to print the
 * figures of the graph:
 *
 *     deno run -P=test tools/layers.ts
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerOf } from "./layers.ts";
 *
 * assert.equal(layerOf("bench/strategies/mmap.ts")?.name, "strategies");
 * assert.ok(layerOf("bench/core/load.ts")!.rank < layerOf("bench/strategies/mmap.ts")!.rank);
 * ```
 *
 * @module
 */

import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The layers, bottom first: a folder (or file) prefix and a name. */
export const LAYERS: readonly { readonly name: string; readonly paths: readonly string[] }[] = [
  { name: "util", paths: ["bench/util/"] },
  { name: "ffi", paths: ["bench/ffi/"] },
  { name: "stats", paths: ["bench/stats/"] },
  { name: "formats", paths: ["bench/formats/"] },
  { name: "quant", paths: ["bench/quant/"] },
  { name: "gpu", paths: ["bench/gpu/"] },
  { name: "fixtures", paths: ["fixtures/"] },
  { name: "core", paths: ["bench/core/"] },
  { name: "profiles", paths: ["profiles/"] },
  { name: "io", paths: ["bench/io/"] },
  { name: "stage", paths: ["bench/stage/"] },
  { name: "targets", paths: ["bench/targets/"] },
  { name: "strategies", paths: ["bench/strategies/"] },
  { name: "scenarios", paths: ["bench/scenarios/"] },
  { name: "probe", paths: ["bench/probe/"] },
  { name: "run", paths: ["bench/run/"] },
  { name: "compare", paths: ["bench/compare/"] },
  { name: "report", paths: ["report/"] },
  { name: "commands", paths: ["bench/cli/", "bench/main.ts"] },
  { name: "tools", paths: ["tools/"] },
];

/** The layer of `file` (relative to the root), or undefined for one outside every layer. */
export function layerOf(file: string): { name: string; rank: number } | undefined {
  let best: { name: string; rank: number; length: number } | undefined;
  LAYERS.forEach((layer, rank) => {
    for (const path of layer.paths) {
      if (file.startsWith(path) && (!best || path.length > best.length)) {
        best = { name: layer.name, rank, length: path.length };
      }
    }
  });
  return best && { name: best.name, rank: best.rank };
}

/** Module graph: each project module (relative path) and the project modules it imports. */
export type Graph = ReadonlyMap<string, readonly string[]>;

/** The scripts deno.json's tasks run: the graph's entry points, besides `report/mod.ts`. */
export async function entryPoints(root = ROOT): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))) as {
    tasks: Record<string, string | { command: string }>;
  };
  const entries = new Set<string>(["report/mod.ts"]);
  for (const task of Object.values(config.tasks)) {
    const command = typeof task === "string" ? task : task.command;
    if (!/^deno run\b/.test(command)) continue;
    for (const word of command.split(/\s+/)) if (/\.ts$/.test(word)) entries.add(word);
  }
  return [...entries];
}

/** The product's module graph, from `entries` and every Worker the modules start. */
export async function moduleGraph(entries: readonly string[], root = ROOT): Promise<Graph> {
  const graph = new Map<string, string[]>();
  const pending = [...entries];
  while (pending.length > 0) {
    const entry = pending.pop()!;
    if (graph.has(entry)) continue;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: {
        specifier: string;
        local?: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    for (const module of info.modules) {
      const from = projectPath(module.specifier, root);
      if (from === undefined || graph.has(from)) continue;
      const imports = new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const spec of [dependency.code?.specifier, dependency.type?.specifier]) {
          const to = spec === undefined ? undefined : projectPath(spec, root);
          if (to !== undefined) imports.add(to);
        }
      }
      graph.set(from, [...imports].sort());
      for (const worker of await workersOf(join(root, from))) {
        pending.push(relative(root, join(root, from, "..", worker)));
      }
    }
  }
  return graph;
}

/** An import from a lower layer to a higher one, or between two folders of one layer. */
export interface Violation {
  readonly from: string;
  readonly to: string;
  readonly why: string;
}

/** Every import of `graph` that points up or leaves the layers. */
export function layerViolations(graph: Graph): Violation[] {
  const found: Violation[] = [];
  for (const [from, imports] of graph) {
    const a = layerOf(from);
    for (const to of imports) {
      const b = layerOf(to);
      if (a === undefined || b === undefined) {
        found.push({ from, to, why: `${a === undefined ? from : to} is in no layer` });
      } else if (b.rank > a.rank) {
        found.push({ from, to, why: `${a.name} imports from ${b.name}, a layer above it` });
      }
    }
  }
  return found;
}

/** The groups of modules that import each other, directly or round a loop. */
export function importCycles(graph: Graph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) cycles.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** Counts of the graph: modules, imports, imports between folders, folders. */
export function graphFigures(graph: Graph): {
  modules: number;
  imports: number;
  folderImports: number;
  folders: number;
} {
  const folder = (file: string) => file.split("/").slice(0, -1).join("/") || ".";
  const pairs = new Set<string>();
  let imports = 0;
  for (const [from, targets] of graph) {
    for (const to of targets) {
      imports++;
      if (folder(from) !== folder(to)) pairs.add(`${folder(from)} ${folder(to)}`);
    }
  }
  return {
    modules: graph.size,
    imports,
    folderImports: pairs.size,
    folders: new Set([...graph.keys()].map(folder)).size,
  };
}

/** The longest functions and methods of `files`, by lines from signature to closing brace. */
export async function longestFunctions(
  files: readonly string[],
  count = 5,
  root = ROOT,
): Promise<{ file: string; name: string; lines: number }[]> {
  const found: { file: string; name: string; lines: number }[] = [];
  const start =
    /^\s*(?:export\s+)?(?:async\s+)?(?:function\*?\s+(\w+)|(?:(?:private|static|override|readonly)\s+)*(#?\w+)\s*(?:<[^>]*>)?\()/;
  for (const file of files) {
    const lines = (await Deno.readTextFile(join(root, file))).split("\n");
    for (let i = 0; i < lines.length; i++) {
      const match = start.exec(lines[i]!);
      const name = match?.[1] ?? match?.[2];
      if (!name || ["if", "for", "while", "switch", "catch", "return"].includes(name)) continue;
      let depth = 0;
      let opened = false;
      for (let j = i; j < lines.length; j++) {
        for (const ch of lines[j]!.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, "")) {
          if (ch === "{") [depth, opened] = [depth + 1, true];
          else if (ch === "}") depth--;
        }
        if (opened && depth <= 0) {
          found.push({ file, name, lines: j - i + 1 });
          break;
        }
        if (!opened && /;\s*$/.test(lines[j]!)) break;
      }
    }
  }
  return found.sort((a, b) => b.lines - a.lines).slice(0, count);
}

function projectPath(specifier: string, root: string): string | undefined {
  if (!specifier.startsWith("file://")) return undefined;
  const path = relative(root, fileURLToPath(specifier));
  return path.startsWith("..") || path.includes("node_modules") ? undefined : path;
}

/** The scripts a module starts as Workers: `new Worker(new URL("./x.ts", import.meta.url))`. */
async function workersOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  return [...text.matchAll(/new Worker\(\s*new URL\(\s*"([^"]+)",\s*import\.meta\.url\)/g)]
    .map((m) => m[1]!);
}

if (import.meta.main) {
  const graph = await moduleGraph(await entryPoints());
  const figures = graphFigures(graph);
  const violations = layerViolations(graph);
  const cycles = importCycles(graph);
  const longest = await longestFunctions([...graph.keys()]);
  console.log(
    `${figures.modules} modules in ${figures.folders} folders; ${figures.imports} imports, ` +
      `${figures.folderImports} between folders; ${violations.length} against the layers; ` +
      `${cycles.length} cycles`,
  );
  for (const v of violations) console.log(`  ${v.from} -> ${v.to}: ${v.why}`);
  for (const c of cycles) console.log(`  cycle: ${c.join(" <-> ")}`);
  console.log("longest functions:");
  for (const f of longest) console.log(`  ${f.lines} lines  ${f.name} (${f.file})`);
}
