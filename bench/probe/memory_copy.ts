/**
 * The host's large memory copy bandwidth, with the copy split across the
 * cores as the host target splits its copies.
 *
 * @module
 */

import { NativeMemory } from "../ffi/native_memory.ts";
import { HostTarget } from "../targets/host.ts";

/** Bytes copied per attempt. @default 512 MiB */
export const COPY_PROBE_BYTES = 512 << 20;

/** Best GB/s of `attempts` copies of {@link COPY_PROBE_BYTES} between faulted-in buffers. */
export async function probeMemoryCopy(attempts = 3, bytes = COPY_PROBE_BYTES): Promise<number> {
  using source = NativeMemory.allocate(bytes, { populate: true });
  using target = new HostTarget();
  target.reserve(bytes);
  const buffer = target.allocate(bytes);
  let best = 0;
  for (let i = 0; i < attempts; i++) {
    const began = performance.now();
    await target.copyIn(buffer, 0, source.pointer(), bytes);
    best = Math.max(best, bytes / ((performance.now() - began) / 1000) / 1e9);
  }
  return best;
}
