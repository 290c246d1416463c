/**
 * The wait Worker of a CUDA context ({@link CudaContext.wait}): it opens the
 * driver from the path the context's driver opened from (the same library,
 * so the same driver state), makes the context current on its own thread
 * once, and then runs each wait it is sent, in order, blocking only itself:
 * `cuStreamSynchronize` or `cuEventSynchronize`, answering with the
 * `CUresult`. A Worker owns its thread, so the context stays current there.
 *
 * Protocol: `{ kind: "start", path, context }` first (answered with id -1 and
 * the status of `cuCtxSetCurrent`), then `{ kind: "stream" | "event", id,
 * handle }`, each answered `{ id, status }`.
 *
 * @module
 */

import { CUDA_DRIVER, type CudaSymbols, type WaitAnswer, type WaitRequest } from "./cuda.ts";
import { openLibrary } from "./library.ts";

declare const self: {
  onmessage: ((event: MessageEvent<WaitRequest>) => void) | null;
  postMessage(message: WaitAnswer): void;
};

let symbols: CudaSymbols | undefined;

self.onmessage = (event) => {
  const request = event.data;
  if (request.kind === "start") {
    // The library stays open for the Worker's life: unloading libcuda under its own threads is unsafe.
    symbols = openLibrary(CUDA_DRIVER, [request.path]).library.symbols;
    self.postMessage({ id: -1, status: symbols.cuCtxSetCurrent(pointer(request.context)) });
    return;
  }
  if (!symbols) throw new Error("The CUDA wait Worker was asked to wait before it started");
  const handle = pointer(request.handle);
  const status = request.kind === "stream"
    ? symbols.cuStreamSynchronize(handle)
    : symbols.cuEventSynchronize(handle);
  self.postMessage({ id: request.id, status });
};

function pointer(value: bigint): Deno.PointerValue {
  return Deno.UnsafePointer.create(value);
}
