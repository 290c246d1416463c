/**
 * The tools `deno task perf` sets weightbench against, each doing the same
 * job on the same file: fio (O_DIRECT, buffered with one job or several over
 * disjoint parts of the file, and its mmap engine), `cat`, `numpy.fromfile`
 * and `torch.load` (Debian's python3-numpy and python3-torch). Each peer
 * carries the command line it runs, for the report, and measures its rate
 * and the CPU time it used (fio and cat under the shell's `times`, Python
 * through `resource.getrusage` around the load only).
 *
 * @module
 */

import type { Cache } from "./_perf_stats.ts";

/** The Python the peers run. */
export const PYTHON = "/usr/bin/python3";

/** One measurement of a peer. */
export interface PeerRun {
  readonly gbps: number;
  /** CPU seconds (user + system) the job used, where known. */
  readonly cpuSeconds?: number;
}

/** A tool weightbench is compared with. */
export interface Peer {
  readonly name: string;
  readonly cache: Cache;
  /** The command line, as a person would type it. */
  readonly command: string;
  /** Runs it once; undefined when it cannot run here. */
  run(): Promise<PeerRun | undefined>;
}

/** A shell word, quoted where it needs to be. */
function quote(word: string): string {
  return /^[\w./=:,+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/** Children's user and system seconds from the second line of bash's `times`. */
export function parseTimes(output: string): number | undefined {
  const line = output.trim().split("\n").at(-1) ?? "";
  const match = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (!match) return undefined;
  const [, um, us, sm, ss] = match;
  return Number(um) * 60 + Number(us) + Number(sm) * 60 + Number(ss);
}

/**
 * Runs `argv` under bash with its stdout to `/dev/null` (or to `stdout`),
 * then bash's `times`: the wall seconds and the CPU seconds of the command.
 */
async function timedShell(
  argv: readonly string[],
  stdout = "/dev/null",
): Promise<{ seconds: number; cpuSeconds: number | undefined } | undefined> {
  try {
    const started = performance.now();
    const output = await new Deno.Command("bash", {
      args: ["-c", `"$@" > ${quote(stdout)} && times`, "bash", ...argv],
      stdout: "piped",
      stderr: "null",
    }).output();
    const seconds = (performance.now() - started) / 1000;
    if (!output.success) return undefined;
    return { seconds, cpuSeconds: parseTimes(new TextDecoder().decode(output.stdout)) };
  } catch {
    return undefined;
  }
}

/** fio's arguments reading `file` sequentially, read-only. */
export function fioArgs(file: string, extra: readonly string[]): string[] {
  return ["--name=read", `--filename=${file}`, "--rw=read", "--readonly", ...extra];
}

/** Runs fio with `args`; its aggregate read rate in GB/s and the CPU it used. */
export async function runFio(args: readonly string[]): Promise<PeerRun | undefined> {
  const report = await Deno.makeTempFile({ prefix: "weightbench-fio-", suffix: ".json" });
  try {
    const timed = await timedShell([
      "fio",
      ...args,
      "--group_reporting",
      "--output-format=json",
      `--output=${report}`,
    ]);
    if (timed === undefined) return undefined;
    const parsed = JSON.parse(await Deno.readTextFile(report)) as {
      jobs: { read: { bw_bytes: number } }[];
    };
    const bw = parsed.jobs[0]?.read.bw_bytes;
    if (bw === undefined || bw <= 0) return undefined;
    return {
      gbps: bw / 1e9,
      ...(timed.cpuSeconds === undefined ? {} : { cpuSeconds: timed.cpuSeconds }),
    };
  } catch {
    return undefined;
  } finally {
    await Deno.remove(report).catch(() => {});
  }
}

/** A peer running fio with `extra` arguments on `file`. */
export function fioPeer(name: string, cache: Cache, file: string, extra: string[]): Peer {
  const args = fioArgs(file, extra);
  return {
    name,
    cache,
    command: ["fio", ...args].map(quote).join(" "),
    run: () => runFio(args),
  };
}

/**
 * fio buffered with one job a core, each over its own part of `file` (of
 * `bytes`), as a loader with `jobs` readers would read it; named `fio
 * buffered bs=1M, N jobs`.
 */
export function fioJobsPeer(cache: Cache, file: string, bytes: number, jobs: number): Peer {
  const part = Math.floor(bytes / jobs / (1 << 20)) * (1 << 20);
  return fioPeer(`fio buffered bs=1M, ${jobs} jobs`, cache, file, [
    "--bs=1M",
    "--ioengine=psync",
    "--invalidate=0",
    `--numjobs=${jobs}`,
    `--size=${part}`,
    `--offset_increment=${part}`,
  ]);
}

/** `cat FILE > /dev/null`, timed from outside; `bytes` is the file's size. */
export function catPeer(cache: Cache, file: string, bytes: number): Peer {
  return {
    name: "cat",
    cache,
    command: `cat ${quote(file)} > /dev/null`,
    async run() {
      const timed = await timedShell(["cat", file]);
      if (timed === undefined) return undefined;
      return {
        gbps: bytes / timed.seconds / 1e9,
        ...(timed.cpuSeconds === undefined ? {} : { cpuSeconds: timed.cpuSeconds }),
      };
    },
  };
}

/**
 * A Python peer: `body` runs between two clock and rusage readings, after the
 * imports, and loads `sys.argv[1]`, which holds `bytes` bytes.
 */
function pythonPeer(
  name: string,
  cache: Cache,
  imports: string,
  body: string,
  file: string,
  bytes: number,
  before?: () => void,
): Peer {
  const script = [
    `import resource, sys, time, ${imports}`,
    "def cpu():",
    "    r = resource.getrusage(resource.RUSAGE_SELF)",
    "    return r.ru_utime + r.ru_stime",
    "t, c = time.perf_counter(), cpu()",
    body,
    "print(time.perf_counter() - t, cpu() - c)",
  ].join("\n");
  return {
    name,
    cache,
    command: `python3 -c "import ${imports}; ${body.replaceAll("sys.argv[1]", `'${file}'`)}"`,
    async run() {
      before?.();
      try {
        const output = await new Deno.Command(PYTHON, {
          args: ["-c", script, file],
          stdout: "piped",
          stderr: "null",
        }).output();
        if (!output.success) return undefined;
        const [seconds, cpu] = new TextDecoder().decode(output.stdout).trim().split(/\s+/)
          .map(Number);
        if (!seconds || !(seconds > 0)) return undefined;
        return {
          gbps: bytes / seconds / 1e9,
          ...(Number.isFinite(cpu) ? { cpuSeconds: cpu } : {}),
        };
      } catch {
        return undefined;
      }
    },
  };
}

/** `numpy.fromfile` of the whole file: fresh memory, one read. */
export function numpyPeer(cache: Cache, file: string, bytes: number): Peer {
  return pythonPeer(
    "numpy.fromfile",
    cache,
    "numpy",
    "numpy.fromfile(sys.argv[1], dtype=numpy.uint8)",
    file,
    bytes,
  );
}

/**
 * `torch.load` of `ptFile`, the same tensors saved with `torch.save`;
 * `before` sets its cache state (it is another file than the one the others
 * read).
 */
export function torchPeer(cache: Cache, ptFile: string, bytes: number, before: () => void): Peer {
  return pythonPeer("torch.load", cache, "torch", "torch.load(sys.argv[1])", ptFile, bytes, before);
}

/** Whether `python3` with numpy and torch runs here. */
export async function pythonHas(modules: string): Promise<boolean> {
  try {
    const output = await new Deno.Command(PYTHON, {
      args: ["-c", `import ${modules}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

/**
 * Writes the tensors of the safetensors file `path` with `torch.save` to
 * `out` (through a temporary file, renamed when complete), for `torch.load`.
 */
export async function writeTorchCopy(path: string, out: string): Promise<boolean> {
  const script = `
import json, os, struct, sys, numpy, torch
path, out = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
data = numpy.memmap(path, dtype=numpy.uint8, mode="r", offset=8 + n)
tensors = {}
for name, t in header.items():
    if name == "__metadata__": continue
    b, e = t["data_offsets"]
    tensors[name] = torch.from_numpy(numpy.array(data[b:e]).view(numpy.float16).reshape(t["shape"]))
torch.save(tensors, out + ".tmp")
os.replace(out + ".tmp", out)
`;
  const output = await new Deno.Command(PYTHON, {
    args: ["-c", script, path, out],
    stdout: "null",
    stderr: "piped",
  }).output();
  return output.success;
}
