import { encodeOnnxGraphModel, type OnnxTensor } from "../../fixtures/onnx_writer.ts";
import { formatConformance, type SuiteDType, type SuiteTensor } from "./_conformance.ts";
import { onnx, ONNX_DTYPES } from "./onnx.ts";

const ONNX_NAMES: Record<SuiteDType, string> = { F32: "FLOAT", F16: "FLOAT16" };

/**
 * An ONNX model of `tensors` in three of the places exporters put weights: the
 * first as a Constant node's value, the second as an initializer of a Loop's
 * body, the rest as initializers of the main graph.
 */
function write(tensors: readonly SuiteTensor[]): Uint8Array {
  const onnxTensor = (t: SuiteTensor): OnnxTensor => ({
    name: t.name,
    dtype: ONNX_NAMES[t.dtype],
    shape: t.shape,
    data: t.data,
  });
  const [constant, nested, ...rest] = tensors;
  return encodeOnnxGraphModel({
    initializers: rest.map(onnxTensor),
    nodes: [
      ...(constant === undefined ? [] : [{
        opType: "Constant",
        outputs: [constant.name],
        attributes: [{ name: "value", tensor: { ...onnxTensor(constant), name: "" } }],
      }]),
      {
        opType: "Loop",
        attributes: [{
          name: "body",
          graph: { initializers: nested === undefined ? [] : [onnxTensor(nested)] },
        }],
      },
    ],
  });
}

formatConformance({
  format: onnx,
  fileName: "model.onnx",
  write,
  dtypeName: (dtype) => ONNX_NAMES[dtype],
  listedShape: (shape) => shape,
  expectedBytes(dtype, shape) {
    const type = Object.values(ONNX_DTYPES).find((t) => t.name === dtype);
    return type === undefined
      ? undefined
      : Math.ceil(shape.reduce((a, b) => a * b, 1) * type.bits / 8);
  },
  fixture: "onnx",
});
