/**
 * A {@link ByteSource} that counts the bytes read through it: the header
 * reads of a load, for its `bytesRead`.
 *
 * @module
 */

import type { ByteSource } from "../formats/format.ts";

/** `source`, counting the bytes parsing asked for. */
export function countedSource(source: ByteSource): ByteSource & { readonly bytesRead: number } {
  let bytesRead = 0;
  return {
    name: source.name,
    size: source.size,
    read(offset, length) {
      const bytes = source.read(offset, length);
      bytesRead += bytes.length;
      return bytes;
    },
    get bytesRead() {
      return bytesRead;
    },
  };
}
