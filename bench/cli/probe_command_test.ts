import assert from "node:assert/strict";
import { join } from "node:path";
import { testUnless } from "../util/testing.ts";
import { assertInputError, cli, listTree, spawnCli, tempDir } from "./_cli_testing.ts";

Deno.test("probe: measures, prints the sweep and caches the limits", async () => {
  await using dir = await tempDir();
  await using limits = await tempDir();
  const result = await cli(
    [
      "probe",
      "--path",
      dir.path,
      "--size",
      "64MiB",
      "--block-size",
      "1MiB,4MiB",
      "--depth",
      "1,2",
      "--json",
    ],
    { WEIGHTBENCH_LIMITS: limits.path },
  );
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout);
  assert.ok(printed.storage.warm.gbps > 0);
  assert.ok(printed.memoryCopyGBps > 0);
  if (printed.storage.cold) {
    assert.equal(printed.trials.length, 4);
    assert.ok([1 << 20, 4 << 20].includes(printed.storage.cold.blockSize));
  }
  assert.deepEqual(await listTree(dir.path), [], "the probe file is removed");
  const cached = await listTree(limits.path);
  assert.equal(cached.length, 1);
  assert.match(result.stderr, new RegExp(`cached: ${join(limits.path, cached[0]!)}`));
  const entry = JSON.parse(await Deno.readTextFile(join(limits.path, cached[0]!)));
  assert.deepEqual(entry.storage, printed.storage);
});

Deno.test("probe rejects what it cannot measure, in one line, before writing anything", async () => {
  await using dir = await tempDir();
  await using limits = await tempDir();
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "");
  const env = { WEIGHTBENCH_LIMITS: limits.path };
  const cases: [string[], (string | RegExp)[]][] = [
    [["--path", join(dir.path, "missing")], ['Invalid --path "', "no such folder"]],
    [["--path", file], ["not a folder"]],
    [["--path", "/proc"], ['"/proc"', "not readable"]],
    [["--path", dir.path, "--block-size", "3MiB"], ['Invalid --block-size "3MiB"', "power of two"]],
    [["--path", dir.path, "--block-size", "lots"], ['Invalid --block-size "lots"']],
    [["--path", dir.path, "--depth", "0"], ['Invalid --depth "0"']],
    [["--path", dir.path, "--depth", "-4"], ['Invalid --depth "-4"']],
    [["--path", dir.path, "--size", "1MiB"], ['Invalid --size "1MiB"', "64MiB"]],
    [["--path", dir.path, "--dpeth", "4"], [/Unknown flag "--dpeth" \(did you mean "--depth"\?\)/]],
  ];
  for (const [args, expected] of cases) {
    await assertInputError(await cli(["probe", ...args], env), expected);
  }
  assert.deepEqual(await listTree(dir.path), ["a-file"]);
  assert.deepEqual(await listTree(limits.path), []);
});

Deno.test("probe: Ctrl-C leaves no probe file and no cache entry", async () => {
  await using dir = await tempDir();
  await using limits = await tempDir();
  const { child, done } = spawnCli(["probe", "--path", dir.path, "--size", "1GiB"], {
    env: { WEIGHTBENCH_LIMITS: limits.path },
  });
  // Wait until the probe file exists, then interrupt while it is being written or read.
  for (let i = 0; i < 100 && (await listTree(dir.path)).length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGINT");
  const output = await done;
  assert.equal(output.code, 130, output.stderr);
  assert.match(output.stderr, /^error: Interrupted: nothing cached\n$/);
  assert.deepEqual(await listTree(dir.path), []);
  assert.deepEqual(await listTree(limits.path), []);
});

/** Makes `folder` immutable (unwritable even to root) where the file system and privileges allow. */
async function lock(folder: string, on: boolean): Promise<boolean> {
  const result = await new Deno.Command("chattr", {
    args: [on ? "+i" : "-i", folder],
    stderr: "null",
  })
    .output().catch(() => undefined);
  return result?.success ?? false;
}

const lockable = await (async () => {
  const dir = await Deno.makeTempDir();
  try {
    return (await lock(dir, true)) && (await lock(dir, false));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
})();

testUnless(
  lockable ? undefined : "chattr +i is not available here, so no folder is unwritable to root",
  "probe rejects a folder it cannot write to",
  async () => {
    await using dir = await tempDir();
    const locked = join(dir.path, "locked");
    await Deno.mkdir(locked);
    assert.ok(await lock(locked, true));
    try {
      await assertInputError(await cli(["probe", "--path", locked]), [
        `"${locked}"`,
        "not writable",
      ]);
    } finally {
      await lock(locked, false);
    }
  },
);
