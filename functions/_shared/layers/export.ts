// A layer chain as one TF.js layers model with the same math (ops.ts), so a trained pipeline
// can be saved in the layers format and served by the predictor, or trained in process for
// comparison. Layer k's TF.js layers are named `l<k>_<what>`.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import { parameterNames, stateNames, type Tensors } from './ops.js';
import { chainShapes, type LayerSpec } from './spec.js';

type TF = typeof tfjs;

export interface ChainModelOptions {
  /** A first Rescaling layer (`x · scale + offset`), e.g. [0, 1] served images → [-1, 1] trained ones. */
  readonly rescale?: { readonly scale: number; readonly offset: number };
  /** End with a softmax, so the served model answers probabilities instead of logits. */
  readonly softmax?: boolean;
}

function convLayers(
  tf: TF,
  spec: Extract<LayerSpec, { kind: 'conv' }>,
  k: number,
  inputShape: number[] | undefined,
): tfjs.layers.Layer[] {
  const c = spec.config;
  const first = inputShape === undefined ? {} : { inputShape };
  const out: tfjs.layers.Layer[] = [];
  let rest = first;
  if (typeof c.padding === 'number' && c.padding > 0) {
    out.push(tf.layers.zeroPadding2d({ name: `l${k}_pad`, padding: c.padding, ...first }));
    rest = {};
  }
  out.push(
    tf.layers.conv2d({
      name: `l${k}_conv`,
      filters: c.out_channels,
      kernelSize: c.kernel_size,
      strides: c.stride,
      padding: c.padding === 'same' ? 'same' : 'valid',
      activation: c.activation === 'relu' ? 'relu' : 'linear',
      ...rest,
    }),
  );
  if (c.pool_size > 1)
    out.push(
      tf.layers.maxPooling2d({
        name: `l${k}_pool`,
        poolSize: c.pool_size,
        strides: c.pool_stride ?? c.pool_size,
        padding: 'valid',
      }),
    );
  return out;
}

/** The Keras-style layers of chain entry k (`inputShape` only for the model's first layer). */
function layersOf(
  tf: TF,
  spec: LayerSpec,
  k: number,
  input: number[],
  inputShape: number[] | undefined,
): tfjs.layers.Layer[] {
  const first = inputShape === undefined ? {} : { inputShape };
  switch (spec.kind) {
    case 'conv':
      return convLayers(tf, spec, k, inputShape);
    case 'fc': {
      const dense = tf.layers.dense({
        name: `l${k}_dense`,
        units: spec.config.out_features,
        activation: spec.config.activation === 'relu' ? 'relu' : 'linear',
        ...(input.length > 1 ? {} : first),
      });
      return input.length > 1 ? [tf.layers.flatten({ name: `l${k}_flatten`, ...first }), dense] : [dense];
    }
    case 'flatten':
      return [tf.layers.flatten({ name: `l${k}_flatten`, ...first })];
    case 'batchnorm':
      return [
        tf.layers.batchNormalization({
          name: `l${k}_bn`,
          axis: -1,
          momentum: 1 - spec.config.momentum,
          epsilon: spec.config.eps,
          ...first,
        }),
      ];
    case 'dropout':
      return [tf.layers.dropout({ name: `l${k}_dropout`, rate: spec.config.p, ...first })];
  }
}

/** The chain as a Sequential model (not compiled) for examples of `inputShape`. */
export function buildChainModel(
  tf: TF,
  specs: readonly LayerSpec[],
  inputShape: readonly number[],
  options: ChainModelOptions = {},
): tfjs.Sequential {
  const shapes = [[...inputShape], ...chainShapes(specs, inputShape)];
  const model = tf.sequential({ name: 'layer_chain' });
  let needsInputShape = true;
  if (options.rescale !== undefined) {
    model.add(
      tf.layers.rescaling({
        name: 'rescale',
        scale: options.rescale.scale,
        offset: options.rescale.offset,
        inputShape: [...inputShape],
      }),
    );
    needsInputShape = false;
  }
  specs.forEach((spec, k) => {
    for (const layer of layersOf(tf, spec, k, shapes[k] ?? [], needsInputShape ? [...inputShape] : undefined)) {
      model.add(layer);
      needsInputShape = false;
    }
  });
  if (options.softmax === true) model.add(tf.layers.activation({ name: 'softmax', activation: 'softmax' }));
  return model;
}

const KERAS_LAYER = { conv: 'conv', fc: 'dense', batchnorm: 'bn' } as const;

/** Puts each chain entry's parameters (and batch norm's running statistics) into the model. */
export function setChainWeights(
  model: tfjs.LayersModel,
  specs: readonly LayerSpec[],
  weights: readonly Tensors[],
): void {
  specs.forEach((spec, k) => {
    if (spec.kind !== 'conv' && spec.kind !== 'fc' && spec.kind !== 'batchnorm') return;
    const values = weights[k] ?? {};
    const names = [...parameterNames(spec), ...stateNames(spec)];
    const tensors = names.map((n) => {
      const t = values[n];
      if (t === undefined) throw new BadInputError(`layer ${k}: no ${n} to export`);
      return t;
    });
    model.getLayer(`l${k}_${KERAS_LAYER[spec.kind]}`).setWeights(tensors);
  });
}

/** Each chain entry's parameters and state, read back from the model (clones; the caller disposes). */
export function getChainWeights(model: tfjs.LayersModel, specs: readonly LayerSpec[]): Tensors[] {
  return specs.map((spec, k) => {
    if (spec.kind !== 'conv' && spec.kind !== 'fc' && spec.kind !== 'batchnorm') return {};
    const names = [...parameterNames(spec), ...stateNames(spec)];
    const values = model.getLayer(`l${k}_${KERAS_LAYER[spec.kind]}`).getWeights();
    const out: Tensors = {};
    names.forEach((n, i) => {
      const t = values[i];
      if (t !== undefined) out[n] = t.clone();
    });
    return out;
  });
}
