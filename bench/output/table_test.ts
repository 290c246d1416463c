import assert from "node:assert/strict";
import { syntheticProfile } from "../profile/_synthetic.ts";
import { assertSnapshot } from "../util/testing.ts";
import { formatDuration, renderHeading, renderTable } from "./table.ts";

Deno.test("the table of a profile matches its snapshot", async () => {
  await assertSnapshot(
    renderTable(syntheticProfile()),
    new URL("./testdata/table.txt", import.meta.url),
  );
});

Deno.test("the table shows every case, its spread and its flags", () => {
  const text = renderTable(syntheticProfile());
  for (
    const label of [
      "full-read · cold",
      "mmap · warm",
      "mmap(advice=sequential) · cold",
    ]
  ) {
    assert.ok(text.includes(label), label);
  }
  assert.match(text, /skipped: not on this target/);
  assert.match(text, /errored: Tensor "w" differs on host/);
  assert.match(text, /noisy \(CV \d+% > 10%\)/);
  assert.match(text, /✓ 5\/5/);
  assert.ok(!text.includes("\x1b["), "no colour unless asked");
  assert.ok(renderTable(syntheticProfile(), { color: true }).includes("\x1b["));
});

Deno.test("the heading names what every case shares", () => {
  const profile = syntheticProfile();
  assert.equal(renderHeading(profile), "synthetic · target host");
});

Deno.test("durations read naturally at every scale", () => {
  assert.equal(formatDuration(0.0421), "0.042 ms");
  assert.equal(formatDuration(9.999), "9.999 ms");
  assert.equal(formatDuration(10), "10.0 ms");
  assert.equal(formatDuration(999.94), "999.9 ms");
  assert.equal(formatDuration(61_000), "61.000 s");
});
