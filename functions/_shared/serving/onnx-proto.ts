// The ONNX protobuf schema (onnx.proto, as compiled by the onnx-proto package on protobufjs):
// the only way Kaskade reads or writes the bytes of a `.onnx` file.
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';

/** The operator set the exporter writes (Softmax on the last axis, Pad with tensor pads). */
export const OPSET = 13;
/** The IR version that goes with opset 13. */
export const IR_VERSION = 7;
