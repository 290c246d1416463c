/**
 * What every weight format parser provides: where each tensor's bytes are in
 * a file. A format only tells where the bytes are; every strategy can then
 * load every format.
 *
 * Parsers read through a {@link ByteSource}, so the same parser works on a
 * file read with `pread`, a whole file already in memory, or a mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 *
 * const source = bytesSource("demo.bin", new Uint8Array([1, 2, 3, 4]));
 * assert.ok(source.read(1, 2).join() === "2,3");
 * ```
 *
 * @module
 */

import { fileError } from "../util/errors.ts";

/** One tensor: its name, element type, shape, and where its bytes lie in its file. */
export interface TensorInfo {
  /** The tensor's name, as the file spells it. */
  readonly name: string;
  /** The element type as the format names it (`F16`, `BF16`, `Q4_K`, …). */
  readonly dtype: string;
  /** The shape; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Byte offset of the tensor's first byte from the start of the file. */
  readonly offset: number;
  /** Number of bytes the tensor occupies. */
  readonly byteLength: number;
  /** Where in the model the tensor was found, for formats with more than one place (ONNX). */
  readonly origin?: TensorOrigin;
}

/**
 * Where an ONNX model keeps a tensor: a graph's `initializer` or
 * `sparse_initializer` (a sparse tensor is two tensors, its values and its
 * indices), or the value of a `Constant` node; in the main graph or in a
 * subgraph (`If`, `Loop`, `Scan` bodies, at any depth), a function or a
 * training graph.
 */
export interface TensorOrigin {
  /** What holds the tensor. */
  readonly kind: "initializer" | "sparse_initializer" | "Constant";
  /** For a sparse tensor, which of its two tensors this is. */
  readonly part?: "values" | "indices";
  /**
   * The path of the graph that holds it, `""` for the main graph: each step
   * is a node (its name, else `op_type#index`) and the attribute holding the
   * subgraph, as in `Loop_2.body/If#0.then_branch`; or `function <domain>.<name>`,
   * or `training_info[i].initialization`.
   */
  readonly graph: string;
  /** The name the file gives the tensor (a `Constant` node's output), before any qualification. */
  readonly name: string;
}

/** Tensors a reader saw but does not list, and why (a STRING tensor, a form it cannot load). */
export interface SkippedTensors {
  /** Why, as a phrase: `STRING tensors (text, not numbers)`. */
  readonly reason: string;
  readonly count: number;
  /** The first few names. */
  readonly names: readonly string[];
}

/**
 * A logical tensor that is a view into a stored tensor (a PyTorch storage):
 * element `i` of the view, with index `(i0, i1, …)`, is element
 * `storageOffset + Σ ik·strides[k]` of the storage named `storage`.
 */
export interface TensorView {
  /** The tensor's name: its key path in the checkpoint (`model.layers.0.weight`). */
  readonly name: string;
  /** The element type (`F16`, `BF16`, …), the storage's. */
  readonly dtype: string;
  /** The shape; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Elements to step in the storage per step along each dimension. */
  readonly strides: readonly number[];
  /** The {@link TensorInfo.name} of the storage the view reads. */
  readonly storage: string;
  /** The element of the storage where the view starts. */
  readonly storageOffset: number;
  /** True when the view's elements are the storage's, in order, without gaps. */
  readonly contiguous: boolean;
}

/**
 * A tensor whose bytes live in another file, named relative to this one (ONNX
 * external data). The file is opened and checked by `openWeights`.
 */
export interface ExternalTensor {
  /** The tensor's name. */
  readonly name: string;
  /** The element type as the format names it. */
  readonly dtype: string;
  /** The shape. */
  readonly shape: readonly number[];
  /** The other file, as the format spells it, relative to this file's folder. */
  readonly location: string;
  /** Byte offset in the other file. */
  readonly offset: number;
  /** Number of bytes. */
  readonly byteLength: number;
  /** Where in the model the tensor was found. */
  readonly origin?: TensorOrigin;
}

/** A parsed weight file: its tensors and where its data section starts. */
export interface WeightFileIndex {
  /** The format's name (`safetensors`, …). */
  readonly format: string;
  /** The file's path as given. */
  readonly path: string;
  /** The file's size in bytes. */
  readonly size: number;
  /** Offset of the first byte after the header. */
  readonly dataOffset: number;
  /** The tensors, in the order of their offsets. */
  readonly tensors: readonly TensorInfo[];
  /** Free-form string metadata the file carries. */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The logical tensors, where they are views into the stored `tensors`
   * (PyTorch checkpoints: `tensors` are the storages, what a load moves).
   */
  readonly views?: readonly TensorView[];
  /** Tensors whose bytes are in other files (ONNX external data). */
  readonly external?: readonly ExternalTensor[];
  /** What the reader saw but does not list; absent when it skipped nothing. */
  readonly skipped?: readonly SkippedTensors[];
}

/** Random-access bytes: a file read with pread, a buffer, a mapping. */
export interface ByteSource {
  /** The file name used in error messages. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes at `offset` (a view where the bytes are already in
   * memory). Throws a {@link WeightFileError} when the range is past the end.
   */
  read(offset: number, length: number): Uint8Array;
}

/** One weight file format. */
export interface WeightFormat {
  /** Short name, used in profiles and messages. */
  readonly name: string;
  /**
   * File name endings of the format (`.safetensors`). A file whose first bytes
   * match no format is still parsed by the format its name claims, so the
   * error says what is wrong with it.
   */
  readonly extensions: readonly string[];
  /** True when the first bytes of a file (up to 64, fewer for short files) look like this format. */
  sniff(head: Uint8Array): boolean;
  /**
   * Parses the file's index; throws {@link WeightFileError} naming the file on
   * malformed input, and on a file in which it finds no tensors at all (see
   * {@link requireTensors}).
   */
  parse(source: ByteSource): WeightFileIndex;
}

/**
 * Returns `index`, or throws the {@link WeightFileError} for a weight file
 * that holds no tensors: a load of it would time nothing. `searched` says
 * where the reader looked (`the JSON header`), so the user knows what was
 * missing. Every format's `parse` ends with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requireTensors } from "./format.ts";
 *
 * const empty = { format: "x", path: "m.x", size: 8, dataOffset: 8, tensors: [], metadata: {} };
 * assert.throws(
 *   () => requireTensors(empty, "the header"),
 *   /Cannot read "m\.x": no tensors: searched the header/,
 * );
 * ```
 */
export function requireTensors(index: WeightFileIndex, searched: string): WeightFileIndex {
  const count = index.tensors.length + (index.external?.length ?? 0) + (index.views?.length ?? 0);
  if (count > 0) return index;
  const skipped = (index.skipped ?? []).map((s) => `${s.count} ${s.reason}`);
  throw fileError(
    index.path,
    `no tensors: searched ${searched}${
      skipped.length === 0 ? "" : ` (skipped ${skipped.join(", ")})`
    }`,
  );
}

/** A {@link ByteSource} over bytes already in memory. */
export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A {@link ByteSource} reading an open file with positioned reads. */
export function fileSource(name: string, file: Deno.FsFile, size: number): ByteSource {
  return {
    name,
    size,
    read(offset, length) {
      checkRange(name, size, offset, length);
      const bytes = new Uint8Array(length);
      file.seekSync(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < length) {
        const got = file.readSync(bytes.subarray(done));
        if (got === null || got === 0) {
          throw fileError(
            name,
            `file ended at ${offset + done}, expected ${length - done} more bytes`,
          );
        }
        done += got;
      }
      return bytes;
    },
  };
}

/** Throws the {@link WeightFileError} for a read of `length` at `offset` past `size`. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
    offset + length > size
  ) {
    throw fileError(
      name,
      `truncated: needs bytes ${offset}..${offset + length} but the file has ${size}`,
    );
  }
}
