import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { withTempDir } from "../util/testing.ts";
import { parseScenario } from "../scenarios/schema.ts";
import { checkWritable, preflight } from "./preflight.ts";

const TESTDATA = new URL("../../fixtures/testdata/", import.meta.url).pathname;

function scenario(weights: unknown[]) {
  return parseScenario(
    { name: "check", weights, strategies: ["mmap"], targets: ["host"] },
    "check.json",
  );
}

/** Every file and folder under `dir`. */
async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("weights that parse are described, a fixture is planned, nothing is written", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "runs", "today");
    const cache = join(dir, "cache");
    const checked = await preflight(
      scenario([
        join(TESTDATA, "tiny-sharded"),
        { fixture: { layout: "llama-3-8b", size: "64MiB", shards: 2 } },
        "https://example.invalid/model/",
      ]),
      { out, fixtureRoot: cache },
    );
    assert.deepEqual(checked.map((w) => w.kind), ["path", "fixture", "remote"]);
    const [path, fixture] = checked;
    assert.ok(path?.kind === "path" && path.tensorCount === 9 && path.files === 2);
    assert.ok(fixture?.kind === "fixture" && !fixture.cached && fixture.tensorBytes > 0);
    assert.deepEqual(await listing(dir), [], "no folder created, no file left");
  });
});

/** The message `preflight` refuses `weights` with. */
async function refusal(weights: unknown[], out?: string): Promise<string> {
  return await withTempDir(async (dir) => {
    const error = await preflight(scenario(weights), {
      out: out ?? dir,
      fixtureRoot: join(dir, "cache"),
    }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof InputError, `expected an InputError, got ${error}`);
    return error.message;
  });
}

Deno.test("missing, empty and malformed weights are refused before anything runs", async () => {
  assert.equal(
    await refusal(["/nonexistent/model"]),
    'Cannot read "/nonexistent/model": no such file or folder',
  );
  await withTempDir(async (empty) => {
    assert.match(await refusal([empty]), /no weight files in folder/);
  });
  assert.match(
    await refusal([join(TESTDATA, "bad", "header-length-lies.safetensors")]),
    /header-length-lies\.safetensors": .*9000000000000000/,
  );
  assert.match(
    await refusal([{ fixture: { layout: "llama-3-8b", size: 1, shards: 2 } }]),
    /size|small/i,
  );
});

Deno.test("an output folder that cannot be written is refused with its path", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(
      checkWritable(file, "profiles"),
      new InputError(`Cannot write profiles to "${file}": not a folder`),
    );
    await assert.rejects(
      checkWritable(join(file, "below"), "profiles"),
      new InputError(
        `Cannot write profiles to "${join(file, "below")}": "${file}" is not a folder`,
      ),
    );
    assert.deepEqual(await listing(dir), ["a-file"]);
  });
});
