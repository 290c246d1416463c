/**
 * Every symbol table of the project, opened with `Deno.dlopen` exactly as it
 * is declared, on the real library: libc, and NVIDIA's `libcuda.so.1`,
 * `libnvidia-ml.so.1` and `libcufile.so.0` (Debian non-free's `libcuda1`,
 * `libnvidia-ml1`, `libcufile0`: they load without a GPU). A symbol the real
 * library lacks fails its test unless the table marks it optional, with the
 * fallback weightbench uses then. The same tables open on the fake driver the
 * GPU-less tests use, so the fake cannot drift from them either.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { fakeDriver } from "../gpu/_fake_driver.ts";
import { testUnless } from "../util/testing.ts";
import { CUDA_DRIVER } from "./cuda.ts";
import { CUFILE } from "./cufile.ts";
import { LIBC } from "./libc.ts";
import { type LibrarySpec, openLibrary } from "./library.ts";
import { NVML } from "./nvml.ts";

// deno-lint-ignore no-explicit-any
type AnySpec = LibrarySpec<any>;

/** Every library weightbench opens, and the Debian package that has it. */
const LIBRARIES: readonly {
  readonly spec: AnySpec;
  readonly module: string;
  readonly package: string;
}[] = [
  { spec: LIBC, module: "libc.ts", package: "libc6" },
  { spec: CUDA_DRIVER, module: "cuda.ts", package: "libcuda1 (Debian non-free)" },
  { spec: NVML, module: "nvml.ts", package: "libnvidia-ml1 (Debian non-free)" },
  { spec: CUFILE, module: "cufile.ts", package: "libcufile0 (Debian non-free)" },
];

/** The first of the library's usual names that opens here, or why none does. */
function realPath(spec: AnySpec): { path?: string; skip?: string } {
  for (const path of spec.candidates) {
    try {
      Deno.dlopen(path, {}).close();
      return { path };
    } catch {
      // the next one
    }
  }
  return { skip: `${spec.name} is not installed here (tried ${spec.candidates.join(", ")})` };
}

Deno.test("every module that declares a symbol table is checked here", async () => {
  const dir = fileURLToPath(new URL(".", import.meta.url));
  const declaring: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const text = await Deno.readTextFile(`${dir}/${entry.name}`);
    if (text.includes("satisfies Deno.ForeignLibraryInterface")) declaring.push(entry.name);
  }
  assert.deepEqual(declaring.sort(), LIBRARIES.map((l) => l.module).sort());
});

for (const { spec, package: pkg } of LIBRARIES) {
  const real = realPath(spec);
  testUnless(
    real.skip && `${real.skip}: install ${pkg}`,
    `every symbol of ${spec.name} is in the real library, or optional with its fallback`,
    () => {
      const missing: string[] = [];
      const optional = new Set<string>();
      for (const [key, definition] of Object.entries(spec.symbols)) {
        const declared = definition as Deno.ForeignFunction & { optional?: boolean };
        if (declared.optional) optional.add(key);
        const probe = Deno.dlopen(real.path!, { [key]: { ...declared, optional: true } });
        if (probe.symbols[key] === null) missing.push(key);
        probe.close();
      }
      const required = missing.filter((key) => !optional.has(key));
      assert.deepEqual(required, [], `${real.path} lacks ${required.join(", ")}`);
      const fallbacks = spec.fallbacks as Record<string, string>;
      assert.deepEqual(Object.keys(fallbacks).sort(), [...optional].sort(), "fallbacks");
      for (const key of missing) {
        console.log(`  ${real.path} has no ${key}: ${fallbacks[key]}`);
      }
      // and the table as declared opens in one piece, as the bindings open it
      openLibrary(spec, [real.path!]).library.close();
    },
  );
}

const realCuda = realPath(CUDA_DRIVER);

testUnless(
  realCuda.skip,
  "the real driver has at least one of the two elapsed-time entry points",
  () => {
    const { library } = openLibrary(CUDA_DRIVER, [realCuda.path!]);
    try {
      const { cuEventElapsedTime_v2, cuEventElapsedTime } = library.symbols;
      assert.ok(cuEventElapsedTime_v2 !== null || cuEventElapsedTime !== null);
    } finally {
      library.close();
    }
  },
);

const fake = await fakeDriver();

testUnless(
  fake.skip,
  "the fake driver has every symbol of the CUDA, NVML and cuFile tables",
  () => {
    for (const spec of [CUDA_DRIVER, NVML, CUFILE]) {
      const { library } = openLibrary(spec as AnySpec, [fake.path!]);
      for (const [key, value] of Object.entries(library.symbols)) {
        assert.ok(value !== null, `the fake lacks ${spec.name}'s optional ${key}`);
      }
      library.close();
    }
  },
);
