/**
 * A dequantization worker of {@link DequantPool}: it receives addresses of
 * native memory (the quantized source and the FP16 destination), views them
 * without copying, and runs the fast dequantizer over its share of blocks.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { dequantizeF16Into } from "./fast.ts";
import { DEQUANT_BLOCKS, type DequantType } from "./reference.ts";

/** One job: `blocks` blocks of `type` at `source`, written as FP16 at `destination`. */
export interface DequantJob {
  readonly id: number;
  readonly type: DequantType;
  readonly source: bigint;
  readonly destination: bigint;
  readonly blocks: number;
}

/** The answer to a job: its id, and the error's message when it failed. */
export interface DequantReply {
  readonly id: number;
  readonly error?: string;
}

self.onmessage = (event: MessageEvent<DequantJob>) => {
  const { id, type, source, destination, blocks } = event.data;
  try {
    if (blocks === 0) {
      self.postMessage({ id } satisfies DequantReply);
      return;
    }
    const { elements, bytes } = DEQUANT_BLOCKS[type];
    const src = new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(source)!, blocks * bytes),
    );
    const dst = new Uint16Array(
      Deno.UnsafePointerView.getArrayBuffer(
        Deno.UnsafePointer.create(destination)!,
        blocks * elements * 2,
      ),
    );
    dequantizeF16Into(type, src, dst);
    self.postMessage({ id } satisfies DequantReply);
  } catch (error) {
    self.postMessage(
      { id, error: error instanceof Error ? error.message : String(error) } satisfies DequantReply,
    );
  }
};
