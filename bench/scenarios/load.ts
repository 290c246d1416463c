/**
 * Reads a scenario: a JSON file (data), a TypeScript or JavaScript module
 * whose default export is the scenario (code, trusted like any config), or the
 * name of a built-in scenario in `bench/scenarios/builtin/` (`quick`).
 *
 * Relative weight paths in a file are resolved against the file's folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadScenario } from "./load.ts";
 *
 * const quick = await loadScenario("quick");
 * assert.equal(quick.name, "quick");
 * ```
 *
 * @module
 */

import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { InputError } from "../util/errors.ts";
import { parseScenario, type Scenario } from "./schema.ts";
import { isRemoteWeights } from "../stage/remote_weights.ts";

/** The folder of built-in scenarios. */
export const BUILTIN_SCENARIOS = new URL("./builtin/", import.meta.url);
/** Largest scenario JSON read. @default 1 MiB */
const MAX_SCENARIO_BYTES = 1 << 20;

/** Loads and validates the scenario at `pathOrName`. */
export async function loadScenario(pathOrName: string): Promise<Scenario> {
  const path = await locate(pathOrName);
  const extension = extname(path);
  let input: unknown;
  if (extension === ".json") {
    input = await readJson(path);
  } else if ([".ts", ".mts", ".js", ".mjs"].includes(extension)) {
    input = await importModule(path);
  } else {
    throw new InputError(`Cannot read scenario "${path}": expected a .json, .ts or .js file`);
  }
  const scenario = parseScenario(input, path);
  return {
    ...scenario,
    weights: scenario.weights.map((w) =>
      w.kind === "path" && !isAbsolute(w.path) && !isRemoteWeights(w.path)
        ? { ...w, path: join(dirname(path), w.path) }
        : w
    ),
  };
}

/** The names of the built-in scenarios. */
export async function builtinScenarioNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(BUILTIN_SCENARIOS)) {
    if (entry.isFile && /\.(json|ts)$/.test(entry.name)) {
      names.push(entry.name.replace(/\.\w+$/, ""));
    }
  }
  return names.sort();
}

async function locate(pathOrName: string): Promise<string> {
  if (await isFile(pathOrName)) return pathOrName;
  if (!pathOrName.includes("/") && extname(pathOrName) === "") {
    for (const extension of [".json", ".ts"]) {
      const builtin = resolve(new URL(pathOrName + extension, BUILTIN_SCENARIOS).pathname);
      if (await isFile(builtin)) return builtin;
    }
    const names = await builtinScenarioNames();
    throw new InputError(
      `Cannot read scenario "${pathOrName}": no such file or built-in scenario (built-in: ${
        names.join(", ")
      })`,
    );
  }
  throw new InputError(`Cannot read scenario "${pathOrName}": no such file`);
}

async function readJson(path: string): Promise<unknown> {
  const { size } = await Deno.stat(path);
  if (size > MAX_SCENARIO_BYTES) {
    throw new InputError(
      `${path}: ${size} bytes exceeds the ${MAX_SCENARIO_BYTES}-byte limit for a scenario`,
    );
  }
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
}

async function importModule(path: string): Promise<unknown> {
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(resolve(path)).href);
  } catch (error) {
    throw new InputError(
      `${path}: cannot load the module: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (module.default === undefined) {
    throw new InputError(
      `${path}: the module has no default export (export default defineScenario({...}))`,
    );
  }
  return module.default;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
