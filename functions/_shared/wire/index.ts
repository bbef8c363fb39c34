// The tensor wire codec: safetensors bytes ↔ typed arrays ↔ TF.js tensors. Every tensor that
// crosses a service boundary or lands in a checkpoint goes through here (see README.md).
export {
  BYTES_PER_ELEMENT,
  DEFAULT_MAX_BYTES,
  DTYPES,
  MAX_HEADER_BYTES,
  decodeTensors,
  elementCount,
  encodeTensorParts,
  encodeTensors,
  type DType,
  type DTypeArrays,
  type DecodeOptions,
  type DecodedTensors,
  type Metadata,
  type WireTensor,
} from './safetensors.js';
export { float16ToFloat32, float32ToFloat16 } from './float16.js';
export { encodeTfTensors, toTfTensors } from './tf.js';
