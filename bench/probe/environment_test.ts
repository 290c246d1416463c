import assert from "node:assert/strict";
import { collectEnvironment, findMount, storageOf } from "./environment.ts";

const MOUNTINFO = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard",
  "25 22 0:21 / /dev/shm rw,nosuid shared:4 - tmpfs tmpfs rw,size=24684092k",
  "31 22 259:2 / /mnt/nvme rw,noatime shared:9 - xfs /dev/nvme0n1p1 rw,attr2",
  "32 31 259:3 / /mnt/nvme/models\\040dir rw shared:10 - ext4 /dev/nvme1n1 rw",
].join("\n");

Deno.test("the mount is the deepest one of the file's device that holds the path", () => {
  assert.deepEqual(findMount(MOUNTINFO, "254:0", "/work/models/a.safetensors"), {
    mountPoint: "/",
    fileSystem: "ext4",
    source: "/dev/vda",
  });
  assert.equal(
    findMount(MOUNTINFO, "259:2", "/mnt/nvme/llama/model.safetensors")?.fileSystem,
    "xfs",
  );
  assert.equal(
    findMount(MOUNTINFO, "259:3", "/mnt/nvme/models dir/x")?.mountPoint,
    "/mnt/nvme/models dir",
  );
  assert.equal(
    findMount(MOUNTINFO, "259:2", "/mnt/nvmeother/x"),
    undefined,
    "a prefix is not a parent folder",
  );
  assert.equal(findMount(MOUNTINFO, "9:9", "/x"), undefined);
});

Deno.test("storage of a real folder names its file system and device", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = await storageOf(dir);
    assert.notEqual(storage.fileSystem, "unknown");
    assert.match(storage.device, /^\d+:\d+$/);
    assert.equal(storage.path, await Deno.realPath(dir));
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("the environment has what comparisons need", async () => {
  const env = await collectEnvironment(["."]);
  assert.ok(env.host.length > 0);
  assert.ok(env.cpu.cores >= 1);
  assert.ok(env.memoryBytes > 0);
  assert.equal(env.deno.deno, Deno.version.deno);
  assert.equal(env.storage.length, 1);
  if (env.git.commit !== null) assert.match(env.git.commit, /^[0-9a-f]{40}$/);
});
