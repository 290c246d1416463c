/**
 * One step of `deno task gpu-check`, run by it as a subprocess so that its
 * deadline holds (a subprocess can be killed; FFI calls and loops in the
 * checking process could not be). Each step writes what it found into the
 * output folder itself, atomically, before it exits:
 *
 * - `device OUT`: is there a GPU here (the driver's own answer), `nvidia-smi`
 *   and its queries recorded while this process holds 1 GiB on cuda:0
 *   (`nvidia-smi.txt`), device memory in use → `device.json`;
 * - `memory OUT NAME`: device memory in use now → `NAME.json`;
 * - `fixture OUT JSON`: the large fixture, generated once (cached) → `fixture.json`;
 * - `probe OUT JSON`: the probe on it, cached for the bench runs → `probe.json`;
 * - `report OUT PROFILE…`: the HTML report of the profiles → `report.html`.
 *
 * Usage: `deno run -P=measure bench/cli/_gpu_check_step.ts STEP OUT [ARGS…]`
 *
 * @module
 */

import { join } from "node:path";
import { ensureFixture, type FixtureSpec } from "../../fixtures/generate.ts";
import { buildReport, loadAssets, renderHtml } from "../../report/mod.ts";
import { readProfile } from "../../profiles/files.ts";
import { freeBytes } from "../ffi/libc.ts";
import { Nvml } from "../ffi/nvml.ts";
import { writeCachedLimits } from "../probe/limits.ts";
import { probeMachine } from "../probe/probe.ts";
import { cudaAvailability, CudaTarget } from "../targets/cuda.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import {
  COMPUTE_APPS_FIELDS,
  formatSection,
  GPU_QUERY_FIELDS,
  gpuQueryArgs,
  runNvidiaSmi,
} from "../gpu/nvidia_smi.ts";

/** What the `device` step found. */
export interface DeviceFinding {
  /** A CUDA device answers here. */
  readonly gpu: boolean;
  /** The device in words, or why there is none (the driver's answer). */
  readonly device: string;
  /** Device 0's memory in use, by NVML where it opens, else by cuMemGetInfo; null without a GPU. */
  readonly usedBytes: number | null;
  /** Whether nvidia-smi ran, or why it did not. */
  readonly nvidiaSmi: string;
}

/** What the `fixture` step is given. */
export interface FixtureRequest {
  readonly spec: FixtureSpec;
  readonly root: string;
  /** Free bytes the disk must keep beyond the fixture (its .pt copy for the peers). */
  readonly spareBytes: number;
}

/** What the `probe` step is given. */
export interface ProbeRequest {
  readonly path: string;
  readonly files: readonly string[];
  readonly blockSizes: readonly number[];
  readonly depths: readonly number[];
  /** Bytes per device copy. */
  readonly deviceBytes: number;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Device 0's memory in use (NVML's used, else total − free), or null without a GPU. */
function usedBytes(): number | null {
  try {
    using nvml = Nvml.open();
    return nvml.device(0).memory().used;
  } catch {
    const cuda = cudaAvailability();
    if (!cuda.available) return null;
    try {
      using target = CudaTarget.open(0, { sampler: false, memorySource: "cuMemGetInfo" });
      const { free, total } = target.context.memoryInfo();
      return total - free;
    } catch {
      return null;
    }
  }
}

async function device(out: string): Promise<void> {
  const recordings: string[] = [];
  const plain = await runNvidiaSmi([]);
  let nvidiaSmi = plain.ok ? "ran" : plain.reason;
  if (plain.ok) {
    console.log(plain.stdout.trimEnd());
    recordings.push(formatSection("nvidia-smi", plain.stdout));
    const queries = [
      gpuQueryArgs(GPU_QUERY_FIELDS, false),
      gpuQueryArgs(GPU_QUERY_FIELDS, true),
      [`--query-compute-apps=${COMPUTE_APPS_FIELDS.join(",")}`, "--format=csv,noheader,nounits"],
    ];
    for (const args of queries) {
      const result = await runNvidiaSmi(args);
      recordings.push(
        formatSection(
          `nvidia-smi ${args.join(" ")}`,
          result.ok ? result.stdout : `# ${result.reason}\n`,
        ),
      );
    }
  } else {
    console.log(`nvidia-smi: ${plain.reason}`);
  }
  const cuda = cudaAvailability();
  let text = cuda.available ? "" : cuda.reason;
  if (cuda.available) {
    // A compute app holding memory, for nvidia-smi's process list: this process, through cuda:0.
    using target = CudaTarget.open(0, { sampler: false });
    const buffer = target.allocate(1 << 30);
    const info = target.info;
    text =
      `${info.name} (${info.pciBusId}), driver ${info.driver}, CUDA ${info.cudaDriverVersion}, PCIe gen ${
        info.pcieLinkGeneration ?? "?"
      } x${info.pcieLinkWidth ?? "?"}`;
    if (plain.ok) {
      for (const units of [true, false]) {
        const args = [
          `--query-compute-apps=${COMPUTE_APPS_FIELDS.join(",")}`,
          `--format=csv,noheader${units ? "" : ",nounits"}`,
        ];
        const result = await runNvidiaSmi(args);
        recordings.push(
          formatSection(
            `nvidia-smi ${args.join(" ")}`,
            result.ok ? result.stdout : `# ${result.reason}\n`,
          ),
        );
      }
    }
    target.free(buffer);
  }
  if (recordings.length > 0) {
    await writeFileAtomic(
      join(out, "nvidia-smi.txt"),
      `# weightbench nvidia-smi recording\n# recorded by deno task gpu-check on ${text}, ${
        new Date().toISOString()
      }\n${recordings.join("")}`,
    );
  } else {
    nvidiaSmi = `${nvidiaSmi}: nothing recorded`;
  }
  const finding: DeviceFinding = {
    gpu: cuda.available,
    device: text,
    usedBytes: usedBytes(),
    nvidiaSmi,
  };
  console.log(`device: ${text}`);
  await writeJson(join(out, "device.json"), finding);
}

async function fixture(out: string, request: FixtureRequest): Promise<void> {
  await Deno.mkdir(request.root, { recursive: true });
  const free = freeBytes(request.root);
  if (free < request.spec.size + request.spareBytes) {
    throw new Error(
      `${free} bytes free in "${request.root}": not enough for the ${request.spec.size}-byte fixture and ${request.spareBytes} bytes beside it`,
    );
  }
  let shown = 0;
  const dir = await ensureFixture(request.spec, request.root, {
    onProgress: (done, total) => {
      if (done - shown >= total / 4 || done === total) {
        shown = done;
        console.log(`fixture ${(done / 2 ** 30).toFixed(2)} / ${(total / 2 ** 30).toFixed(2)} GiB`);
      }
    },
  });
  console.log(dir);
  await writeJson(join(out, "fixture.json"), { dir });
}

async function probe(out: string, request: ProbeRequest): Promise<void> {
  const { limits, trials } = await probeMachine({
    path: request.path,
    files: request.files,
    blockSizes: request.blockSizes,
    depths: request.depths,
    devices: { bytes: request.deviceBytes },
    onStep: (s) => {
      if (s.step === "cold") {
        console.log(
          `O_DIRECT ${s.trial.blockSize >> 20} MiB × ${s.trial.depth}: ${
            s.trial.gbps.toFixed(2)
          } GB/s`,
        );
      } else if (s.step !== "write") console.log(`${s.step}${"id" in s ? ` ${s.id}` : ""}`);
    },
  });
  await writeCachedLimits(limits); // the bench runs after this rate their cases against them
  if (limits.devicesUnavailable) console.log(limits.devicesUnavailable);
  await writeJson(join(out, "probe.json"), { ...limits, trials });
}

async function report(out: string, paths: readonly string[]): Promise<void> {
  const profiles = [];
  for (const path of paths) profiles.push({ profile: await readProfile(path), source: path });
  await writeFileAtomic(
    join(out, "report.html"),
    renderHtml(buildReport(profiles), await loadAssets()),
  );
}

if (import.meta.main) {
  const [name, out, ...rest] = Deno.args;
  if (!name || !out) throw new Error("Usage: _gpu_check_step.ts STEP OUT [ARGS…]");
  switch (name) {
    case "device":
      await device(out);
      break;
    case "memory":
      await writeJson(join(out, `${rest[0] ?? "memory"}.json`), { usedBytes: usedBytes() });
      break;
    case "fixture":
      await fixture(out, JSON.parse(rest[0]!) as FixtureRequest);
      break;
    case "probe":
      await probe(out, JSON.parse(rest[0]!) as ProbeRequest);
      break;
    case "report":
      await report(out, rest);
      break;
    default:
      throw new Error(`Unknown step "${name}"`);
  }
  // the CUDA driver and cuFile keep threads: leave without waiting for them
  Deno.exit(0);
}
