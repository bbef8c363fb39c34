// ONNX forms of the feed-forward TF.js layers: convolution, dense, batch norm, pooling, global
// pooling, padding, flatten, merges, activations, embedding, and the inference no-ops.
import {
  activation,
  bool,
  num,
  one,
  outShape,
  pair,
  refuse,
  str,
  toNchw,
  toPlain,
  transposeHost,
  weight,
  type LayerContext,
  type LayerConverter,
  type Value,
} from './export-context.js';

function channelsLast(ctx: LayerContext): void {
  const format = ctx.config.dataFormat;
  if (format !== undefined && format !== null && format !== 'channelsLast')
    refuse(ctx, `dataFormat ${JSON.stringify(format)} is not supported`);
}

/** Explicit ONNX pads [top, left, bottom, right] for TF's "same"/"valid" on a known input size. */
function pads(
  ctx: LayerContext,
  input: Value,
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number],
): number[] {
  if (str(ctx, 'padding', 'valid') === 'valid') return [0, 0, 0, 0];
  if (str(ctx, 'padding') !== 'same') refuse(ctx, `padding "${str(ctx, 'padding')}" is not supported`);
  const before: number[] = [];
  const after: number[] = [];
  for (let k = 0; k < 2; k++) {
    const size = input.shape[k + 1] ?? -1;
    if (size < 0) refuse(ctx, '"same" padding needs a known spatial size');
    const s = strides[k] ?? 1;
    const effective = ((kernel[k] ?? 1) - 1) * (dilation[k] ?? 1) + 1;
    const total = Math.max((Math.ceil(size / s) - 1) * s + effective - size, 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [...before, ...after];
}

const conv2d: LayerConverter = (ctx, inputs) => {
  channelsLast(ctx);
  const { g } = ctx;
  const x = toNchw(g, one(ctx, inputs));
  if (x.shape.length !== 4) refuse(ctx, `expects a rank-4 input, got rank ${x.shape.length}`);
  const kernel = weight(ctx, 0);
  const [kh, kw] = [kernel.shape[0] ?? 1, kernel.shape[1] ?? 1];
  const strides = pair(ctx, 'strides', [1, 1]);
  const dilation = pair(ctx, 'dilationRate', [1, 1]);
  const w = transposeHost(kernel, [3, 2, 0, 1]);
  const feeds = [x.name, g.floats(`${ctx.name}_kernel`, w.data, w.shape)];
  if (bool(ctx, 'useBias', true)) feeds.push(g.floats(`${ctx.name}_bias`, weight(ctx, 1).data, weight(ctx, 1).shape));
  const y = g.node('Conv', feeds, ctx.name, {
    kernel_shape: [kh, kw],
    strides,
    dilations: dilation,
    pads: pads(ctx, x, [kh, kw], strides, dilation),
    group: 1,
  });
  return [
    activation(ctx, { name: y, shape: outShape(ctx), nchw: true, dtype: 'float32' }, str(ctx, 'activation', 'linear')),
  ];
};

/** A depthwise convolution is a grouped Conv (one group per input channel): TF's kernel
 *  [kh, kw, C, multiplier] becomes ONNX's [C × multiplier, 1, kh, kw], in the same channel order. */
const depthwiseConv2d: LayerConverter = (ctx, inputs) => {
  channelsLast(ctx);
  const { g } = ctx;
  const x = toNchw(g, one(ctx, inputs));
  if (x.shape.length !== 4) refuse(ctx, `expects a rank-4 input, got rank ${x.shape.length}`);
  const kernel = weight(ctx, 0);
  const [kh, kw, channels, multiplier] = [
    kernel.shape[0] ?? 1,
    kernel.shape[1] ?? 1,
    kernel.shape[2] ?? 1,
    kernel.shape[3] ?? 1,
  ];
  const strides = pair(ctx, 'strides', [1, 1]);
  const dilation = pair(ctx, 'dilationRate', [1, 1]);
  const w = transposeHost(kernel, [2, 3, 0, 1]);
  const feeds = [x.name, g.floats(`${ctx.name}_kernel`, w.data, [channels * multiplier, 1, kh, kw])];
  if (bool(ctx, 'useBias', true)) feeds.push(g.floats(`${ctx.name}_bias`, weight(ctx, 1).data, weight(ctx, 1).shape));
  const y = g.node('Conv', feeds, ctx.name, {
    kernel_shape: [kh, kw],
    strides,
    dilations: dilation,
    pads: pads(ctx, x, [kh, kw], strides, dilation),
    group: channels,
  });
  return [
    activation(ctx, { name: y, shape: outShape(ctx), nchw: true, dtype: 'float32' }, str(ctx, 'activation', 'linear')),
  ];
};

const dense: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  const x = toPlain(g, one(ctx, inputs));
  const kernel = weight(ctx, 0);
  const k = g.floats(`${ctx.name}_kernel`, kernel.data, kernel.shape);
  const useBias = bool(ctx, 'useBias', true);
  const bias = useBias ? g.floats(`${ctx.name}_bias`, weight(ctx, 1).data, weight(ctx, 1).shape) : undefined;
  let y: string;
  if (x.shape.length === 2) {
    y = g.node('Gemm', bias === undefined ? [x.name, k] : [x.name, k, bias], ctx.name);
  } else {
    y = g.node('MatMul', [x.name, k], ctx.name);
    if (bias !== undefined) y = g.node('Add', [y, bias], `${ctx.name}_bias_add`);
  }
  return [
    activation(ctx, { name: y, shape: outShape(ctx), nchw: false, dtype: 'float32' }, str(ctx, 'activation', 'linear')),
  ];
};

const batchNormalization: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  const x = one(ctx, inputs);
  const rank = x.shape.length;
  const axis = num(ctx, 'axis', -1);
  if (axis !== -1 && axis !== rank - 1)
    refuse(ctx, `normalizes axis ${axis}; only the channel (last) axis is supported`);
  const center = bool(ctx, 'center', true);
  const scale = bool(ctx, 'scale', true);
  let k = 0;
  const gamma = scale ? weight(ctx, k++).data : undefined;
  const beta = center ? weight(ctx, k++).data : undefined;
  const mean = weight(ctx, k++).data;
  const variance = weight(ctx, k).data;
  const epsilon = num(ctx, 'epsilon', 1e-3);
  const channels = mean.length;
  const ones = new Float32Array(channels).fill(1);
  const zeros = new Float32Array(channels);
  if (rank === 4) {
    const v = toNchw(g, x);
    const y = g.node(
      'BatchNormalization',
      [
        v.name,
        g.floats(`${ctx.name}_gamma`, gamma ?? ones, [channels]),
        g.floats(`${ctx.name}_beta`, beta ?? zeros, [channels]),
        g.floats(`${ctx.name}_mean`, mean, [channels]),
        g.floats(`${ctx.name}_variance`, variance, [channels]),
      ],
      ctx.name,
      { epsilon: { float: epsilon } },
    );
    return [{ ...v, name: y }];
  }
  // Any other rank: one multiply and one add over the last axis.
  const mul = new Float32Array(channels);
  const add = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    mul[c] = (gamma?.[c] ?? 1) / Math.sqrt((variance[c] ?? 0) + epsilon);
    add[c] = (beta?.[c] ?? 0) - (mean[c] ?? 0) * (mul[c] ?? 0);
  }
  const scaled = g.node('Mul', [x.name, g.floats(`${ctx.name}_scale`, mul, [channels])], `${ctx.name}_scale`);
  return [{ ...x, name: g.node('Add', [scaled, g.floats(`${ctx.name}_shift`, add, [channels])], ctx.name) }];
};

function pool2d(op: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (ctx, inputs) => {
    channelsLast(ctx);
    const { g } = ctx;
    const x = toNchw(g, one(ctx, inputs));
    const size = pair(ctx, 'poolSize', [2, 2]);
    const strides = pair(ctx, 'strides', size);
    const attrs = { kernel_shape: size, strides, pads: pads(ctx, x, size, strides, [1, 1]) };
    // TF's average over "same" padding counts only real elements (ONNX's count_include_pad = 0).
    return [{ ...x, name: g.node(op, [x.name], ctx.name, attrs), shape: outShape(ctx) }];
  };
}

function globalPool2d(op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (ctx, inputs) => {
    channelsLast(ctx);
    const { g } = ctx;
    const x = toNchw(g, one(ctx, inputs));
    if (bool(ctx, 'keepDims', false)) refuse(ctx, 'keepDims is not supported');
    const pooled = g.node(op, [x.name], `${ctx.name}_pool`);
    return [
      { name: g.node('Flatten', [pooled], ctx.name, { axis: 1 }), shape: outShape(ctx), nchw: false, dtype: 'float32' },
    ];
  };
}

function globalPool1d(op: 'ReduceMean' | 'ReduceMax'): LayerConverter {
  return (ctx, inputs) => {
    const x = toPlain(ctx.g, one(ctx, inputs));
    if (x.shape.length !== 3) refuse(ctx, `expects a rank-3 input, got rank ${x.shape.length}`);
    return [
      {
        name: ctx.g.node(op, [x.name], ctx.name, { axes: [1], keepdims: 0 }),
        shape: outShape(ctx),
        nchw: false,
        dtype: 'float32',
      },
    ];
  };
}

const zeroPadding2d: LayerConverter = (ctx, inputs) => {
  channelsLast(ctx);
  const { g } = ctx;
  const x = toNchw(g, one(ctx, inputs));
  const p = ctx.config.padding;
  let rows: [number, number];
  let cols: [number, number];
  if (typeof p === 'number')
    [rows, cols] = [
      [p, p],
      [p, p],
    ];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number'))
    [rows, cols] = [
      [p[0] as number, p[0] as number],
      [p[1] as number, p[1] as number],
    ];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2))
    [rows, cols] = [p[0] as [number, number], p[1] as [number, number]];
  else refuse(ctx, 'padding is not a number, a pair or a pair of pairs');
  const amounts = g.int64s(`${ctx.name}_pads`, [0, 0, rows[0], cols[0], 0, 0, rows[1], cols[1]]);
  return [{ ...x, name: g.node('Pad', [x.name, amounts], ctx.name, { mode: 'constant' }), shape: outShape(ctx) }];
};

const flatten: LayerConverter = (ctx, inputs) => {
  const x = toPlain(ctx.g, one(ctx, inputs));
  return [{ ...x, name: ctx.g.node('Flatten', [x.name], ctx.name, { axis: 1 }), shape: outShape(ctx) }];
};

const reshape: LayerConverter = (ctx, inputs) => {
  const x = toPlain(ctx.g, one(ctx, inputs));
  const target = ctx.config.targetShape;
  if (!Array.isArray(target) || !target.every((d) => typeof d === 'number'))
    refuse(ctx, 'targetShape is not a list of numbers');
  const shape = ctx.g.int64s(`${ctx.name}_shape`, [0, ...target]);
  return [{ ...x, name: ctx.g.node('Reshape', [x.name, shape], ctx.name), shape: outShape(ctx) }];
};

/** Merges of same-shape inputs: every input in one layout (channels-first if all are). */
function merge(op: 'Sum' | 'Mul' | 'Mean' | 'Max' | 'Min' | 'Sub'): LayerConverter {
  return (ctx, inputs) => {
    if (inputs.length < 2) refuse(ctx, `expects at least two inputs, got ${inputs.length}`);
    if (op === 'Sub' && inputs.length !== 2) refuse(ctx, 'subtract takes exactly two inputs');
    const allNchw = inputs.every((v) => v.nchw);
    const aligned = inputs.map((v) => (allNchw ? v : toPlain(ctx.g, v)));
    const first = aligned[0] as Value;
    if (op === 'Mul') {
      let acc = first.name;
      for (const v of aligned.slice(1)) acc = ctx.g.node('Mul', [acc, v.name], ctx.name);
      return [{ ...first, name: acc, shape: outShape(ctx) }];
    }
    return [
      {
        ...first,
        name: ctx.g.node(
          op,
          aligned.map((v) => v.name),
          ctx.name,
        ),
        shape: outShape(ctx),
      },
    ];
  };
}

const concatenate: LayerConverter = (ctx, inputs) => {
  const allNchw = inputs.every((v) => v.nchw);
  const aligned = inputs.map((v) => (allNchw ? v : toPlain(ctx.g, v)));
  const first = aligned[0];
  if (first === undefined) refuse(ctx, 'has no inputs');
  const rank = first.shape.length;
  const tfAxis = (num(ctx, 'axis', -1) + rank) % rank;
  const axis = allNchw ? ([0, 2, 3, 1][tfAxis] ?? tfAxis) : tfAxis;
  return [
    {
      ...first,
      name: ctx.g.node(
        'Concat',
        aligned.map((v) => v.name),
        ctx.name,
        { axis },
      ),
      shape: outShape(ctx),
    },
  ];
};

const embedding: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  if (bool(ctx, 'maskZero', false)) refuse(ctx, 'maskZero (masking) is not supported');
  const x = one(ctx, inputs);
  const ids = x.dtype === 'int32' ? x.name : g.node('Cast', [x.name], `${ctx.name}_ids`, { to: 6 });
  const table = weight(ctx, 0);
  return [
    {
      name: g.node('Gather', [g.floats(`${ctx.name}_embeddings`, table.data, table.shape), ids], ctx.name, { axis: 0 }),
      shape: outShape(ctx),
      nchw: false,
      dtype: 'float32',
    },
  ];
};

const activationLayer: LayerConverter = (ctx, inputs) => [activation(ctx, one(ctx, inputs), str(ctx, 'activation'))];

const reluLayer: LayerConverter = (ctx, inputs) => {
  const x = one(ctx, inputs);
  const max = ctx.config.maxValue;
  if (max === undefined || max === null) return [activation(ctx, x, 'relu')];
  if (typeof max !== 'number') refuse(ctx, 'maxValue is not a number');
  const lo = ctx.g.floats(`${ctx.name}_min`, Float32Array.of(0), []);
  const hi = ctx.g.floats(`${ctx.name}_max`, Float32Array.of(max), []);
  return [{ ...x, name: ctx.g.node('Clip', [x.name, lo, hi], ctx.name) }];
};

const leakyRelu: LayerConverter = (ctx, inputs) => {
  const x = one(ctx, inputs);
  return [{ ...x, name: ctx.g.node('LeakyRelu', [x.name], ctx.name, { alpha: { float: num(ctx, 'alpha', 0.3) } }) }];
};

const softmaxLayer: LayerConverter = (ctx, inputs) => {
  const x = one(ctx, inputs);
  const raw: unknown = ctx.config.axis;
  const axis: unknown = Array.isArray(raw) && raw.length === 1 ? (raw as unknown[])[0] : (raw ?? -1);
  const last = x.shape.length - 1;
  if (axis !== -1 && axis !== last)
    refuse(ctx, `softmax over axis ${JSON.stringify(raw)}; only the last axis is supported`);
  return [activation(ctx, x, 'softmax')];
};

/** Rescaling: x · scale + offset, with scalar scale and offset (what Kaskade's models use). */
const rescaling: LayerConverter = (ctx, inputs) => {
  const x = one(ctx, inputs);
  const scale = num(ctx, 'scale');
  const offset = num(ctx, 'offset', 0);
  const scaled = ctx.g.node(
    'Mul',
    [x.name, ctx.g.floats(`${ctx.name}_scale`, Float32Array.of(scale), [])],
    `${ctx.name}_mul`,
  );
  return [
    {
      ...x,
      name: ctx.g.node('Add', [scaled, ctx.g.floats(`${ctx.name}_offset`, Float32Array.of(offset), [])], ctx.name),
    },
  ];
};

/** Layers that only act while training: the identity at inference. */
const identity: LayerConverter = (ctx, inputs) => [one(ctx, inputs)];

export const FEED_FORWARD_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  MaxPooling2D: pool2d('MaxPool'),
  AveragePooling2D: pool2d('AveragePool'),
  GlobalAveragePooling2D: globalPool2d('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPool2d('GlobalMaxPool'),
  GlobalAveragePooling1D: globalPool1d('ReduceMean'),
  GlobalMaxPooling1D: globalPool1d('ReduceMax'),
  ZeroPadding2D: zeroPadding2d,
  Flatten: flatten,
  Reshape: reshape,
  Rescaling: rescaling,
  Add: merge('Sum'),
  Multiply: merge('Mul'),
  Average: merge('Mean'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Subtract: merge('Sub'),
  Concatenate: concatenate,
  Embedding: embedding,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyRelu,
  Softmax: softmaxLayer,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
