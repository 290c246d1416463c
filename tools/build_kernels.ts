/**
 * Builds `dequant.ptx` from `dequant.cu`: `nvcc -ptx -arch=compute_80`, then
 * two edits that make the file reproducible and portable:
 *
 * - a first line naming the source's SHA-256 and the nvcc release, so a test
 *   can tell without nvcc that the PTX is stale;
 * - `.version` set to {@link PTX_ISA_VERSION} (CUDA 11.0's ISA), the oldest
 *   that has everything the kernels use, so drivers from r450 on can
 *   JIT-compile it; nvcc 13 writes 9.0, which only r580 drivers accept.
 *
 * Run it with `deno task kernels` (or `deno run --allow-read --allow-write
 * --allow-run=nvcc tools/build_kernels.ts`) after changing the CUDA source, and
 * commit both files.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The CUDA source. */
export const KERNEL_SOURCE: URL = new URL("../kernels/dequant.cu", import.meta.url);
/** The committed PTX. */
export const KERNEL_PTX: URL = new URL("../kernels/dequant.ptx", import.meta.url);
/** The virtual architecture compiled for: sm_80 and newer JIT-compile it. */
export const PTX_ARCH = "compute_80";
/** The PTX ISA version the file declares. */
export const PTX_ISA_VERSION = "7.0";

/** The first line of the PTX: `// weightbench: dequant.cu sha256 HEX, nvcc RELEASE`. */
export function ptxStamp(sourceSha256: string, nvccRelease: string): string {
  return `// weightbench: dequant.cu sha256 ${sourceSha256}, nvcc ${nvccRelease}`;
}

/** Reads the stamp of a PTX text, or `undefined` when it has none. */
export function readStamp(ptx: string): { sha256: string; nvcc: string } | undefined {
  const match = /^\/\/ weightbench: dequant\.cu sha256 ([0-9a-f]{64}), nvcc (\S+)\n/.exec(ptx);
  return match ? { sha256: match[1]!, nvcc: match[2]! } : undefined;
}

/** SHA-256 of the CUDA source, hex. */
export async function sourceSha256(source: URL = KERNEL_SOURCE): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(source)).digest("hex");
}

/** The release of `nvcc` (`13.0`), or `undefined` when it cannot be run. */
export async function nvccRelease(nvcc = "nvcc"): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(nvcc, { args: ["--version"] }).output();
    if (!success) return undefined;
    return /release (\d+\.\d+)/.exec(new TextDecoder().decode(stdout))?.[1];
  } catch {
    return undefined;
  }
}

/** Compiles the source with `nvcc` and returns the PTX as it is committed. */
export async function buildPtx(nvcc = "nvcc", source: URL = KERNEL_SOURCE): Promise<string> {
  const release = await nvccRelease(nvcc);
  if (release === undefined) throw new Error(`Cannot run "${nvcc} --version"`);
  const dir = await Deno.makeTempDir({ prefix: "weightbench-ptx-" });
  try {
    const out = `${dir}/dequant.ptx`;
    const { success, stderr } = await new Deno.Command(nvcc, {
      args: ["-ptx", `-arch=${PTX_ARCH}`, source.pathname, "-o", out],
    }).output();
    if (!success) {
      throw new Error(`nvcc failed on "${source.pathname}": ${new TextDecoder().decode(stderr)}`);
    }
    const ptx = (await Deno.readTextFile(out)).replace(
      /^\.version \d+\.\d+$/m,
      `.version ${PTX_ISA_VERSION}`,
    );
    return `${ptxStamp(await sourceSha256(source), release)}\n${ptx}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const USAGE = `Usage: deno task kernels

Rebuilds kernels/dequant.ptx from kernels/dequant.cu with nvcc (needs nvcc on
PATH, e.g. /usr/local/cuda/bin), then commit both.

Options:
  -h, --help   show this help`;

import { runScript } from "./_script.ts";

if (import.meta.main) {
  await runScript(USAGE, {}, async () => {
    const ptx = await buildPtx();
    await Deno.writeTextFile(KERNEL_PTX, ptx);
    console.log(`wrote ${KERNEL_PTX.pathname} (${ptx.length} bytes)`);
  });
}
