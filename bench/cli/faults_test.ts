/**
 * Fault injection, end to end: real `bench` and `fixtures` subprocesses
 * against a loopback HTTP server that misbehaves on purpose (and the real
 * `python3 -m http.server`), small tmpfs file systems that fill up, and
 * SIGINT, SIGTERM and SIGKILL at several points. Every time: the exit code
 * the README promises, one `error:` line and no stack, nothing half-written,
 * and every finished measurement kept.
 *
 * The tmpfs cases need root (to mount); elsewhere they are skipped with the
 * reason printed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readProfile } from "../../profiles/files.ts";
import { generateFixture } from "../../fixtures/generate.ts";
import {
  LOOPBACK_SKIP,
  type Misbehaviour,
  type ServedRequest,
  serveFolder,
} from "../stage/_testing.ts";
import { testUnless } from "../util/testing.ts";
import { type CliRun, listTree, spawnCli, tempDir } from "./_cli_testing.ts";

/** A 4 MiB model in 2 shards of about 2 MiB: larger than a header page (1 MiB). */
async function makeModel(dir: string): Promise<string> {
  const path = join(dir, "model");
  await generateFixture({ layout: "llama-3.2-1b", size: 4 << 20, dtype: "F16", shards: 2 }, path);
  await Deno.remove(join(path, "fixture.json")); // a plain model folder: no manifest, no hash
  return path;
}

/** Starts `bench/main.ts ...args` as its task would (or with `flags` instead of the task's). */
const spawn = (
  args: readonly string[],
  env: Record<string, string> = {},
  flags?: readonly string[],
) => spawnCli(args, { env, limitMs: 60_000, ...(flags ? { flags } : {}) });

const run = (
  args: readonly string[],
  env: Record<string, string> = {},
  flags?: readonly string[],
) => spawn(args, env, flags).done;

/** Exit `code`, exactly one `error:` line on stderr matching `pattern`, no stack frame; the line. */
function assertFailure(result: CliRun, code: number, pattern: RegExp): string {
  const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, code, context);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace\n${context}`);
  assert.doesNotMatch(result.stdout, /^\s+at /m, `no stack trace\n${context}`);
  const errors = result.stderr.split("\n").filter((line) => line.startsWith("error: "));
  assert.equal(errors.length, 1, `one error line\n${context}`);
  assert.match(errors[0]!, pattern, context);
  return errors[0]!;
}

function benchArgs(weights: string, out: string, ...more: string[]): string[] {
  return [
    "bench",
    "--weights",
    weights,
    "--strategy",
    "prestaged",
    "--cache",
    "warm",
    "--runs",
    "1",
    "--warmup",
    "0",
    "--no-probe",
    "--out",
    out,
    ...more,
  ];
}

/** Files under `dir` that a failed write may have left: temporaries, partial copies, locks, drafts. */
async function litter(dir: string): Promise<string[]> {
  return (await listTree(dir)).filter((p) =>
    /\.tmp$|\.tmp-|\.part|\.lock$|\.draft$|\.write-check-/.test(p)
  );
}

// ---------------------------------------------------------------------------
// HTTP sources

/** A model served by the fault server; `mode` picks the misbehaviour of each request. */
async function withFaultServer(
  work: (
    ctx: {
      url: string;
      dir: string;
      setFault: (f: (r: ServedRequest) => Misbehaviour | undefined) => void;
    },
  ) => Promise<void>,
): Promise<void> {
  await using tmp = await tempDir();
  const model = await makeModel(tmp.path);
  let fault: (r: ServedRequest) => Misbehaviour | undefined = () => undefined;
  await using server = serveFolder(model, { misbehave: (r) => fault(r) });
  await work({ url: server.url, dir: tmp.path, setFault: (f) => (fault = f) });
}

testUnless(
  LOOPBACK_SKIP,
  "faults: HTTP sources that fail end in one line and exit 3",
  async (t) => {
    await withFaultServer(async ({ url, dir, setFault }) => {
      const env = { WEIGHTBENCH_STAGING: join(dir, "staging") };
      const out = join(dir, "out");
      await t.step("a 500 that stays: retried, then exit 3", async () => {
        setFault(() => ({ status: 500 }));
        const result = await run(benchArgs(url, out), env);
        assertFailure(
          result,
          3,
          /Cannot read "http:.*": (GET|HEAD) answered 500 \(after 4 tries\)$/,
        );
      });
      await t.step("a Content-Length longer than the body: retried, then exit 3", async () => {
        setFault((
          r,
        ) => (r.method === "GET" ? { contentLength: r.end - r.start + 1000 } : undefined));
        const result = await run(benchArgs(url, out), env);
        assertFailure(
          result,
          3,
          /the connection closed after \d+ of the \d+ bytes announced \(after 4 tries\)$/,
        );
      });
      await t.step("a stall: --source-timeout 1s, then exit 3", async () => {
        setFault((
          r,
        ) => (r.method === "GET" && r.path.endsWith(".safetensors")
          ? { stallAfter: 1000 }
          : undefined)
        );
        const result = await run(benchArgs(url, out, "--source-timeout", "1s"), env);
        assertFailure(
          result,
          3,
          /the server sent nothing for 1 s after 1000 bytes \(--source-timeout\)$/,
        );
        assert.ok(result.ms < 10_000, `took ${result.ms.toFixed(0)} ms`);
      });
      await t.step("a server that is gone: exit 3", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (listener.addr as Deno.NetAddr).port;
        listener.close();
        const result = await run(benchArgs(`http://127.0.0.1:${port}/`, out), env);
        assertFailure(result, 3, /the connection failed: .* \(after 4 tries\)$/);
      });
      await t.step("a folder it cannot list: bad input, exit 2", async () => {
        setFault((r) => (r.path.endsWith(".json") ? { status: 404 } : undefined));
        const result = await run(benchArgs(url, out), env);
        assertFailure(result, 2, /cannot list an HTTP folder/);
      });
      assert.deepEqual(await listTree(out).then((l) => l.filter((p) => p.endsWith(".json"))), []);
    });
  },
);

testUnless(
  LOOPBACK_SKIP,
  "faults: dropped connections are resumed; a poisoned source (no hash) is never cached, and once fixed the next run stages it",
  async () => {
    await withFaultServer(async ({ url, dir, setFault }) => {
      const staging = join(dir, "staging");
      const env = { WEIGHTBENCH_STAGING: staging };
      const out = join(dir, "out");
      // Wrong bytes on the staging copy only (ranges longer than a header page).
      setFault((r) => (r.ranged && r.end - r.start > 1 << 20 ? { corrupt: "random" } : undefined));
      const poisoned = await run(benchArgs(url, out), env);
      assert.equal(poisoned.code, 3, poisoned.stderr);
      assert.match(
        poisoned.stdout.replace(/[\s│]+/g, " "),
        /errored: Cannot stage .* but a second read of the source gives [0-9a-f]{64} \(it publishes no SHA-256\); nothing was kept/,
      );
      assert.doesNotMatch(poisoned.stderr, /^\s+at /m);
      assert.deepEqual(await listTree(join(staging, "blobs")), [], "nothing wrong was cached");

      // Fixed, though every body is cut once mid-way: retried from the last byte, and staged.
      setFault((r) => (r.method === "GET" && r.index === 0 ? { dropAfter: 5000 } : undefined));
      const fixed = await run(benchArgs(url, out), env);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.equal((await listTree(join(staging, "blobs"))).length, 2);
      const profiles = (await listTree(out)).filter((p) => p.endsWith(".json"));
      const profile = await readProfile(join(out, profiles.at(-1)!));
      assert.equal(profile.cases[0]!.state, "completed");
      assert.match(
        String(profile.cases[0]!.samples[0]!.details!.verifiedBy),
        /second read of the source/,
      );
    });
  },
);

const PYTHON_SKIP = await new Deno.Command("python3", { args: ["-c", "import http.server"] })
  .output().then(
    (o) => (o.success ? undefined : "python3 is not installed"),
    () => "python3 is not installed",
  );

testUnless(
  LOOPBACK_SKIP ?? PYTHON_SKIP,
  "faults: python3 -m http.server (no range requests) is staged whole and verified",
  async () => {
    await using tmp = await tempDir();
    const model = await makeModel(tmp.path);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const server = new Deno.Command("python3", {
      args: ["-m", "http.server", String(port), "--bind", "127.0.0.1"],
      cwd: model,
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const url = `http://127.0.0.1:${port}/`;
      for (let i = 0; i < 100; i++) {
        if (await fetch(url).then((r) => (r.body?.cancel(), true), () => false)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const out = join(tmp.path, "out");
      const result = await run(benchArgs(url, out), {
        WEIGHTBENCH_STAGING: join(tmp.path, "staging"),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /error:|^\s+at /m);
    } finally {
      server.kill("SIGTERM");
      await server.status;
    }
  },
);

// ---------------------------------------------------------------------------
// Full disks

const TMPFS_SKIP = await (async () => {
  if (Deno.build.os !== "linux") return "tmpfs mounts need Linux";
  const dir = await Deno.makeTempDir();
  try {
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
    })
      .output().catch(() => undefined);
    if (!mount?.success) return "mounting a tmpfs needs root";
    await new Deno.Command("umount", { args: [dir] }).output();
    return undefined;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
})();

/** A tmpfs of `size` (such as `"2m"`) mounted on a fresh folder, with `fill` bytes already used. */
async function smallDisk(size: string, fill = 0): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "weightbench_tmpfs_" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
  })
    .output();
  assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
  if (fill > 0) await Deno.writeFile(join(path, ".filler"), new Uint8Array(fill));
  return {
    path,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: ["-l", path] }).output();
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

testUnless(
  TMPFS_SKIP,
  "faults: a full disk is one line and exit 3; nothing half-written, nothing measured lost",
  async (t) => {
    await using tmp = await tempDir();
    const model = await makeModel(tmp.path);

    await t.step("the profile folder is full: the table is still printed", async () => {
      await using disk = await smallDisk("256k", 256 * 1024 - 8 * 1024);
      const result = await run([
        "bench",
        "--weights",
        model,
        "--strategy",
        "mmap",
        "--cache",
        "warm",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--no-probe",
        "--out",
        disk.path,
      ]);
      assertFailure(
        result,
        3,
        /Cannot write ".*\.json": no space left on the device \(\d+ bytes needed\): .*no profile was written; the table has every sample$/,
      );
      assert.match(result.stdout, /mmap/, "the table was printed");
      assert.deepEqual(await litter(disk.path), []);
    });

    await t.step(
      "the disk fills mid-run: the run goes on, the journal written so far stays, the end says where",
      async () => {
        await using disk = await smallDisk("1m");
        const { done } = spawn([
          "bench",
          "--weights",
          "fixtures/testdata/tiny.safetensors",
          "--strategy",
          "mmap",
          "--cache",
          "warm",
          "--runs",
          "200",
          "--warmup",
          "0",
          "--no-probe",
          "--out",
          disk.path,
        ]);
        const journaled = await until(async () =>
          (await listTree(disk.path)).some((p) => p.endsWith(".json") && !p.startsWith("."))
        );
        assert.ok(journaled, "the journal was written");
        // Fill it up: what fits of 1 MiB.
        await Deno.writeFile(join(disk.path, ".filler"), new Uint8Array(1 << 20)).catch(() => {});
        const result = await done;
        const line = assertFailure(
          result,
          3,
          /no space left on the device \(\d+ bytes needed\): the table has every sample; ".*\.json" keeps the \d+ timed samples written before$/,
        );
        assert.match(result.stdout, /mmap/, "the table was printed");
        const kept = Number(/keeps the (\d+) timed samples/.exec(line)![1]);
        const name = (await listTree(disk.path)).find((p) =>
          p.endsWith(".json") && !p.startsWith(".")
        )!;
        const profile = await readProfile(join(disk.path, name));
        assert.equal(
          profile.run.state,
          "running",
          "the last journal written, from before the disk filled",
        );
        assert.equal(profile.cases[0]!.samples.length, kept);
        assert.deepEqual((await litter(disk.path)).filter((p) => p !== ".filler"), []);
      },
    );

    await t.step("fixtures on a disk too small: refused up front with the numbers", async () => {
      await using disk = await smallDisk("2m");
      const result = await run(["fixtures", "--out", join(disk.path, "f"), "--size", "8MiB"]);
      assertFailure(
        result,
        3,
        /Not enough space for fixture "f" in ".*": 8\.\d+ MiB needed, 2\.00 MiB free$/,
      );
      assert.deepEqual(await listTree(disk.path), []);
    });

    await t.step(
      "fixtures where free space cannot be read: the write fails, one line, nothing left",
      async () => {
        await using disk = await smallDisk("2m");
        const result = await run(
          ["fixtures", "--out", join(disk.path, "f"), "--size", "8MiB"],
          {},
          ["-q", "--no-prompt", "--allow-read", "--allow-write"],
        );
        assertFailure(
          result,
          3,
          /Cannot write fixture ".*": no space left on the device \(8\.\d+ MiB needed\); the partial fixture was removed$/,
        );
        assert.deepEqual(await listTree(disk.path), []);
      },
    );

    await t.step(
      "staging on a disk too small: the case errors with the numbers, exit 3",
      async () => {
        await using disk = await smallDisk("1m");
        const result = await run(benchArgs(model, join(tmp.path, "out")), {
          WEIGHTBENCH_STAGING: disk.path,
        });
        assert.equal(result.code, 3, result.stderr);
        assert.match(
          result.stdout.replace(/\s*│\s*/g, " "),
          /errored: Not enough space for a copy of/,
        );
        assert.deepEqual(await litter(disk.path), []);
      },
    );
  },
);

// ---------------------------------------------------------------------------
// Signals

/** Waits until `test` holds, polling; false after `ms`. */
async function until(test: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await test()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

testUnless(
  LOOPBACK_SKIP,
  "faults: SIGINT and SIGTERM stop a download, a staging copy or a fixture within a second",
  async (t) => {
    await withFaultServer(async ({ url, dir, setFault }) => {
      const staging = join(dir, "staging");
      const out = join(dir, "out");

      await t.step("SIGINT while a download stalls: exit 130 at once", async () => {
        setFault((r) => (r.method === "GET" && !r.ranged ? { stallAfter: 1000 } : undefined));
        const { child, done } = spawn(benchArgs(url, out), { WEIGHTBENCH_STAGING: staging });
        await new Promise((r) => setTimeout(r, 1500));
        const sent = performance.now();
        child.kill("SIGINT");
        const result = await done;
        const ms = performance.now() - sent;
        assertFailure(
          result,
          130,
          /Interrupted by SIGINT before the first sample: no profile written$/,
        );
        console.log(`stopped ${ms.toFixed(0)} ms after the signal`);
        assert.ok(ms < 1000, `stopped ${ms.toFixed(0)} ms after the signal`);
      });

      await t.step(
        "SIGTERM during the last sample's staging: exit 143, the finished case kept",
        async () => {
          // The staging copies crawl: 64 KiB every 100 ms, about 3 s per shard.
          setFault((
            r,
          ) => (r.method === "GET" && r.ranged && r.end - r.start > 1 << 20
            ? { pieceDelayMs: 100 }
            : undefined)
          );
          const scenario = join(dir, "two.json");
          await Deno.writeTextFile(
            scenario,
            JSON.stringify({
              name: "two",
              weights: [url],
              strategies: [
                { name: "prestaged", options: { mode: "staged" } },
                { name: "prestaged", options: { mode: "cold-start" } },
              ],
              targets: ["host"],
              cache: ["warm"],
              runs: 1,
              warmup: 0,
            }),
          );
          const caseOut = join(dir, "out-last");
          await Deno.remove(staging, { recursive: true }).catch(() => {});
          // First stage the staged case's copy, so its sample is quick and the cold start is the slow, last one.
          setFault(() => undefined);
          const warm = await run(benchArgs(url, join(dir, "out-warm")), {
            WEIGHTBENCH_STAGING: staging,
          });
          assert.equal(warm.code, 0, warm.stderr);
          setFault((
            r,
          ) => (r.method === "GET" && r.ranged && r.end - r.start > 1 << 20
            ? { pieceDelayMs: 100 }
            : undefined)
          );
          const { child, done } = spawn(
            ["bench", "--scenario", scenario, "--no-probe", "--out", caseOut],
            { WEIGHTBENCH_STAGING: staging },
          );
          const profileSeen = await until(async () =>
            (await listTree(caseOut)).some((p) => p.endsWith(".json"))
          );
          assert.ok(profileSeen, "the first case's sample was journaled");
          await new Promise((r) => setTimeout(r, 300)); // inside the cold start's copy
          const sent = performance.now();
          child.kill("SIGTERM");
          const result = await done;
          const ms = performance.now() - sent;
          assert.equal(result.code, 143, result.stderr);
          console.log(`stopped ${ms.toFixed(0)} ms after the signal`);
          assert.ok(ms < 1000, `stopped ${ms.toFixed(0)} ms after the signal`);
          assert.match(
            result.stderr,
            /Interrupted by SIGTERM: 1 timed sample of 1 of 2 cases kept in/,
          );
          const profile = await readProfile(
            join(caseOut, (await listTree(caseOut)).find((p) => p.endsWith(".json"))!),
          );
          assert.equal(profile.run.state, "interrupted");
          assert.equal(profile.cases[0]!.state, "completed");
          assert.equal(profile.cases[1]!.state, "skipped");
          assert.deepEqual(await litter(caseOut), []);
        },
      );

      await t.step(
        "SIGKILL mid-copy leaves a lock and a partial copy; the next run breaks the lock at once and resumes",
        async () => {
          await Deno.remove(staging, { recursive: true }).catch(() => {});
          setFault((
            r,
          ) => (r.method === "GET" && r.ranged && r.end - r.start > 1 << 20
            ? { pieceDelayMs: 100 }
            : undefined)
          );
          const { child, done } = spawn(benchArgs(url, out), { WEIGHTBENCH_STAGING: staging });
          const copying = await until(async () =>
            (await listTree(join(staging, "tmp"))).some((p) => p.endsWith(".part"))
          );
          assert.ok(copying, "a copy started");
          await new Promise((r) => setTimeout(r, 500));
          child.kill("SIGKILL");
          await done;
          assert.ok(
            (await listTree(join(staging, "locks"))).some((p) => p.endsWith(".lock")),
            "the dead run's lock",
          );
          setFault(() => undefined);
          const next = await run(benchArgs(url, out), { WEIGHTBENCH_STAGING: staging });
          assert.equal(next.code, 0, next.stderr);
          assert.ok(
            next.ms < 15_000,
            `took ${next.ms.toFixed(0)} ms: the dead run's lock was not waited out`,
          );
          assert.deepEqual(await listTree(join(staging, "locks")), []);
          assert.deepEqual(await listTree(join(staging, "tmp")), []);
        },
      );
    });
  },
);

testUnless(
  undefined,
  "faults: SIGTERM during fixture generation removes its folder; one left by SIGKILL goes on the next start",
  async () => {
    await using tmp = await tempDir();
    const cache = join(tmp.path, "cache");
    const args = [
      "fixtures",
      "--out",
      join(cache, "big"),
      "--size",
      "1GiB",
      "--layout",
      "llama-3.2-1b",
    ];
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const { child, done } = spawn(args);
      assert.ok(
        await until(async () =>
          (await listTree(cache)).some((p) => /big\.tmp-[0-9a-f]+\/model/.test(p))
        ),
        "generation started",
      );
      const sent = performance.now();
      child.kill(signal);
      const result = await done;
      const left = (await listTree(cache)).filter((p) => !p.includes("/"));
      if (signal === "SIGTERM") {
        assertFailure(result, 143, /Interrupted by SIGTERM$/);
        const ms = performance.now() - sent;
        console.log(`fixtures: stopped ${ms.toFixed(0)} ms after SIGTERM`);
        assert.ok(ms < 1000, `stopped ${ms.toFixed(0)} ms after the signal`);
        assert.deepEqual(left, [], "nothing left behind");
      } else {
        assert.equal(result.signal, "SIGKILL");
        assert.ok(left.some((p) => /^big\.tmp-[0-9a-f]{12}$/.test(p)), `litter: ${left}`);
      }
    }
    // The next start in that folder removes what the killed process left.
    const next = await run([
      "fixtures",
      "--out",
      join(cache, "small"),
      "--size",
      "1MiB",
      "--layout",
      "llama-3.2-1b",
    ]);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual((await listTree(cache)).filter((p) => !p.includes("/")), ["small"]);
  },
);
