// ONNX forms of TF.js's recurrent layers: GRU and LSTM, alone or inside a Bidirectional wrapper
// (merge mode "concat"). TF.js keeps gates in kernel columns (GRU z|r|h, LSTM i|f|c|o) and one
// input bias; ONNX wants rows per gate (GRU z|r|h, LSTM i|o|f|c) and a second, recurrent bias,
// which is zero here. GRU is TF.js's "reset before" form: ONNX's linear_before_reset = 0.
import {
  bool,
  num,
  one,
  outShape,
  refuse,
  str,
  transposeHost,
  type HostWeight,
  type LayerContext,
  type LayerConverter,
  type Value,
} from './export-context.js';

type Cell = 'GRU' | 'LSTM';

const ONNX_ACTIVATIONS: Readonly<Record<string, string>> = {
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  hardSigmoid: 'HardSigmoid',
  relu: 'Relu',
  softsign: 'Softsign',
  softplus: 'Softplus',
};

interface CellConfig {
  readonly units: number;
  readonly activation: string;
  readonly recurrentActivation: string;
  readonly useBias: boolean;
  readonly returnSequences: boolean;
}

function cellConfig(ctx: LayerContext, config: Readonly<Record<string, unknown>>): CellConfig {
  const inner: LayerContext = { ...ctx, config };
  for (const flag of ['stateful', 'returnState', 'unroll'] as const) {
    if (bool(inner, flag, false)) refuse(ctx, `${flag} is not supported`);
  }
  if (bool(inner, 'resetAfter', false)) refuse(ctx, 'resetAfter (the cuDNN GRU form) is not supported');
  return {
    units: num(inner, 'units'),
    activation: str(inner, 'activation', 'tanh'),
    recurrentActivation: str(inner, 'recurrentActivation', 'hardSigmoid'),
    useBias: bool(inner, 'useBias', true),
    returnSequences: bool(inner, 'returnSequences', false),
  };
}

function onnxActivation(ctx: LayerContext, name: string): string {
  const op = ONNX_ACTIVATIONS[name];
  if (op === undefined) refuse(ctx, `recurrent activation "${name}" has no ONNX form here`);
  return op;
}

/** Rows of `w` (gate blocks of `units` rows each) reordered: block k of the result is block order[k]. */
function reorderBlocks(w: Float32Array, units: number, rowLength: number, order: readonly number[]): Float32Array {
  const block = units * rowLength;
  const out = new Float32Array(w.length);
  order.forEach((from, to) => out.set(w.subarray(from * block, (from + 1) * block), to * block));
  return out;
}

/** One direction's W, R and B in ONNX's layout. */
function directionWeights(
  ctx: LayerContext,
  cell: Cell,
  c: CellConfig,
  weights: readonly HostWeight[],
): { w: Float32Array; r: Float32Array; b: Float32Array } {
  const [kernel, recurrent, bias] = weights;
  if (kernel === undefined || recurrent === undefined) refuse(ctx, 'kernel or recurrent kernel is missing');
  const gates = cell === 'GRU' ? 3 : 4;
  const order = cell === 'GRU' ? [0, 1, 2] : [0, 3, 1, 2];
  const inputSize = kernel.shape[0] ?? 0;
  const w = reorderBlocks(transposeHost(kernel, [1, 0]).data, c.units, inputSize, order);
  const r = reorderBlocks(transposeHost(recurrent, [1, 0]).data, c.units, c.units, order);
  const b = new Float32Array(2 * gates * c.units);
  if (c.useBias) {
    if (bias === undefined) refuse(ctx, 'bias is missing');
    b.set(reorderBlocks(bias.data, c.units, 1, order));
  }
  return { w, r, b };
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function emitRecurrent(
  ctx: LayerContext,
  x: Value,
  cell: Cell,
  c: CellConfig,
  directions: readonly (readonly HostWeight[])[],
  direction: string,
): Value {
  const { g } = ctx;
  if (x.shape.length !== 3) refuse(ctx, `expects a rank-3 input [batch, time, features], got rank ${x.shape.length}`);
  const gates = cell === 'GRU' ? 3 : 4;
  const parts = directions.map((w) => directionWeights(ctx, cell, c, w));
  const dirs = parts.length;
  const inputSize = directions[0]?.[0]?.shape[0] ?? 0;
  const f = onnxActivation(ctx, c.recurrentActivation);
  const gAct = onnxActivation(ctx, c.activation);
  const perDirection = cell === 'GRU' ? [f, gAct] : [f, gAct, gAct];
  const activations = Array.from({ length: dirs }, () => perDirection).flat();
  // Alpha and beta are consumed in order by the functions that take them (HardSigmoid here).
  const hard = activations.filter((a) => a === 'HardSigmoid').length;
  const attrs: Record<string, number | string | readonly string[] | { floats: readonly number[] }> = {
    hidden_size: c.units,
    direction,
    activations,
  };
  if (hard > 0) {
    attrs.activation_alpha = { floats: new Array<number>(hard).fill(0.2) };
    attrs.activation_beta = { floats: new Array<number>(hard).fill(0.5) };
  }
  if (cell === 'GRU') attrs.linear_before_reset = 0;
  const timeMajor = g.node('Transpose', [x.name], `${ctx.name}_time_major`, { perm: [1, 0, 2] });
  const feeds = [
    timeMajor,
    g.floats(`${ctx.name}_W`, concat(parts.map((p) => p.w)), [dirs, gates * c.units, inputSize]),
    g.floats(`${ctx.name}_R`, concat(parts.map((p) => p.r)), [dirs, gates * c.units, c.units]),
    g.floats(`${ctx.name}_B`, concat(parts.map((p) => p.b)), [dirs, 2 * gates * c.units]),
  ];
  const [y, yH] = g.nodeOutputs(cell, feeds, ctx.name, attrs, 2);
  if (y === undefined || yH === undefined) refuse(ctx, 'the recurrent node has no outputs');
  if (c.returnSequences) {
    // Y is [time, directions, batch, units]; TF.js concatenates directions per step.
    const batchMajor = g.node('Transpose', [y], `${ctx.name}_batch_major`, { perm: [2, 0, 1, 3] });
    const merged = g.node(
      'Reshape',
      [batchMajor, g.int64s(`${ctx.name}_seq_shape`, [0, 0, -1])],
      `${ctx.name}_sequences`,
    );
    return { name: merged, shape: outShape(ctx), nchw: false, dtype: 'float32' };
  }
  const last = g.node('Transpose', [yH], `${ctx.name}_last_batch_major`, { perm: [1, 0, 2] });
  return {
    name: g.node('Reshape', [last, g.int64s(`${ctx.name}_last_shape`, [0, -1])], `${ctx.name}_last`),
    shape: outShape(ctx),
    nchw: false,
    dtype: 'float32',
  };
}

function recurrent(cell: Cell): LayerConverter {
  return (ctx, inputs) => {
    const c = cellConfig(ctx, ctx.config);
    const backwards = bool(ctx, 'goBackwards', false);
    if (backwards && c.returnSequences) refuse(ctx, 'goBackwards with returnSequences is not supported');
    return [emitRecurrent(ctx, one(ctx, inputs), cell, c, [ctx.weights], backwards ? 'reverse' : 'forward')];
  };
}

const bidirectional: LayerConverter = (ctx, inputs) => {
  const inner = ctx.config.layer;
  if (inner === null || typeof inner !== 'object') refuse(ctx, 'has no wrapped layer');
  const { className, config } = inner as { className?: unknown; config?: unknown };
  if (className !== 'GRU' && className !== 'LSTM')
    refuse(ctx, `wraps ${String(className)}; only GRU and LSTM are supported`);
  if (config === null || typeof config !== 'object') refuse(ctx, 'the wrapped layer has no config');
  const mode = ctx.config.mergeMode ?? 'concat';
  if (mode !== 'concat') refuse(ctx, `mergeMode ${JSON.stringify(mode)} is not supported (only "concat")`);
  const c = cellConfig(ctx, config as Record<string, unknown>);
  if (ctx.weights.length % 2 !== 0) refuse(ctx, 'forward and backward weights differ in number');
  const half = ctx.weights.length / 2;
  return [
    emitRecurrent(
      ctx,
      one(ctx, inputs),
      className,
      c,
      [ctx.weights.slice(0, half), ctx.weights.slice(half)],
      'bidirectional',
    ),
  ];
};

export const RECURRENT_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  GRU: recurrent('GRU'),
  LSTM: recurrent('LSTM'),
  Bidirectional: bidirectional,
};
