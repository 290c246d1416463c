/**
 * A target that keeps nothing: each copy into it is dropped, as
 * `cat FILE > /dev/null` drops what it reads. `deno task perf --beyond-ram`
 * loads a model larger than this machine's memory onto it, so that the
 * strategies' own read path — the streaming engine, its ring of staging
 * buffers, its reads in flight — is timed and its peak memory measured where
 * no real target could hold the model; the peers (cat, fio) do the same job.
 * It has nothing to read back, so nothing loaded onto it can be verified: the
 * conformance suite proves the bytes, this only times them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NullTarget } from "./_null_target.ts";
 *
 * using target = new NullTarget();
 * const buffer = target.allocate(2 ** 40);
 * await target.copyIn(buffer, 0, Deno.UnsafePointer.create(1n)!, 4096);
 * assert.equal(target.copiedBytes, 4096);
 * assert.throws(() => target.readBack(buffer, 0, 1), /keeps no bytes/);
 * ```
 *
 * @module
 */

import type { DeviceBuffer, Target, TargetInfo } from "../bench/core/target.ts";

/** A destination that accepts every byte and keeps none. */
export class NullTarget implements Target {
  readonly id = "null";
  readonly transferPhase = "copy" as const;
  /** Bytes copied in since it was made. */
  copiedBytes = 0;

  get info(): TargetInfo {
    return { kind: "null" };
  }

  reserve(): void {}

  allocate(bytes: number): DeviceBuffer {
    return { target: this.id, size: bytes };
  }

  copyIn(buffer: DeviceBuffer, offset: number, _source: Deno.PointerObject, length: number) {
    if (offset < 0 || length < 0 || offset + length > buffer.size) {
      return Promise.reject(
        new RangeError(`Range ${offset}+${length} outside a ${buffer.size}-byte buffer`),
      );
    }
    this.copiedBytes += length;
    return Promise.resolve();
  }

  synchronize(): Promise<void> {
    return Promise.resolve();
  }

  readBack(_buffer: DeviceBuffer, _offset: number, _length: number): Uint8Array {
    throw new Error("The null target keeps no bytes to read back");
  }

  free(): void {}

  freeAll(): void {}

  close(): void {}

  [Symbol.dispose](): void {}
}
