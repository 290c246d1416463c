import { encodeCheckpoint } from "../../fixtures/pt_writer.ts";
import { formatConformance } from "./_conformance.ts";
import { pytorch, PYTORCH_DTYPE_BYTES } from "./pytorch.ts";

formatConformance({
  format: pytorch,
  fileName: "pytorch_model.bin",
  // torch.save's layout: a zip of data.pkl and one stored entry per storage.
  write: (tensors) => encodeCheckpoint("pytorch_model", tensors),
  dtypeName: (dtype) => dtype,
  listedShape: (shape) => shape,
  // The listed tensors are storages: one dimension, their element count.
  expectedBytes: (dtype, shape) => PYTORCH_DTYPE_BYTES[dtype]! * shape[0]!,
  fixture: "pt",
});
