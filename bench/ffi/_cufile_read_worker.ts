/**
 * A read Worker of a {@link CufileReader}: it opens the CUDA driver and cuFile
 * from the paths the main thread opened them from (the same libraries, so the
 * same state), then runs each read it is sent on its own thread with the
 * CUDA context pushed around the call and popped after, as kvikio does:
 * `cuCtxPushCurrent_v2`, `cuFileRead`, `errno` where it returned -1,
 * `cuCtxPopCurrent_v2`.
 *
 * Protocol: `{ kind: "start", cudaPath, cufilePath, context }` first
 * (answered with id -1, and `error` where a library did not open or the
 * context could not be pushed), then `{ kind: "read", id, … }`, each answered
 * `{ id, got, errno }`, or `{ id, error }` where the context push or pop
 * failed.
 *
 * @module
 */

import { CUDA_DRIVER, type CudaSymbols } from "./cuda.ts";
import { CUFILE, type CufileSymbols, type ReadAnswer, type ReadRequest } from "./cufile.ts";
import { errno } from "./libc.ts";
import { openLibrary } from "./library.ts";

declare const self: {
  onmessage: ((event: MessageEvent<ReadRequest>) => void) | null;
  postMessage(message: ReadAnswer): void;
};

let cuda: CudaSymbols | undefined;
let cufile: CufileSymbols | undefined;
let context: Deno.PointerValue = null;
const popped = new BigUint64Array(1);

self.onmessage = (event) => {
  const request = event.data;
  if (request.kind === "start") {
    try {
      // Both stay open for the Worker's life: unloading them under their own threads is unsafe.
      cuda = openLibrary(CUDA_DRIVER, [request.cudaPath]).library.symbols;
      cufile = openLibrary(CUFILE, [request.cufilePath]).library.symbols;
      context = Deno.UnsafePointer.create(request.context);
      const problem = withContext(() => {});
      self.postMessage(problem === undefined ? { id: -1 } : { id: -1, error: problem });
    } catch (error) {
      self.postMessage({ id: -1, error: (error as Error).message });
    }
    return;
  }
  let got = 0;
  let lastErrno: number | undefined;
  const problem = withContext(() => {
    got = Number(
      cufile!.cuFileRead(
        Deno.UnsafePointer.create(request.handle),
        Deno.UnsafePointer.create(request.device),
        BigInt(request.size),
        BigInt(request.fileOffset),
        BigInt(request.deviceOffset),
      ),
    );
    if (got === -1) lastErrno = errno();
  });
  if (problem !== undefined) self.postMessage({ id: request.id, error: problem });
  else {self.postMessage({
      id: request.id,
      got,
      ...(lastErrno === undefined ? {} : { errno: lastErrno }),
    });}
};

/** Runs `call` with the context pushed on this thread; says why where the push or pop failed. */
function withContext(call: () => void): string | undefined {
  const pushed = cuda!.cuCtxPushCurrent_v2(context);
  if (pushed !== 0) {
    return `cuCtxPushCurrent_v2 in a cuFile read Worker returned CUresult ${pushed}`;
  }
  call();
  const status = cuda!.cuCtxPopCurrent_v2(popped);
  if (status !== 0) return `cuCtxPopCurrent_v2 in a cuFile read Worker returned CUresult ${status}`;
  return undefined;
}
