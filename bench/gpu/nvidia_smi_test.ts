import assert from "node:assert/strict";
import {
  formatSection,
  GPU_QUERY_FIELDS,
  isUnavailable,
  parseComputeApps,
  parseQueryGpu,
  parseRecording,
  parseSmiCsv,
  queryFields,
  queryGpus,
  smiBytes,
  smiNumber,
  SmiParseError,
} from "./nvidia_smi.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

Deno.test("nvidia-smi placeholders are null, values are trimmed", () => {
  for (
    const value of [
      "[N/A]",
      "[Not Supported]",
      "[Insufficient Permissions]",
      "[Unknown Error]",
      "N/A",
    ]
  ) {
    assert.ok(isUnavailable(value), value);
  }
  assert.ok(!isUnavailable("0"));
  assert.deepEqual(parseSmiCsv("0, [N/A],  5 \n\n", ["index", "x", "y"]), [
    { index: "0", x: null, y: "5" },
  ]);
});

Deno.test("nvidia-smi numbers and memory, with and without units", () => {
  assert.equal(smiBytes("81559"), 81559 * 2 ** 20);
  assert.equal(smiBytes("81559 MiB"), 81559 * 2 ** 20);
  assert.equal(smiBytes("1.5 GiB"), 1.5 * 2 ** 30);
  assert.equal(smiBytes("512 KiB"), 512 * 1024);
  assert.equal(smiBytes(null), null);
  assert.equal(smiNumber("69.84 W"), 69.84);
  assert.equal(smiNumber("35 %"), 35);
  assert.equal(smiNumber("1980 MHz"), 1980);
  assert.throws(() => smiBytes("lots"), SmiParseError);
  assert.throws(() => smiBytes("3 parsecs"), /unknown unit/);
  assert.throws(() => smiNumber("Enabled"), SmiParseError);
});

Deno.test("--query-gpu rows become GPUs, a comma in a name included", () => {
  const fields = ["index", "name", "memory.total", "pcie.link.gen.current", "pcie.link.width.max"];
  const [a, b] = parseQueryGpu(
    "0, NVIDIA H100 80GB HBM3, 81559, 5, 16\n1, Odd, Name, Inc., 1024 MiB, [N/A], [Not Supported]\n",
    fields,
  );
  assert.equal(a!.index, 0);
  assert.equal(a!.memoryTotalBytes, 81559 * 2 ** 20);
  assert.equal(a!.pcieGeneration, 5);
  assert.equal(a!.pcieWidthMax, 16);
  assert.equal(a!.uuid, null, "not asked for");
  assert.equal(b!.name, "Odd, Name, Inc.");
  assert.equal(b!.memoryTotalBytes, 2 ** 30);
  assert.equal(b!.pcieGeneration, null);
  assert.equal(b!.fields["pcie.link.width.max"], null);
});

Deno.test("a row that does not fit the fields is an error naming the line", () => {
  assert.throws(
    () => parseQueryGpu("0, 1, 2\n", ["index", "memory.total"]),
    /^SmiParseError: nvidia-smi line 1 has 3 values for 2 fields \(index,memory.total\): "0, 1, 2"$/,
  );
});

Deno.test("--query-compute-apps: processes, none, and unreported memory", () => {
  assert.deepEqual(parseComputeApps("101, 2048\n202, [N/A]\n"), [
    { pid: 101, usedBytes: 2 * 2 ** 30 },
    { pid: 202, usedBytes: null },
  ]);
  assert.deepEqual(parseComputeApps(""), []);
  assert.deepEqual(parseComputeApps("No running processes found\n"), []);
});

Deno.test("recordings split into commands and outputs, and round-trip", () => {
  const text = `# comment\n${formatSection("nvidia-smi -L", "GPU 0: X")}${formatSection("b", "")}`;
  assert.deepEqual(parseRecording(text), [
    { command: "nvidia-smi -L", output: "GPU 0: X\n" },
    { command: "b", output: "" },
  ]);
  assert.deepEqual(queryFields("nvidia-smi --query-compute-apps=pid,used_memory --format=csv"), {
    kind: "compute-apps",
    fields: ["pid", "used_memory"],
  });
  assert.equal(queryFields("nvidia-smi"), undefined);
});

// Every recording in testdata: the synthetic one until a GPU machine's replaces it.
for await (const entry of Deno.readDir(TESTDATA)) {
  if (!/^nvidia-smi\..+\.txt$/.test(entry.name)) continue;
  Deno.test(
    `every query in testdata/${entry.name} parses${
      entry.name.includes("synthetic") ? " (synthetic: replace with a recording)" : ""
    }`,
    async () => {
      const sections = parseRecording(await Deno.readTextFile(new URL(entry.name, TESTDATA)));
      assert.ok(sections.length > 0, "no sections");
      let queries = 0;
      for (const { command, output } of sections) {
        const query = queryFields(command);
        if (!query) continue;
        queries++;
        if (query.kind === "gpu") {
          const gpus = parseQueryGpu(output, query.fields);
          assert.ok(gpus.length > 0, `${command}: no GPU`);
          for (const gpu of gpus) {
            if (query.fields.includes("name")) assert.ok(gpu.name, `${command}: no name`);
            if (query.fields.includes("memory.total")) {
              assert.ok((gpu.memoryTotalBytes ?? 0) > 2 ** 30, `${command}: memory.total`);
            }
          }
        } else {
          for (const process of parseComputeApps(output, query.fields)) {
            assert.ok(process.pid > 0, `${command}: pid ${process.pid}`);
          }
        }
      }
      assert.ok(queries >= 2, `only ${queries} queries recorded`);
      if (
        sections.some((s) =>
          s.command ===
            `nvidia-smi ${
              ["--query-gpu=" + GPU_QUERY_FIELDS.join(","), "--format=csv,noheader,nounits"].join(
                " ",
              )
            }`
        )
      ) {
        return;
      }
      assert.fail("the inventory query (GPU_QUERY_FIELDS, nounits) is not among the recorded ones");
    },
  );
}

Deno.test("queryGpus says why where there is no nvidia-smi, or lists the GPUs", async () => {
  const result = await queryGpus();
  if ("reason" in result) assert.match(result.reason, /nvidia-smi/);
  else assert.ok(result.gpus.length >= 0);
});
