import { formatConformance, type SuiteTensor } from "./_conformance.ts";
import { encodeSafetensorsHeader, safetensors, SAFETENSORS_DTYPES } from "./safetensors.ts";

/** A safetensors file of `tensors`, written with the header writer the fixtures use. */
function write(tensors: readonly SuiteTensor[]): Uint8Array {
  const { bytes, dataOffset, ranges } = encodeSafetensorsHeader(
    tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
  );
  const file = new Uint8Array(dataOffset + (ranges.at(-1)?.end ?? 0));
  file.set(bytes);
  tensors.forEach((t, i) => file.set(t.data, dataOffset + ranges[i]!.begin));
  return file;
}

formatConformance({
  format: safetensors,
  fileName: "model.safetensors",
  write,
  dtypeName: (dtype) => dtype,
  listedShape: (shape) => shape,
  expectedBytes: (dtype, shape) => SAFETENSORS_DTYPES[dtype]! * shape.reduce((a, b) => a * b, 1),
  fixture: "safetensors",
});
