import assert from "node:assert/strict";
import { InputError } from "../util/errors.ts";
import { commaList, nonNegativeInteger, parseFlags, positiveInteger } from "./args.ts";

const FLAGS = {
  runs: { type: "string" },
  out: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The message of the {@link InputError} `fn` throws. */
function inputError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${error}`);
    assert.equal(error.exitCode, 2);
    assert.ok(!error.message.includes("\n"), "one line");
    return error.message;
  }
  assert.fail("expected an InputError");
}

Deno.test("parseFlags reads string, boolean and short flags", () => {
  const { values, positionals } = parseFlags(["--runs", "3", "--json", "-h"], FLAGS);
  assert.deepEqual({ ...values }, { runs: "3", json: true, help: true });
  assert.deepEqual(positionals, []);
});

Deno.test("parseFlags hands a dash-led value to the flag so it can be checked", () => {
  assert.equal(parseFlags(["--runs", "-3"], FLAGS).values.runs, "-3");
  assert.equal(parseFlags(["--runs=-3"], FLAGS).values.runs, "-3");
  assert.equal(parseFlags(["--out", "-dir", "--json"], FLAGS).values.out, "-dir");
  // A long flag after a string flag is a flag, not its value.
  assert.equal(
    inputError(() => parseFlags(["--runs", "--json"], FLAGS)),
    'Flag "--runs" needs a value',
  );
});

Deno.test("parseFlags names an unknown flag and suggests the closest", () => {
  assert.equal(
    inputError(() => parseFlags(["--rusn", "3"], FLAGS)),
    'Unknown flag "--rusn" (did you mean "--runs"?)',
  );
  assert.equal(
    inputError(() => parseFlags(["--rusn=3"], FLAGS)),
    'Unknown flag "--rusn" (did you mean "--runs"?)',
  );
  assert.equal(inputError(() => parseFlags(["--zzzzzz"], FLAGS)), 'Unknown flag "--zzzzzz"');
  assert.equal(inputError(() => parseFlags(["-x"], FLAGS)), 'Unknown flag "-x"');
});

Deno.test("parseFlags says which flag needs or refuses a value", () => {
  assert.equal(inputError(() => parseFlags(["--runs"], FLAGS)), 'Flag "--runs" needs a value');
  assert.equal(inputError(() => parseFlags(["--json=yes"], FLAGS)), 'Flag "--json" takes no value');
});

Deno.test("parseFlags takes positionals only when allowed", () => {
  assert.deepEqual(parseFlags(["model", "--json"], FLAGS, true).positionals, ["model"]);
  assert.equal(inputError(() => parseFlags(["model"], FLAGS)), 'Unexpected argument "model"');
});

Deno.test("parseFlags names the unexpected argument, not a flag's value", () => {
  assert.equal(
    inputError(() => parseFlags(["--runs", "3", "extra"], FLAGS)),
    'Unexpected argument "extra"',
  );
  assert.equal(
    inputError(() => parseFlags(["--out", "dir", "--json", "extra"], FLAGS)),
    'Unexpected argument "extra"',
  );
});

Deno.test("parseFlags names an argument after -- as unexpected", () => {
  assert.equal(
    inputError(() => parseFlags(["--", "--runs"], FLAGS)),
    'Unexpected argument "--runs"',
  );
});

Deno.test("positiveInteger accepts integers from 1 and names the flag and value otherwise", () => {
  assert.equal(positiveInteger("--runs", undefined), undefined);
  assert.equal(positiveInteger("--runs", "1"), 1);
  assert.equal(positiveInteger("--runs", "10000"), 10_000);
  assert.equal(positiveInteger("--runs", " 7 "), 7);
  for (
    const value of [
      "0",
      "-1",
      "-0",
      "+3",
      "1.5",
      "1.0",
      "1e3",
      "0x10",
      "abc",
      "",
      " ",
      "9007199254740993",
    ]
  ) {
    assert.equal(
      inputError(() => positiveInteger("--runs", value)),
      `Invalid --runs "${value}": expected a positive integer`,
      `value ${JSON.stringify(value)}`,
    );
  }
});

Deno.test("nonNegativeInteger accepts 0 and rejects negatives and non-integers", () => {
  assert.equal(nonNegativeInteger("--warmup", undefined), undefined);
  assert.equal(nonNegativeInteger("--warmup", "0"), 0);
  assert.equal(nonNegativeInteger("--warmup", "2"), 2);
  for (const value of ["-2", "-0", "0.5", "two", ""]) {
    assert.equal(
      inputError(() => nonNegativeInteger("--warmup", value)),
      `Invalid --warmup "${value}": expected a whole number`,
    );
  }
});

Deno.test("commaList splits, trims and drops empty items", () => {
  assert.equal(commaList(undefined), undefined);
  assert.deepEqual(commaList("mmap"), ["mmap"]);
  assert.deepEqual(commaList(" full-read , mmap,,"), ["full-read", "mmap"]);
  assert.deepEqual(commaList(""), []);
});
