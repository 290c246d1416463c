/**
 * The load shared by the strategies that stream each file's data through a
 * bounded ring of staging buffers (`direct`, `parallel`): parse the header
 * with positioned reads, then read the data span in chunks with several in
 * flight, copying each chunk to the target as it arrives. Staging memory is
 * `depth × chunkSize` whatever the model's size.
 *
 * @module
 */

import { NativeFile } from "../ffi/native_file.ts";
import { NativeMemory } from "../ffi/native_memory.ts";
import { readChunked } from "../io/chunked_read.ts";
import { directFileSource, nativeFileSource } from "../io/sources.ts";
import { countedSource } from "../io/counted_source.ts";
import type { DeviceBuffer } from "../core/target.ts";
import { type Strategy } from "./strategy.ts";
import { dataSpan, type LoadContext, type LoadResult, type Placement } from "../core/load.ts";

/** How a streamed strategy reads. */
export interface StreamedOptions {
  readonly chunkSize: number;
  readonly depth: number;
  /** Open with O_DIRECT (`openFlags`) and align every read. */
  readonly direct: boolean;
  /** Extra open(2) flags, such as O_DIRECT. */
  readonly openFlags: number;
}

/** A strategy that streams every file through `depth` buffers of `chunkSize` bytes. */
export function streamedStrategy(name: string, options: StreamedOptions): Strategy {
  return {
    name,
    async load(context: LoadContext): Promise<LoadResult> {
      const { weights, target, recorder } = context;
      const placements: Placement[] = [];
      const buffers: DeviceBuffer[] = [];
      let bytesRead = 0;
      const lanes = Math.max(1, options.depth);
      const staging = recorder.time(
        "alloc",
        () => Array.from({ length: lanes }, () => NativeMemory.allocate(options.chunkSize)),
        `${lanes} × ${options.chunkSize} B staging`,
      );
      try {
        for (const { path, format } of weights.files) {
          using file = recorder.time("open", () => NativeFile.open(path, options.openFlags), path);
          const source = countedSource(
            options.direct ? directFileSource(file) : nativeFileSource(file),
          );
          const index = recorder.time("parse", () => format.parse(source), path);
          bytesRead += source.bytesRead;
          const { begin, end } = dataSpan(index.tensors);
          const buffer = recorder.time(
            "alloc",
            () => target.allocate(Math.max(end - begin, 1)),
            path,
          );
          buffers.push(buffer);
          bytesRead += await readChunked(file, begin, end, {
            chunkSize: options.chunkSize,
            depth: lanes,
            direct: options.direct,
            buffers: staging,
            recorder,
            onChunk: (chunk) =>
              recorder.timeAsync(
                target.transferPhase,
                () => target.copyIn(buffer, chunk.fileOffset - begin, chunk.pointer, chunk.length),
                path,
              ),
          });
          await target.synchronize();
          for (const tensor of index.tensors) {
            placements.push({ file: path, tensor, buffer, offset: tensor.offset - begin });
          }
          recorder.time("free", () => file.close(), path);
        }
      } finally {
        recorder.time("free", () => {
          for (const memory of staging) memory.close();
        });
      }
      return { placements, buffers, bytesRead };
    },
  };
}
