/**
 * A real single-machine Slurm cluster for tests, from Debian's packages
 * (`munge`, `slurmctld`, `slurmd`, `slurm-client`): munged, slurmctld and
 * slurmd run as this user on loopback, with every file (config, key, state,
 * spool, logs, sockets) in one temporary folder and free ports, so nothing
 * outside it is touched and two runs do not meet. Processes are stopped by
 * the ids in their pid files, never by name.
 *
 * The config needs no cgroups (`proctrack/linuxproc`, `task/none`) and no
 * accounting; the node has this machine's CPU count and no GPUs (jobs are
 * submitted with `--gres=none`).
 *
 * @module
 */

import { join } from "node:path";

/** The Debian packages that provide the binaries below. */
export const SLURM_PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"] as const;

const BINARIES = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"] as const;
const SEARCH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

/** The path of each binary, or why the cluster cannot run here. */
export function findSlurm(): { paths: Record<string, string> } | { missing: string } {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean), ...SEARCH];
  const paths: Record<string, string> = {};
  const absent: string[] = [];
  for (const name of BINARIES) {
    const found = dirs.map((d) => join(d, name)).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (found) paths[name] = found;
    else absent.push(name);
  }
  if (Deno.build.os !== "linux") return { missing: "Slurm tests run on Linux only" };
  if (Deno.uid() !== 0) {
    return { missing: "a local Slurm cluster needs root here (SlurmUser=root, munged as root)" };
  }
  if (absent.length > 0) {
    return {
      missing: `${absent.join(", ")} not installed (apt-get install ${SLURM_PACKAGES.join(" ")})`,
    };
  }
  return { paths };
}

/** A running local cluster. */
export interface LocalSlurm {
  readonly dir: string;
  /** Environment for the Slurm clients and the jobs: SLURM_CONF and PATH. */
  readonly env: Record<string, string>;
  readonly paths: Record<string, string>;
  /** Runs a client (`sbatch`, `squeue`, …) with the cluster's environment. */
  run(name: string, args: string[], env?: Record<string, string>): Promise<{
    code: number;
    stdout: string;
    stderr: string;
  }>;
  /** The last lines of the daemons' logs, for failure messages. */
  logs(): string;
  /** Stops the daemons (by pid) and removes the folder; safe to call twice. */
  stop(): Promise<void>;
  /** The same, synchronously, for an unload handler. */
  stopSync(): void;
}

/** Starts munged, slurmctld and slurmd; throws, after cleaning up, when they do not come up. */
export async function startLocalSlurm(paths: Record<string, string>): Promise<LocalSlurm> {
  const dir = await Deno.makeTempDir({ prefix: "weightbench-slurm-" });
  await Deno.chmod(dir, 0o755);
  for (const sub of ["munge", "state", "spool", "log"]) await Deno.mkdir(join(dir, sub));
  await Deno.chmod(join(dir, "munge"), 0o700);
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile(join(dir, "munge", "munge.key"), key, { mode: 0o600 });
  const [ctldPort, dPort] = await freePorts(2);
  const socket = join(dir, "munge", "munge.socket");
  const cpus = navigator.hardwareConcurrency || 1;
  const conf = [
    "ClusterName=weightbench-test",
    "SlurmctldHost=localhost(127.0.0.1)",
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${dPort}`,
    "AuthType=auth/munge",
    `AuthInfo=socket=${socket}`,
    "CryptoType=crypto/munge",
    "SlurmUser=root",
    "SlurmdUser=root",
    `StateSaveLocation=${join(dir, "state")}`,
    `SlurmdSpoolDir=${join(dir, "spool")}`,
    `SlurmctldPidFile=${join(dir, "slurmctld.pid")}`,
    `SlurmdPidFile=${join(dir, "slurmd.pid")}`,
    `SlurmctldLogFile=${join(dir, "log", "slurmctld.log")}`,
    `SlurmdLogFile=${join(dir, "log", "slurmd.log")}`,
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "MpiDefault=none",
    "ReturnToService=2",
    "SchedulerType=sched/builtin",
    "MinJobAge=2",
    `NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=256 State=UNKNOWN`,
    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
    "",
  ].join("\n");
  const confPath = join(dir, "slurm.conf");
  await Deno.writeTextFile(confPath, conf);
  const env = {
    SLURM_CONF: confPath,
    PATH: [
      ...new Set([
        ...Object.values(paths).map((p) => p.replace(/\/[^/]+$/, "")),
        Deno.env.get("PATH") ?? "",
      ]),
    ]
      .join(":"),
  };
  const pidFiles = [
    join(dir, "slurmd.pid"),
    join(dir, "slurmctld.pid"),
    join(dir, "munge", "munged.pid"),
  ];
  let stopped = false;
  const killAll = () => {
    for (const file of pidFiles) {
      try {
        const pid = Number(Deno.readTextFileSync(file).trim());
        if (Number.isInteger(pid) && pid > 1) Deno.kill(pid, "SIGTERM");
      } catch {
        // not started, or already gone
      }
    }
  };
  const tail = (file: string) => {
    try {
      return Deno.readTextFileSync(join(dir, "log", file)).trimEnd().split("\n").slice(-8)
        .join("\n");
    } catch {
      return "(no log)";
    }
  };
  const logs = () =>
    ["munged.log", "slurmctld.log", "slurmd.log"].map((f) => `--- ${f}\n${tail(f)}`).join("\n");
  const run = async (name: string, args: string[], extra: Record<string, string> = {}) => {
    const output = await new Deno.Command(paths[name] ?? name, {
      args,
      env: { ...env, ...extra },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  };
  const cluster: LocalSlurm = {
    dir,
    env,
    paths,
    run,
    logs,
    stopSync() {
      if (stopped) return;
      stopped = true;
      killAll();
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // a daemon still writing: the next stop or the OS cleans /tmp
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      killAll();
      // Let the daemons exit before their folder goes.
      for (let i = 0; i < 20 && pidFiles.some(alive); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    const daemon = async (name: string, args: string[]) => {
      const result = await run(name, args);
      if (result.code !== 0) {
        throw new Error(
          `${name} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
        );
      }
    };
    await daemon("munged", [
      "--force",
      `--socket=${socket}`,
      `--key-file=${join(dir, "munge", "munge.key")}`,
      `--log-file=${join(dir, "log", "munged.log")}`,
      `--pid-file=${join(dir, "munge", "munged.pid")}`,
      `--seed-file=${join(dir, "munge", "munged.seed")}`,
    ]);
    await daemon("slurmctld", ["-i"]);
    await daemon("slurmd", ["-N", "localhost"]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const info = await run("sinfo", ["-h", "-N", "-o", "%t"]);
      const state = info.stdout.trim();
      if (info.code === 0 && /^(idle|mix|alloc)/.test(state)) break;
      if (Date.now() > deadline) {
        throw new Error(`the node is "${state || info.stderr.trim()}", not idle, after 20 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return cluster;
  } catch (error) {
    const message = `${(error as Error).message}\n${logs()}`;
    await cluster.stop();
    throw new Error(message, { cause: error });
  }
}

function alive(pidFile: string): boolean {
  try {
    const pid = Number(Deno.readTextFileSync(pidFile).trim());
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

/**
 * `count` distinct TCP ports that no socket here uses now (from /proc/net/tcp,
 * so no network permission is needed), picked at random in 20000–29999.
 */
async function freePorts(count: number): Promise<number[]> {
  const used = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(table).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const port = local ? parseInt(local.split(":")[1] ?? "", 16) : NaN;
      if (Number.isInteger(port)) used.add(port);
    }
  }
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (!used.has(port) && !ports.includes(port)) ports.push(port);
  }
  return ports;
}
