/**
 * The logical bytes of a {@link TensorView}: its elements in row-major order,
 * gathered from its storage through its strides, as `tensor.contiguous()`
 * would lay them out. `inspect --hash` hashes these, so a checkpoint's tensors
 * can be compared with `hashlib.sha256(t.contiguous().numpy().tobytes())`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gatherView } from "./views.ts";
 *
 * // A 2×3 storage of bytes, viewed transposed (3×2, strides [1, 3]).
 * const storage = new Uint8Array([1, 2, 3, 4, 5, 6]);
 * const view = { name: "t", dtype: "U8", shape: [3, 2], strides: [1, 3], storage: "s", storageOffset: 0, contiguous: false };
 * assert.deepEqual([...gatherView(storage, 0, view, 1)], [1, 4, 2, 5, 3, 6]);
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { TensorInfo, TensorView } from "./format.ts";
import { PYTORCH_DTYPE_BYTES } from "./pytorch.ts";

/** Bytes hashed at a time. @default 16 MiB */
const CHUNK = 16 << 20;

/** Bytes per element of a view's dtype. */
export function viewElementBytes(view: TensorView, storage: TensorInfo): number {
  const known = PYTORCH_DTYPE_BYTES[view.dtype];
  if (known !== undefined) return known;
  const numel = storage.shape[0] ?? 0;
  return numel > 0 ? storage.byteLength / numel : 1;
}

/** Elements of a view. */
export function viewElements(view: TensorView): number {
  return view.shape.reduce((n, d) => n * d, 1);
}

/**
 * The view's elements in row-major order, from `bytes` holding storage
 * elements from element `first` on (the whole storage when `first` is 0).
 */
export function gatherView(
  bytes: Uint8Array,
  first: number,
  view: TensorView,
  elementBytes: number,
): Uint8Array {
  const count = viewElements(view);
  const out = new Uint8Array(count * elementBytes);
  if (count === 0) return out;
  const rank = view.shape.length;
  const index = new Array<number>(rank).fill(0);
  let source = view.storageOffset - first;
  for (let i = 0; i < count; i++) {
    const from = source * elementBytes;
    out.set(bytes.subarray(from, from + elementBytes), i * elementBytes);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      source += view.strides[d]!;
      if (index[d]! < view.shape[d]!) break;
      source -= view.strides[d]! * view.shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** The SHA-256 of a view's logical bytes, reading its storage from the open `file`. */
export async function viewDigest(
  file: Deno.FsFile,
  storage: TensorInfo,
  view: TensorView,
): Promise<string> {
  const hash = createHash("sha256");
  const elementBytes = viewElementBytes(view, storage);
  const count = viewElements(view);
  if (count === 0) return hash.digest("hex");
  if (view.contiguous) {
    await _hashRange(
      file,
      storage.offset + view.storageOffset * elementBytes,
      count * elementBytes,
      hash,
    );
    return hash.digest("hex");
  }
  let last = view.storageOffset;
  for (let d = 0; d < view.shape.length; d++) last += (view.shape[d]! - 1) * view.strides[d]!;
  const span = new Uint8Array((last - view.storageOffset + 1) * elementBytes);
  await file.seek(storage.offset + view.storageOffset * elementBytes, Deno.SeekMode.Start);
  await _readFull(file, span);
  const gathered = gatherView(span, view.storageOffset, view, elementBytes);
  for (let at = 0; at < gathered.length; at += CHUNK) {
    hash.update(gathered.subarray(at, at + CHUNK));
  }
  return hash.digest("hex");
}

async function _hashRange(
  file: Deno.FsFile,
  offset: number,
  length: number,
  hash: ReturnType<typeof createHash>,
): Promise<void> {
  const buffer = new Uint8Array(Math.min(CHUNK, length));
  await file.seek(offset, Deno.SeekMode.Start);
  let left = length;
  while (left > 0) {
    const piece = buffer.subarray(0, Math.min(left, buffer.length));
    await _readFull(file, piece);
    hash.update(piece);
    left -= piece.length;
  }
}

async function _readFull(file: Deno.FsFile, into: Uint8Array): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const got = await file.read(into.subarray(done));
    if (got === null || got === 0) throw new Error("File ended inside a tensor");
    done += got;
  }
}
