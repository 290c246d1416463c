/**
 * The project's definitions against NVIDIA's real headers: a small C program,
 * generated from the project's own tables and compiled with the C compiler
 * against `cuda.h`, `nvml.h` and `cufile.h`, prints the `sizeof` and
 * `offsetof` of every struct weightbench reads or writes, the value of every
 * code, flag, attribute and version it hard-codes, and the entry point each
 * header maps a call to; the test compares them with the TypeScript.
 *
 * `nvml.h` and `cufile.h` come with Debian non-free's `libnvidia-ml-dev` and
 * `libcufile-dev`; `cuda.h` with the CUDA toolkit (`/usr/local/cuda/include`,
 * `$CUDA_HOME/include`) or Debian's `nvidia-cuda-dev`. `cufile.h` includes
 * `cuda.h`: where the toolkit is absent it compiles against a stand-in that
 * declares only `CUresult`, and the `cuda.h` test says it was skipped.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { testUnless, withTempDir } from "../util/testing.ts";
import * as cuda from "./cuda.ts";
import * as cufile from "./cufile.ts";
import * as nvml from "./nvml.ts";

/** Folders searched for each header, in order. */
function includeDirs(): string[] {
  const dirs: string[] = [];
  for (const variable of ["CUDA_HOME", "CUDA_PATH"]) {
    const value = Deno.env.get(variable);
    if (value) dirs.push(join(value, "include"));
  }
  return [...dirs, "/usr/local/cuda/include", "/usr/include"];
}

/** The folder holding `header`, or undefined. */
function findHeader(header: string): string | undefined {
  for (const dir of includeDirs()) {
    try {
      if (Deno.statSync(join(dir, header)).isFile) return dir;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The first C compiler that runs here. */
function findCompiler(): string | undefined {
  for (const compiler of ["cc", "gcc", "clang"]) {
    try {
      if (new Deno.Command(compiler, { args: ["--version"] }).outputSync().success) return compiler;
    } catch {
      // not installed
    }
  }
  return undefined;
}

const compiler = findCompiler();

/** What one C program prints: `name<TAB>value` per line. */
type Printed = Map<string, string>;

/** A line of C printing `label<TAB><value of expr>` as a signed 64-bit number. */
function number(label: string, expr: string): string {
  return `  printf("%s\\t%lld\\n", "${label}", (long long)(${expr}));`;
}

/** A line of C printing what the preprocessor makes of `name` (a macro's expansion, or itself). */
function expansion(name: string): string {
  return `  printf("%s\\t%s\\n", "map:${name}", XSTR(${name}));`;
}

/** A line of C that fails to compile unless the header declares `name`. */
function declared(name: string): string {
  return `  (void)&${name};`;
}

/** Compiles and runs `lines` with `headers` included; the `name<TAB>value` lines it printed. */
async function compileAndRun(
  dir: string,
  headers: readonly string[],
  includes: readonly string[],
  lines: readonly string[],
): Promise<Printed> {
  const source = join(dir, "layout.c");
  const binary = join(dir, "layout");
  await Deno.writeTextFile(
    source,
    [
      "#include <stddef.h>",
      "#include <stdio.h>",
      ...headers.map((h) => `#include <${h}>`),
      "#define STR(x) #x",
      "#define XSTR(x) STR(x)",
      "int main(void) {",
      ...lines,
      "  return 0;",
      "}",
      "",
    ].join("\n"),
  );
  const built = await new Deno.Command(compiler!, {
    args: [...includes.flatMap((i) => ["-I", i]), "-o", binary, source],
    stderr: "piped",
    stdout: "piped",
  }).output();
  if (!built.success) {
    assert.fail(
      `${compiler} could not compile against ${headers.join(", ")}:\n${
        new TextDecoder().decode(built.stderr)
      }`,
    );
  }
  const ran = await new Deno.Command(binary, { stdout: "piped" }).output();
  assert.ok(ran.success, "the layout program failed");
  const printed: Printed = new Map();
  for (const line of new TextDecoder().decode(ran.stdout).trimEnd().split("\n")) {
    const at = line.indexOf("\t");
    printed.set(line.slice(0, at), line.slice(at + 1));
  }
  return printed;
}

/** Asserts every `label → expected` against what the program printed. */
function compare(printed: Printed, expected: Readonly<Record<string, number | bigint | string>>) {
  const wrong: string[] = [];
  for (const [label, want] of Object.entries(expected)) {
    const got = printed.get(label);
    const same = typeof want === "string"
      ? got === want
      : got !== undefined && BigInt(got) === BigInt(want);
    if (!same) wrong.push(`${label}: the header says ${got}, weightbench ${want}`);
  }
  assert.deepEqual(wrong, [], wrong.join("\n"));
}

/**
 * The checks of a symbol table: each non-optional symbol is declared by the
 * header, and where the header maps the unversioned name (`cuMemAlloc`) to an
 * entry point, it is the one the table binds (`cuMemAlloc_v2`). Returns the
 * entry points to compare: `map:<name>` → the names it may expand to.
 */
function symbolChecks(
  symbols: Deno.ForeignLibraryInterface,
  lines: string[],
): Map<string, readonly string[]> {
  const maps = new Map<string, readonly string[]>();
  for (const [key, definition] of Object.entries(symbols)) {
    if ((definition as { optional?: boolean }).optional) continue;
    lines.push(declared(key));
    const base = key.replace(/_v\d+$/, "");
    if (base !== key) {
      lines.push(expansion(base));
      maps.set(`map:${base}`, [key, base]); // mapped to what we bind, or not a macro at all
    }
  }
  return maps;
}

/** Asserts each unversioned name expands to one of the names allowed. */
function compareMaps(printed: Printed, maps: Map<string, readonly string[]>): void {
  const wrong: string[] = [];
  for (const [label, allowed] of maps) {
    const got = printed.get(label);
    if (!allowed.includes(got ?? "")) {
      wrong.push(`the header maps ${label.slice(4)} to ${got}; weightbench binds ${allowed[0]}`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join("\n"));
}

/** The exported numbers of `module` whose names `cuda.h`, `nvml.h` or `cufile.h` share. */
function namedConstants(module: Record<string, unknown>, pattern: RegExp): Record<string, number> {
  const constants: Record<string, number> = {};
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "number" && pattern.test(name)) constants[name] = value;
  }
  return constants;
}

const cudaInclude = findHeader("cuda.h");
const nvmlInclude = findHeader("nvml.h");
const cufileInclude = findHeader("cufile.h");
const noCompiler = compiler ? undefined : "no C compiler (cc, gcc, clang)";

testUnless(
  noCompiler ??
    (cudaInclude
      ? undefined
      : `no cuda.h in ${includeDirs().join(", ")} (the CUDA toolkit has it)`),
  "cuda.h: codes, flags, attributes, CUuuid and every entry point as weightbench binds them",
  async () => {
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      const expected: Record<string, number | bigint | string> = {};
      for (const [status, name] of Object.entries(cuda.CUDA_CODE_NAMES)) {
        lines.push(number(`code:${name}`, name));
        expected[`code:${name}`] = Number(status);
      }
      for (
        const [name, value] of Object.entries(
          namedConstants(cuda, /^(CU_|CUDA_SUCCESS$|CUDA_ERROR_)/),
        )
      ) {
        lines.push(number(name, name));
        expected[name] = value;
      }
      const sizes = {
        "sizeof(CUuuid)": cuda.CUUUID_BYTES,
        "sizeof(CUresult)": 4,
        "sizeof(CUdevice)": 4,
        "sizeof(CUdeviceptr)": 8,
        "sizeof(CUcontext)": 8,
        "sizeof(CUstream)": 8,
        "sizeof(CUevent)": 8,
        "sizeof(size_t)": 8,
      };
      for (const [label, value] of Object.entries(sizes)) {
        lines.push(number(label, label));
        expected[label] = value;
      }
      const maps = symbolChecks(cuda.CUDA_SYMBOLS, lines);
      const printed = await compileAndRun(dir, ["cuda.h"], [cudaInclude!], lines);
      compare(printed, expected);
      compareMaps(printed, maps);
    });
  },
);

testUnless(
  noCompiler ??
    (nvmlInclude ? undefined : "no nvml.h (install libnvidia-ml-dev from Debian non-free)"),
  "nvml.h: return codes, nvmlMemory_v2_t, nvmlProcessInfo_t, buffer sizes and entry points",
  async () => {
    await withTempDir(async (dir) => {
      const header = await Deno.readTextFile(join(nvmlInclude!, "nvml.h"));
      const lines: string[] = [];
      const expected: Record<string, number | bigint | string> = {};
      const newer: string[] = [];
      for (const [status, name] of Object.entries(nvml.NVML_ERROR_NAMES)) {
        // codes added after this header's NVML are checked where a newer header is installed
        if (!new RegExp(`\\b${name}\\s*=`).test(header)) {
          newer.push(name);
          continue;
        }
        lines.push(number(`code:${name}`, name));
        expected[`code:${name}`] = Number(status);
      }
      for (
        const [name, value] of Object.entries(
          namedConstants(nvml, /^NVML_(SUCCESS|ERROR_|PCIE_UTIL_)/),
        )
      ) {
        lines.push(number(name, name));
        expected[name] = value;
      }
      const layout: Record<string, number> = {
        "nvmlMemory_v2": nvml.NVML_MEMORY_V2_VERSION,
        "sizeof(nvmlMemory_v2_t)": nvml.NVML_MEMORY_V2_BYTES,
        "offsetof(nvmlMemory_v2_t, version)": 0,
        "sizeof(nvmlProcessInfo_t)": nvml.NVML_PROCESS_INFO_BYTES,
        "offsetof(nvmlProcessInfo_t, pid)": nvml.NVML_PROCESS_INFO_OFFSETS.pid,
        "offsetof(nvmlProcessInfo_t, usedGpuMemory)": nvml.NVML_PROCESS_INFO_OFFSETS.usedGpuMemory,
        "sizeof(nvmlReturn_t)": 4,
        "sizeof(nvmlDevice_t)": 8,
      };
      for (const [field, offset] of Object.entries(nvml.NVML_MEMORY_V2_OFFSETS)) {
        layout[`offsetof(nvmlMemory_v2_t, ${field})`] = offset;
      }
      for (const [label, value] of Object.entries(layout)) {
        lines.push(number(label, label));
        expected[label] = value;
      }
      lines.push(
        `  printf("NVML_VALUE_NOT_AVAILABLE\\t%llu\\n", (unsigned long long)NVML_VALUE_NOT_AVAILABLE);`,
      );
      expected.NVML_VALUE_NOT_AVAILABLE = nvml.NVML_VALUE_NOT_AVAILABLE;
      for (
        const size of [
          "NVML_DEVICE_NAME_V2_BUFFER_SIZE",
          "NVML_DEVICE_UUID_V2_BUFFER_SIZE",
          "NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE",
        ]
      ) {
        lines.push(
          `#ifdef ${size}`,
          number(`fits:${size}`, `${size} <= ${nvml.NVML_TEXT_BYTES}`),
          "#endif",
        );
      }
      const maps = symbolChecks(nvml.NVML_SYMBOLS, lines);
      const printed = await compileAndRun(dir, ["nvml.h"], [nvmlInclude!], lines);
      compare(printed, expected);
      compareMaps(printed, maps);
      for (const [label, value] of printed) {
        if (label.startsWith("fits:")) {
          assert.equal(value, "1", `${label.slice(5)} > ${nvml.NVML_TEXT_BYTES}`);
        }
      }
      if (newer.length > 0) {
        console.log(`  newer than this nvml.h, not checked: ${newer.join(", ")}`);
      }
    });
  },
);

testUnless(
  noCompiler ??
    (cufileInclude ? undefined : "no cufile.h (install libcufile-dev from Debian non-free)"),
  "cufile.h: CUfileDescr_t, CUfileDrvProps_t, CUfileError_t, flags, every CUfileOpError and entry points",
  async () => {
    await withTempDir(async (dir) => {
      const includes = [cufileInclude!];
      if (cudaInclude) {
        includes.push(cudaInclude);
      } else {
        // cufile.h includes cuda.h for CUresult alone
        await Deno.mkdir(join(dir, "stand-in"));
        await Deno.writeTextFile(
          join(dir, "stand-in", "cuda.h"),
          "typedef enum cudaError_enum { CUDA_SUCCESS = 0 } CUresult;\n",
        );
        includes.push(join(dir, "stand-in"));
        console.log(
          "  no cuda.h: cufile.h compiled against a stand-in that declares only CUresult",
        );
      }
      const lines: string[] = [];
      const expected: Record<string, number | bigint | string> = {};
      const props = cufile.CUFILE_PROPS_OFFSETS;
      const layout: Record<string, number> = {
        "sizeof(CUfileError_t)": 8,
        "offsetof(CUfileError_t, err)": 0,
        "offsetof(CUfileError_t, cu_err)": 4,
        "sizeof(CUfileDescr_t)": cufile.CUFILE_DESCR_BYTES,
        "offsetof(CUfileDescr_t, type)": cufile.CUFILE_DESCR_OFFSETS.type,
        "offsetof(CUfileDescr_t, handle.fd)": cufile.CUFILE_DESCR_OFFSETS.fd,
        "offsetof(CUfileDescr_t, fs_ops)": cufile.CUFILE_DESCR_OFFSETS.fsOps,
        "offsetof(CUfileDrvProps_t, nvfs.major_version)": props.majorVersion,
        "offsetof(CUfileDrvProps_t, nvfs.minor_version)": props.minorVersion,
        "offsetof(CUfileDrvProps_t, nvfs.poll_thresh_size)": props.pollThresholdSize,
        "offsetof(CUfileDrvProps_t, nvfs.max_direct_io_size)": props.maxDirectIoSize,
        "offsetof(CUfileDrvProps_t, nvfs.dstatusflags)": props.statusFlags,
        "offsetof(CUfileDrvProps_t, nvfs.dcontrolflags)": props.controlFlags,
        "offsetof(CUfileDrvProps_t, fflags)": props.featureFlags,
        "sizeof(CUfileDrvProps_t) <= CUFILE_PROPS_BUFFER_BYTES": 1,
        "sizeof(CUfileHandle_t)": 8,
        "sizeof(ssize_t)": 8,
        "sizeof(off_t)": 8,
      };
      for (const [label, value] of Object.entries(layout)) {
        const expr = label.replace(
          "CUFILE_PROPS_BUFFER_BYTES",
          String(cufile.CUFILE_PROPS_BUFFER_BYTES),
        );
        lines.push(number(label, expr));
        expected[label] = value;
      }
      for (const [name, value] of Object.entries(namedConstants(cufile, /^CU_FILE_/))) {
        lines.push(number(name, name));
        expected[name] = value;
      }
      // the header's own list of CUfileOpError: code, name, text
      lines.push(
        '#define CUFILE_OP(code, name, string) printf("op:%d\\t%s|%s\\n", (int)(code), #name, #string);',
        "  CUFILEOP_STATUS_ENTRIES",
        "#undef CUFILE_OP",
      );
      const maps = symbolChecks(cufile.CUFILE_SYMBOLS, lines);
      const printed = await compileAndRun(dir, ["cufile.h"], includes, lines);
      compare(printed, expected);
      compareMaps(printed, maps);
      const ops = new Map<number, string>();
      for (const [label, value] of printed) {
        if (label.startsWith("op:")) ops.set(Number(label.slice(3)), value);
      }
      const ours = new Map(
        Object.entries(cufile.CUFILE_OP_ERRORS).map((
          [code, [name, text]],
        ) => [Number(code), `${name}|${text}`]),
      );
      assert.deepEqual(ours, ops, "CUFILE_OP_ERRORS against CUFILEOP_STATUS_ENTRIES");
    });
  },
);
