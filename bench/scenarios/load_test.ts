import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../util/errors.ts";
import { builtinScenarioNames, loadScenario } from "./load.ts";
import { withTempDir } from "../util/testing.ts";

Deno.test("every built-in scenario is valid", async () => {
  const names = await builtinScenarioNames();
  assert.ok(names.includes("quick"));
  for (const name of names) assert.equal((await loadScenario(name)).name.length > 0, true);
});

Deno.test("relative weight paths resolve against the scenario's folder", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "s.json");
    await Deno.writeTextFile(path, JSON.stringify({ name: "s", weights: ["models/m", "/abs/m"] }));
    const s = await loadScenario(path);
    assert.deepEqual(s.weights, [{ kind: "path", path: join(dir, "models/m") }, {
      kind: "path",
      path: "/abs/m",
    }]);
  });
});

Deno.test("a TypeScript scenario is typed by defineScenario and validated the same way", async () => {
  await withTempDir(async (dir) => {
    const schema = new URL("./schema.ts", import.meta.url).href;
    const good = join(dir, "good.ts");
    await Deno.writeTextFile(
      good,
      `import { defineScenario } from "${schema}";\nexport default defineScenario({ name: "typed", weights: ["m"], runs: 2 });\n`,
    );
    const s = await loadScenario(good);
    assert.equal(s.name, "typed");
    assert.equal(s.runs, 2);
    const bad = join(dir, "bad.ts");
    await Deno.writeTextFile(bad, `export default { name: "typed", weights: ["m"], runs: -1 };\n`);
    await assert.rejects(() => loadScenario(bad), /bad\.ts: runs: /);
    const none = join(dir, "none.ts");
    await Deno.writeTextFile(none, `export const x = 1;\n`);
    await assert.rejects(() => loadScenario(none), /no default export/);
  });
});

Deno.test("unreadable scenarios are input errors naming the file", async () => {
  await withTempDir(async (dir) => {
    const broken = join(dir, "broken.json");
    await Deno.writeTextFile(broken, "{ name: ");
    await assert.rejects(() => loadScenario(broken), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /broken\.json: not valid JSON/);
      return true;
    });
    const yaml = join(dir, "s.yaml");
    await Deno.writeTextFile(yaml, "name: s");
    await assert.rejects(() => loadScenario(yaml), /expected a \.json, \.ts or \.js file/);
    await assert.rejects(() => loadScenario(join(dir, "missing.json")), /no such file/);
    await assert.rejects(
      () => loadScenario("quik"),
      /no such file or built-in scenario \(built-in: .*quick/,
    );
    const huge = join(dir, "huge.json");
    await Deno.writeTextFile(huge, " ".repeat((1 << 20) + 1));
    await assert.rejects(() => loadScenario(huge), /exceeds the 1048576-byte limit/);
  });
});
