/**
 * PyTorch checkpoints as `torch.save` writes them: a zip (stored entries)
 * holding `<archive>/data.pkl`, a pickle of the saved object whose tensors
 * name storages by persistent id, and one entry `<archive>/data/<key>` per
 * storage with its raw bytes. The legacy format of torch < 1.6 (pickles one
 * after another, then each storage's element count and bytes) is read too.
 *
 * What a load moves is a storage's bytes, so {@link pytorch} lists each
 * STORAGE as a {@link TensorInfo} (`data/<key>`, the storage's dtype, shape
 * `[numel]`, the byte range of its zip entry), and the checkpoint's tensors
 * as {@link TensorView}s in `views`: name (the key path, `model.layers.0.weight`),
 * dtype, shape, strides, storage and storage offset. Several views may share a
 * storage; every view is checked to lie inside its storage.
 *
 * The pickle is read by the restricted unpickler of `pickle.ts`: nothing but
 * tensors, storages and plain containers is ever built, and any other global
 * is refused with its name. Compressed entries are refused, never inflated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./format.ts";
 * import { pytorch } from "./pytorch.ts";
 * import { encodeCheckpoint } from "../../fixtures/pt_writer.ts";
 *
 * const bytes = encodeCheckpoint("model", [
 *   { name: "w", dtype: "F16", shape: [2, 3], data: new Uint8Array(12).fill(1) },
 * ]);
 * const index = pytorch.parse(bytesSource("model.pt", bytes));
 * assert.deepEqual(index.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength]), [["data/0", "F16", [6], 12]]);
 * assert.deepEqual(index.views?.map((v) => [v.name, v.shape, v.strides]), [["w", [2, 3], [3, 1]]]);
 * ```
 *
 * @module
 */

import { fileError, WeightFileError } from "../util/errors.ts";
import {
  type ByteSource,
  requireTensors,
  type TensorInfo,
  type TensorView,
  type WeightFileIndex,
  type WeightFormat,
} from "./format.ts";
import {
  flattenTensors,
  PickleTruncated,
  type PyStorage,
  type PyTensor,
  type PyValue,
  STORAGE_DTYPES,
  unpickle,
} from "./pickle.ts";
import { readZip, type ZipEntry } from "./zip.ts";

/** The legacy format's first pickle: protocol 2, then the magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_HEAD = [
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
];
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** First bytes read of a legacy file to find its pickles; doubled until they fit. @default 1 MiB */
const LEGACY_FIRST_READ = 1 << 20;
const ZIP_HEAD = [0x50, 0x4b, 0x03, 0x04];

/** Bytes per element of a dtype a storage can have. */
export const PYTORCH_DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(Object.values(STORAGE_DTYPES).map(({ dtype, bytes }) => [dtype, bytes])),
);

/** The PyTorch checkpoint format (`torch.save`). */
export const pytorch: WeightFormat = {
  name: "pytorch",
  extensions: [".pt", ".pth", ".bin", ".ckpt"],
  sniff(head: Uint8Array): boolean {
    return _startsWith(head, ZIP_HEAD) || _startsWith(head, LEGACY_HEAD);
  },
  parse(source: ByteSource): WeightFileIndex {
    const head = source.read(0, Math.min(source.size, LEGACY_HEAD.length));
    if (_startsWith(head, LEGACY_HEAD)) return _parseLegacy(source);
    if (!_startsWith(head, ZIP_HEAD)) {
      throw fileError(
        source.name,
        `not a PyTorch checkpoint: expected a zip (torch.save) or a legacy pickle, found ${
          _hex(head.subarray(0, 4))
        }`,
      );
    }
    return _parseZip(source);
  },
};

function _parseZip(source: ByteSource): WeightFileIndex {
  const file = source.name;
  const fail = (detail: string) => fileError(file, detail);
  const zip = readZip(source);
  const pickles = zip.entries.filter((e) =>
    /^[^/]+\/data\.pkl$/.test(e.name) || e.name === "data.pkl"
  );
  if (pickles.length === 0) {
    throw fail(
      "not a PyTorch checkpoint: the zip has no data.pkl (torch.save writes <archive>/data.pkl)",
    );
  }
  if (pickles.length > 1) {
    throw fail(
      `the zip has ${pickles.length} data.pkl entries: ${
        pickles.map((e) => JSON.stringify(e.name)).join(", ")
      }`,
    );
  }
  const pkl = pickles[0]!;
  const prefix = pkl.name.slice(0, -"data.pkl".length);
  if (pkl.method !== 0) {
    throw fail(
      `${pkl.name} is compressed (${pkl.methodName}): torch.save writes it stored; re-save the checkpoint with torch.save`,
    );
  }
  const byName = new Map(zip.entries.map((e) => [e.name, e]));
  const torchScript = zip.entries.some((e) => e.name.startsWith(`${prefix}code/`));
  let root: PyValue;
  try {
    root = unpickle(source.read(pkl.dataOffset, pkl.size), { file, label: pkl.name }).value;
  } catch (error) {
    if (torchScript && error instanceof WeightFileError && /refusing global/.test(error.message)) {
      throw fail(
        `a TorchScript archive (torch.jit.save), not a torch.save checkpoint: ${
          error.message.slice(error.message.indexOf(": ") + 2)
        }`,
      );
    }
    throw error;
  }
  const { views, storages, scalars } = _views(file, root);
  const tensors: TensorInfo[] = [];
  for (const storage of storages.values()) {
    const name = `${prefix}data/${storage.key}`;
    const entry: ZipEntry | undefined = byName.get(name);
    if (entry === undefined) {
      throw fail(`storage ${JSON.stringify(storage.key)} has no entry ${JSON.stringify(name)}`);
    }
    if (entry.method !== 0) {
      throw fail(
        `storage ${
          JSON.stringify(name)
        } is compressed (${entry.methodName}): only stored entries are loaded, never inflated into memory; re-save it with torch.save`,
      );
    }
    const { dtype, bytes } = STORAGE_DTYPES[storage.storageType]!;
    const expected = storage.numel * bytes;
    if (entry.size !== expected) {
      throw fail(
        `storage ${
          JSON.stringify(name)
        } holds ${entry.size} bytes but ${storage.numel} ${dtype} elements take ${expected}`,
      );
    }
    tensors.push({
      name: `data/${storage.key}`,
      dtype,
      shape: [storage.numel],
      offset: entry.dataOffset,
      byteLength: entry.size,
    });
  }
  tensors.sort((a, b) => a.offset - b.offset);
  const metadata: Record<string, string> = {
    "pytorch.format": "zip",
    "pytorch.archive": prefix.replace(/\/$/, ""),
  };
  const version = byName.get(`${prefix}version`);
  if (version !== undefined && version.method === 0 && version.size <= 16) {
    metadata["pytorch.version"] = new TextDecoder().decode(
      source.read(version.dataOffset, version.size),
    ).trim();
  }
  for (const [key, value] of scalars.slice(0, 100)) metadata[key] = value;
  return requireTensors({
    format: "pytorch",
    path: file,
    size: source.size,
    dataOffset: tensors[0]?.offset ?? 0,
    tensors,
    metadata,
    views: views.map((v) => ({ ...v, storage: `data/${v.storage}` })),
  }, `${pkl.name} and every container in it`);
}

function _parseLegacy(source: ByteSource): WeightFileIndex {
  const file = source.name;
  const fail = (detail: string) => fileError(file, detail);
  let length = Math.min(source.size, LEGACY_FIRST_READ);
  for (;;) {
    const bytes = source.read(0, length);
    const partial = length < source.size;
    try {
      const next = (start: number, label: string) =>
        unpickle(bytes, { file, start, label, partial });
      const magic = next(0, "magic number");
      if (magic.value !== LEGACY_MAGIC) throw fail("legacy checkpoint with a wrong magic number");
      const protocol = next(magic.end, "protocol version");
      if (protocol.value !== LEGACY_PROTOCOL) {
        throw fail(
          `legacy checkpoint of protocol version ${
            String(protocol.value)
          } (expected ${LEGACY_PROTOCOL})`,
        );
      }
      const sysInfo = next(protocol.end, "system info");
      if (_lookup(sysInfo.value, "little_endian") === false) {
        throw fail("big-endian legacy checkpoints are not supported");
      }
      const data = next(sysInfo.end, "data pickle");
      const keys = next(data.end, "storage keys");
      const keyList = _stringList(keys.value, fail);
      const { views, storages, scalars } = _views(file, data.value);
      const listedKeys = new Set(keyList);
      if (listedKeys.size !== keyList.length) throw fail("the storage keys list a storage twice");
      const tensors: TensorInfo[] = [];
      let offset = keys.end;
      for (const key of keyList) {
        const storage = storages.get(key);
        if (storage === undefined) {
          throw fail(`storage keys list ${JSON.stringify(key)}, which no tensor uses`);
        }
        if (offset + 8 > source.size) {
          throw fail(
            `truncated: storage ${
              JSON.stringify(key)
            } starts at byte ${offset} but the file ends at ${source.size}`,
          );
        }
        const countBytes = source.read(offset, 8);
        const count = Number(
          new DataView(countBytes.buffer, countBytes.byteOffset, 8).getBigInt64(0, true),
        );
        const { dtype, bytes: elementBytes } = STORAGE_DTYPES[storage.storageType]!;
        if (count !== storage.numel) {
          throw fail(
            `storage ${
              JSON.stringify(key)
            } holds ${count} elements but its tensors' record says ${storage.numel}`,
          );
        }
        const byteLength = count * elementBytes;
        if (offset + 8 + byteLength > source.size) {
          throw fail(
            `truncated: storage ${JSON.stringify(key)} (${byteLength} bytes at byte ${
              offset + 8
            }) runs past the end of the file (${source.size} bytes)`,
          );
        }
        tensors.push({
          name: `data/${key}`,
          dtype,
          shape: [count],
          offset: offset + 8,
          byteLength,
        });
        offset += 8 + byteLength;
      }
      for (const key of storages.keys()) {
        if (!listedKeys.has(key)) {
          throw fail(`storage ${JSON.stringify(key)} is used but not in the storage keys`);
        }
      }
      const metadata: Record<string, string> = { "pytorch.format": "legacy" };
      for (const [key, value] of scalars.slice(0, 100)) metadata[key] = value;
      return requireTensors({
        format: "pytorch",
        path: file,
        size: source.size,
        dataOffset: keys.end,
        tensors,
        metadata,
        views: views.map((v) => ({ ...v, storage: `data/${v.storage}` })),
      }, "the data pickle of the legacy checkpoint and every container in it");
    } catch (error) {
      if (!(error instanceof PickleTruncated)) throw error;
      length = Math.min(source.size, length * 4);
    }
  }
}

/** The views of every tensor in `root`, and the storages they use, by key. */
function _views(
  file: string,
  root: PyValue,
): { views: TensorView[]; storages: Map<string, PyStorage>; scalars: [string, string][] } {
  const fail = (detail: string) => fileError(file, detail);
  const { tensors, scalars } = flattenTensors(root, fail);
  const storages = new Map<string, PyStorage>();
  const views: TensorView[] = [];
  const names = new Set<string>();
  for (const [name, tensor] of tensors) {
    if (names.has(name)) throw fail(`two tensors are named ${JSON.stringify(name)}`);
    names.add(name);
    const storage = tensor.storage;
    const known = storages.get(storage.key);
    if (known === undefined) storages.set(storage.key, storage);
    else if (known.storageType !== storage.storageType || known.numel !== storage.numel) {
      throw fail(
        `storage ${
          JSON.stringify(storage.key)
        } is named as ${known.storageType} of ${known.numel} and as ${storage.storageType} of ${storage.numel}`,
      );
    }
    _checkView(fail, name, tensor);
    views.push({
      name,
      dtype: STORAGE_DTYPES[storage.storageType]!.dtype,
      shape: tensor.shape,
      strides: tensor.strides,
      storage: storage.key,
      storageOffset: tensor.storageOffset,
      contiguous: isContiguous(tensor.shape, tensor.strides),
    });
  }
  return { views, storages, scalars };
}

/** Throws unless every element of the view lies inside its storage. */
function _checkView(fail: (detail: string) => Error, name: string, tensor: PyTensor): void {
  const { shape, strides, storageOffset, storage } = tensor;
  if (shape.some((d) => d === 0)) return;
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) {
    last += (shape[i]! - 1) * strides[i]!;
    if (!Number.isSafeInteger(last)) break;
  }
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw fail(
      `tensor ${JSON.stringify(name)} (shape [${shape.join(", ")}], strides [${
        strides.join(", ")
      }], offset ${storageOffset}) reaches past its storage ${
        JSON.stringify(storage.key)
      } of ${storage.numel} elements`,
    );
  }
}

/** True when a view of `shape` with `strides` reads its elements in order, without gaps. */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return shape.some((d) => d === 0);
    expected *= shape[i]!;
  }
  return true;
}

function _lookup(value: PyValue, key: string): PyValue | undefined {
  if (value !== null && typeof value === "object" && "kind" in value && value.kind === "dict") {
    return value.entries.find(([k]) => k === key)?.[1];
  }
  return undefined;
}

function _stringList(value: PyValue, fail: (d: string) => Error): string[] {
  if (value !== null && typeof value === "object" && "kind" in value && value.kind === "list") {
    if (value.items.every((v) => typeof v === "string")) return value.items as string[];
  }
  throw fail("legacy checkpoint: the storage keys are not a list of strings");
}

function _startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function _hex(bytes: Uint8Array): string {
  return `0x${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
