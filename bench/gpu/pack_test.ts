import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testUnless, withTempDir } from "../util/testing.ts";

const ENTER = fileURLToPath(new URL("./enter.sh", import.meta.url));
const TOOLS = ["bash", "python3", "tar", "mkdir", "chmod", "mv", "touch"];

/** Where each tool is here, or why the test cannot run. */
function toolPaths(): { paths?: Record<string, string>; skip?: string } {
  const paths: Record<string, string> = {};
  for (const tool of TOOLS) {
    // the executable itself, not a launcher (pyenv's shims need more of PATH than this test gives)
    const where = tool === "python3"
      ? `python3 -c 'import sys; print(sys.executable)'`
      : `command -v ${tool}`;
    const found = new Deno.Command("bash", { args: ["-c", where] }).outputSync();
    const path = new TextDecoder().decode(found.stdout).trim();
    if (!found.success || !path.startsWith("/")) return { skip: `no ${tool} here` };
    paths[tool] = path;
  }
  return { paths };
}
const tools = toolPaths();

testUnless(
  tools.skip,
  "enter.sh unpacks Deno and node_modules with Python's lzma where the GPU machine has no xz",
  async () => {
    await withTempDir(async (dir) => {
      // A tree as the device sees it: .device/ with a "Deno" and an npm package, xz-compressed.
      const device = join(dir, ".device");
      await Deno.mkdir(join(dir, "stage", "node_modules", "pkg"), { recursive: true });
      await Deno.mkdir(device);
      await Deno.writeTextFile(join(dir, "stage", "node_modules", "pkg", "index.js"), "ok\n");
      await Deno.writeTextFile(join(dir, "stage", "deno"), "#!/bin/sh\necho fake deno $1\n");
      const pack = `
import lzma, tarfile, sys
stage, device = sys.argv[1], sys.argv[2]
with open(f"{stage}/deno", "rb") as f, lzma.open(f"{device}/deno.xz", "wb") as out:
    out.write(f.read())
with tarfile.open(f"{device}/node_modules.tar.xz", "w:xz") as tar:
    tar.add(f"{stage}/node_modules", arcname="node_modules")
`;
      const packed = await new Deno.Command(tools.paths!.python3!, {
        args: ["-c", pack, join(dir, "stage"), device],
      }).output();
      assert.ok(packed.success, new TextDecoder().decode(packed.stderr));
      await Deno.copyFile(ENTER, join(device, "enter.sh"));

      // A PATH with the tools enter.sh needs, and no xz.
      const bin = join(dir, "bin");
      await Deno.mkdir(bin);
      for (const [tool, path] of Object.entries(tools.paths!)) {
        await Deno.symlink(path, join(bin, tool));
      }
      const ran = await new Deno.Command(tools.paths!.bash!, {
        args: ["-c", "source .device/enter.sh && command -v xz || deno hello"],
        cwd: dir,
        env: { PATH: bin, WB_BIN: join(dir, "wb-bin") },
        clearEnv: true,
      }).output();
      const decoder = new TextDecoder();
      assert.ok(ran.success, decoder.decode(ran.stderr));
      assert.equal(decoder.decode(ran.stdout), "fake deno hello\n");
      assert.equal(await Deno.readTextFile(join(dir, "node_modules", "pkg", "index.js")), "ok\n");
    });
  },
);
