// A TF.js layers model behind the serving interface: the engine used when a model has no ONNX
// form (or KASKADE_SERVING_ENGINE=tfjs). Tensors live only inside one `run` call.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, InferenceError } from '../errors.js';
import {
  tensorInfo,
  V2_DATATYPES,
  type HostTensor,
  type ServingModel,
  type TensorDtype,
  type TensorInfo,
} from './types.js';

type TF = typeof tfjs;

/** The dtype a layers model's input takes: int32 when the model says so or an Embedding reads it. */
export function layersInputDtypes(model: tfjs.LayersModel): TensorDtype[] {
  const readByEmbedding = new Set<number>();
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Embedding') continue;
    for (const node of layer.inboundNodes) for (const t of node.inputTensors) readByEmbedding.add(t.id);
  }
  return model.inputs.map((t) => (t.dtype === 'int32' || readByEmbedding.has(t.id) ? 'int32' : 'float32'));
}

function shapeOf(t: tfjs.SymbolicTensor): number[] {
  return t.shape.map((d) => (d === null ? -1 : d));
}

function feedTensor(tf: TF, info: TensorInfo, feed: HostTensor | undefined): tfjs.Tensor {
  if (feed === undefined) throw new BadInputError(`input "${info.name}" is missing`);
  if (feed.dtype !== info.dtype)
    throw new BadInputError(`input "${info.name}" must be ${info.datatype}, got ${V2_DATATYPES[feed.dtype]}`);
  const fits = feed.shape.length === info.shape.length && info.shape.every((d, k) => d < 0 || d === feed.shape[k]);
  if (!fits)
    throw new BadInputError(
      `input "${info.name}" must have shape [${info.shape.join(',')}] (-1: any), got [${feed.shape.join(',')}]`,
    );
  if (!(feed.data instanceof Float32Array || feed.data instanceof Int32Array))
    throw new BadInputError(`input "${info.name}": TF.js takes FP32 or INT32 data`);
  return tf.tensor(feed.data, [...feed.shape], info.dtype === 'int32' ? 'int32' : 'float32');
}

export function tfjsServingModel(tf: TF, model: tfjs.LayersModel): ServingModel {
  const dtypes = layersInputDtypes(model);
  const inputs = model.inputs.map((t, i) =>
    tensorInfo(model.inputNames[i] ?? `input_${i}`, dtypes[i] ?? 'float32', shapeOf(t)),
  );
  const outputs = model.outputs.map((t, i) => tensorInfo(model.outputNames[i] ?? `output_${i}`, 'float32', shapeOf(t)));
  return {
    engine: 'tfjs',
    inputs,
    outputs,
    run: async (feeds) => {
      const unknown = Object.keys(feeds).filter((n) => !inputs.some((i) => i.name === n));
      if (unknown.length > 0)
        throw new BadInputError(
          `unknown input ${unknown.map((n) => `"${n}"`).join(', ')}; the model takes ${inputs.map((i) => `"${i.name}"`).join(', ')}`,
        );
      const ys = tf.tidy(() => {
        const xs = inputs.map((info) => feedTensor(tf, info, feeds[info.name]));
        const y = model.predict(xs.length === 1 ? (xs[0] as tfjs.Tensor) : xs);
        return Array.isArray(y) ? y : [y];
      });
      try {
        const out: Record<string, HostTensor> = {};
        for (const [k, info] of outputs.entries()) {
          const y = ys[k];
          if (y === undefined) throw new InferenceError(`the model gave no output "${info.name}"`);
          out[info.name] = { dtype: 'float32', shape: y.shape, data: await y.data<'float32'>() };
        }
        return out;
      } finally {
        tf.dispose(ys);
      }
    },
    dispose: () => {
      model.dispose();
      return Promise.resolve();
    },
  };
}
