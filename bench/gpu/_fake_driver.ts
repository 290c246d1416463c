/**
 * Test helper: builds `testdata/fake_driver.c` — a fake `libcuda`,
 * `libnvidia-ml` and `libcufile` in one library — with the C compiler, once per source
 * version, and gives its path, or why it cannot (no compiler). Tests use it
 * to run the CUDA and NVML bindings, the cuda target and the strategies on it
 * where there is no GPU; the same tests run on the real driver elsewhere.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";

const SOURCE = new URL("./testdata/fake_driver.c", import.meta.url);

/** The built library, or the reason there is none. */
export type FakeDriver = { readonly path: string; readonly skip?: undefined } | {
  readonly path?: undefined;
  readonly skip: string;
};

let built: Promise<FakeDriver> | undefined;

/** Builds the fake driver (cached in the temporary folder by source hash). */
export function fakeDriver(): Promise<FakeDriver> {
  built ??= build();
  return built;
}

async function build(): Promise<FakeDriver> {
  let source: Uint8Array;
  try {
    source = await Deno.readFile(SOURCE);
  } catch (error) {
    return { skip: `cannot read ${SOURCE.pathname}: ${(error as Error).message}` };
  }
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = Deno.env.get("TMPDIR") ?? "/tmp";
  const path = join(dir, `weightbench-fake-cuda-${hash}.so`);
  try {
    await Deno.stat(path);
    return { path };
  } catch { /* not built yet */ }
  const partial = `${path}.${crypto.randomUUID()}.tmp`;
  for (const compiler of ["cc", "gcc", "clang"]) {
    try {
      const { success, stderr } = await new Deno.Command(compiler, {
        args: ["-shared", "-fPIC", "-O1", "-pthread", "-o", partial, SOURCE.pathname],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!success) {
        return {
          skip: `${compiler} could not build the fake driver: ${new TextDecoder().decode(stderr)}`,
        };
      }
      await Deno.rename(partial, path);
      return { path };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      return { skip: `cannot run ${compiler}: ${(error as Error).message}` };
    }
  }
  return { skip: "no C compiler (cc, gcc, clang) to build the fake CUDA driver" };
}

const control = {
  /** void fake_configure(int devices, unsigned long long memory, int init, int waits, int delay_us) */
  fake_configure: { parameters: ["i32", "u64", "i32", "i32", "i32"], result: "void" },
  /** void fake_stats(unsigned long long *out) */
  fake_stats: { parameters: ["buffer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** How the fake behaves. */
export interface FakeConfig {
  /** @default 1 */
  readonly devices?: number;
  /** Device memory per device. @default 1 GiB */
  readonly memoryBytes?: number;
  /** The status `cuInit` returns (803: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH). @default 0 */
  readonly initStatus?: number;
  /** Waits on streams and events want a current context (CUDA_ERROR_INVALID_CONTEXT without). @default false */
  readonly waitsNeedContext?: boolean;
  /** Waits on streams and events fail (CUDA_ERROR_UNKNOWN) off the thread that called cuInit. @default false */
  readonly waitsFailOffThread?: boolean;
  /** Microseconds each stream-ordered copy waits before it runs. @default 0 */
  readonly copyDelayUs?: number;
}

/** What the fake holds now. */
export interface FakeStats {
  readonly usedDeviceBytes: number;
  readonly pinnedBytes: number;
  readonly registeredBytes: number;
  readonly liveAllocations: number;
  readonly asyncCopies: number;
  readonly kernelLaunches: number;
  readonly liveStreams: number;
  readonly cufileReads: number;
  readonly cufileBuffers: number;
}

/** The fake's control functions, through the same library handle the bindings use. */
export class FakeControl implements Disposable {
  readonly #library: Deno.DynamicLibrary<typeof control>;

  constructor(path: string) {
    this.#library = Deno.dlopen(path, control);
  }

  /** Sets the fake's behaviour; `cuInit` must be called again after. */
  configure(config: FakeConfig = {}): void {
    this.#library.symbols.fake_configure(
      config.devices ?? 1,
      BigInt(config.memoryBytes ?? 1 << 30),
      config.initStatus ?? 0,
      config.waitsFailOffThread ? 2 : config.waitsNeedContext ? 1 : 0,
      config.copyDelayUs ?? 0,
    );
  }

  /** What the fake holds now. */
  stats(): FakeStats {
    const out = new BigUint64Array(9);
    this.#library.symbols.fake_stats(out);
    const [used, pinned, registered, live, copies, launches, streams, reads, buffers] = [...out]
      .map(Number);
    return {
      usedDeviceBytes: used!,
      pinnedBytes: pinned!,
      registeredBytes: registered!,
      liveAllocations: live!,
      asyncCopies: copies!,
      kernelLaunches: launches!,
      liveStreams: streams!,
      cufileReads: reads!,
      cufileBuffers: buffers!,
    };
  }

  close(): void {
    this.#library.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
