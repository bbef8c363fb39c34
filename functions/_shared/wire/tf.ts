// Bridges between TF.js tensors and the safetensors codec: what services call to put tensors on
// the wire and turn received bytes back into tensors.
import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import { float16ToFloat32 } from './float16.js';
import { encodeTensors, type DecodedTensors, type Metadata, type WireTensor } from './safetensors.js';

/** Reads each tensor's values (`tensor.data()`, no blocking sync) and encodes them. */
export async function encodeTfTensors(
  tensors: Readonly<Record<string, tf.Tensor>>,
  metadata?: Metadata,
): Promise<Uint8Array<ArrayBuffer>> {
  const entries = Object.entries(tensors);
  const values = await Promise.all(entries.map(([name, tensor]) => toWireTensor(name, tensor)));
  const wire: Record<string, WireTensor> = Object.create(null) as Record<string, WireTensor>;
  entries.forEach(([name], i) => {
    const value = values[i];
    if (value !== undefined) wire[name] = value;
  });
  return encodeTensors(wire, metadata);
}

async function toWireTensor(name: string, tensor: tf.Tensor): Promise<WireTensor> {
  const shape = [...tensor.shape];
  switch (tensor.dtype) {
    case 'float32':
      return { dtype: 'F32', shape, data: await tensor.data<'float32'>() };
    case 'int32':
      return { dtype: 'I32', shape, data: await tensor.data<'int32'>() };
    case 'bool':
      return { dtype: 'BOOL', shape, data: await tensor.data<'bool'>() };
    default:
      throw new BadInputError(`tensor "${name}": dtype ${tensor.dtype} cannot go on the wire (float32, int32 or bool)`);
  }
}

/**
 * Makes tf tensors from decoded wire tensors: F32 → float32, F16 → float32 (widened), I32 and
 * U8 → int32, BOOL → bool. The caller owns (and disposes) the returned tensors. On the CPU
 * backend a float32/int32/bool tensor may share memory with the decoded bytes.
 */
export function toTfTensors(decoded: Pick<DecodedTensors, 'tensors'>): Record<string, tf.Tensor> {
  const source = decoded.tensors;
  const out: Record<string, tf.Tensor> = Object.create(null) as Record<string, tf.Tensor>;
  try {
    for (const name of Object.keys(source)) {
      const wire = source[name];
      if (wire !== undefined) out[name] = toTfTensor(wire);
    }
  } catch (e) {
    for (const tensor of Object.values(out)) tensor.dispose();
    throw e;
  }
  return out;
}

function toTfTensor(wire: WireTensor): tf.Tensor {
  switch (wire.dtype) {
    case 'F32':
      return tf.tensor(wire.data, wire.shape, 'float32');
    case 'F16':
      return tf.tensor(float16ToFloat32(wire.data), wire.shape, 'float32');
    case 'I32':
      return tf.tensor(wire.data, wire.shape, 'int32');
    case 'U8':
      return tf.tensor(Int32Array.from(wire.data), wire.shape, 'int32');
    case 'BOOL':
      return tf.tensor(wire.data, wire.shape, 'bool');
  }
}
