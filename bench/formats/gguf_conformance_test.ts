import { ggufTensorName } from "../../fixtures/format_writers.ts";
import { formatConformance, type SuiteTensor } from "./_conformance.ts";
import { ggmlByteLength } from "./ggml.ts";
import { encodeGguf, gguf } from "./gguf.ts";

/** A GGUF file of `tensors` (dimensions innermost first), written with the header writer the fixtures use. */
function write(tensors: readonly SuiteTensor[]): Uint8Array {
  const { bytes, dataOffset, ranges } = encodeGguf({
    metadata: [["general.architecture", { type: "STRING", value: "llama" }]],
    tensors: tensors.map((t) => ({ name: t.name, type: t.dtype, ne: [...t.shape].reverse() })),
  });
  const file = new Uint8Array(dataOffset + (ranges.at(-1)?.end ?? 0));
  file.set(bytes);
  tensors.forEach((t, i) => file.set(t.data, dataOffset + ranges[i]!.begin));
  return file;
}

formatConformance({
  format: gguf,
  fileName: "model.gguf",
  write,
  dtypeName: (dtype) => dtype,
  listedShape: (shape) => [...shape].reverse(),
  expectedBytes: (dtype, shape) => ggmlByteLength(dtype, shape),
  fixture: "gguf",
  fixtureName: ggufTensorName,
});
