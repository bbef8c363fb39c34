// Where a TF.js layers model can be cut in two so that exactly one tensor crosses: the layers
// every path from input to output passes through (no residual connection spans them). For
// each cut: FLOPs and parameters on each side and the bytes of the crossing tensor (float32,
// batch 1). `splitAt` builds the two halves, which share the whole model's weights.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, UnsupportedModelError } from '../errors.js';

type TF = typeof tfjs;

export interface Cut {
  /** The layer whose output crosses. */
  layer: string;
  /** Position of that layer in topological order (0 = input). */
  index: number;
  /** Shape of the crossing tensor without the batch dimension. */
  shape: number[];
  /** Bytes of the crossing tensor at batch 1 in float32 (what the wire carries, less its header). */
  bytes: number;
  flopsFront: number;
  flopsBack: number;
  paramsFront: number;
  paramsBack: number;
}

interface GraphLayer {
  name: string;
  className: string;
  inbound: string[];
}

/** The model's own graph (its config, so layers shared with other models do not confuse it). */
export function modelGraph(model: tfjs.LayersModel): GraphLayer[] {
  const config = model.getConfig() as unknown as {
    layers?: { name: string; className: string; inboundNodes?: unknown[] }[];
  };
  if (!Array.isArray(config.layers))
    throw new UnsupportedModelError(`${model.name} is not a functional layers model; only graphs of layers can be cut`);
  return config.layers.map((l) => {
    const nodes = (l.inboundNodes ?? []) as [string, number, number][][];
    if (nodes.length > 1)
      throw new UnsupportedModelError(`layer ${l.name} is applied ${nodes.length} times; shared layers cannot be cut`);
    const inbound = (nodes[0] ?? []).map(([name, , tensorIndex]) => {
      if (tensorIndex !== 0)
        throw new UnsupportedModelError(
          `layer ${l.name} reads output ${tensorIndex} of ${name}; multi-output layers cannot be cut`,
        );
      return name;
    });
    return { name: l.name, className: l.className, inbound };
  });
}

function product(shape: readonly (number | null)[]): number {
  return shape.reduce<number>((p, d) => p * (d ?? 1), 1);
}

function outputShape(layer: tfjs.layers.Layer): number[] {
  const shape = layer.outputShape;
  if (!Array.isArray(shape) || Array.isArray(shape[0]))
    throw new UnsupportedModelError(`layer ${layer.name} has several outputs`);
  return (shape as (number | null)[]).slice(1).map((d) => d ?? 1);
}

/** Multiply-adds × 2 for convolutions and dense layers at batch 1; one per output element otherwise. */
export function layerFlops(layer: tfjs.layers.Layer, inChannels: number): number {
  const out = outputShape(layer);
  const outElements = product(out);
  const config = layer.getConfig() as { kernelSize?: number | number[]; depthMultiplier?: number };
  const kernel = Array.isArray(config.kernelSize) ? product(config.kernelSize) : (config.kernelSize ?? 1) ** 2;
  switch (layer.getClassName()) {
    case 'Conv2D':
      return 2 * outElements * kernel * inChannels;
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return 2 * outElements * kernel;
    case 'Dense':
      return 2 * outElements * inChannels;
    case 'InputLayer':
      return 0;
    default:
      return outElements;
  }
}

/** Every cut of the model where exactly one tensor crosses, in topological order. */
export function listCuts(model: tfjs.LayersModel): Cut[] {
  const graph = modelGraph(model);
  const position = new Map(graph.map((l, i) => [l.name, i]));
  const outputs = new Set(model.outputs.map((o) => o.sourceLayer.name));
  // The last position that reads each layer's output (the model's outputs are read "after the end").
  const lastUse = graph.map((l) => (outputs.has(l.name) ? graph.length : -1));
  graph.forEach((l, i) => {
    for (const from of l.inbound) {
      const j = position.get(from);
      if (j === undefined || j >= i)
        throw new UnsupportedModelError(`layer ${l.name} reads ${from}, which does not come before it`);
      lastUse[j] = Math.max(lastUse[j] ?? -1, i);
    }
  });
  const layers = graph.map((l) => model.getLayer(l.name));
  const flops = layers.map((layer, i) => {
    const from = graph[i]?.inbound[0];
    return layerFlops(layer, from === undefined ? 1 : (outputShape(model.getLayer(from)).at(-1) ?? 1));
  });
  const params = layers.map((l) => l.countParams());
  const totalFlops = flops.reduce((a, b) => a + b, 0);
  const totalParams = params.reduce((a, b) => a + b, 0);
  const cuts: Cut[] = [];
  let open = 0; // layers at or before i whose output is still read after i
  let flopsFront = 0;
  let paramsFront = 0;
  const closing = new Map<number, number>();
  for (let i = 0; i < graph.length - 1; i++) {
    flopsFront += flops[i] ?? 0;
    paramsFront += params[i] ?? 0;
    const last = lastUse[i] ?? -1;
    if (last > i) {
      open += 1;
      closing.set(last, (closing.get(last) ?? 0) + 1);
    }
    open -= closing.get(i) ?? 0;
    const layer = layers[i];
    if (i === 0 || open !== 1 || last <= i || layer === undefined || graph[i]?.className === 'InputLayer') continue;
    const shape = outputShape(layer);
    cuts.push({
      layer: layer.name,
      index: i,
      shape,
      bytes: 4 * product(shape),
      flopsFront,
      flopsBack: totalFlops - flopsFront,
      paramsFront,
      paramsBack: totalParams - paramsFront,
    });
  }
  return cuts;
}

export interface Halves {
  front: tfjs.LayersModel;
  back: tfjs.LayersModel;
  cut: Cut;
}

/** Applies the graph's layers from `from` (exclusive) to `to` (inclusive) to a new input. */
function rebuild(
  tf: TF,
  model: tfjs.LayersModel,
  graph: readonly GraphLayer[],
  from: number,
  to: number,
  name: string,
  shape: number[],
): tfjs.LayersModel {
  const start = graph[from];
  if (!start) throw new UnsupportedModelError(`no layer at position ${from}`);
  const input = tf.input({ name: `${name}_input`, shape });
  const tensors = new Map<string, tfjs.SymbolicTensor>([[start.name, input]]);
  let last: tfjs.SymbolicTensor = input;
  for (const l of graph.slice(from + 1, to + 1)) {
    const ins = l.inbound.map((n) => {
      const t = tensors.get(n);
      if (!t) throw new UnsupportedModelError(`layer ${l.name} reads ${n} across the cut`);
      return t;
    });
    const out = model.getLayer(l.name).apply(ins.length === 1 ? ins[0]! : ins);
    if (Array.isArray(out) || !('sourceLayer' in out))
      throw new UnsupportedModelError(`layer ${l.name} gave several outputs`);
    tensors.set(l.name, out);
    last = out;
  }
  return tf.model({ name, inputs: input, outputs: last });
}

/** The two halves at `layerName` (a cut from listCuts); they share the model's layers and weights. */
export function splitAt(tf: TF, model: tfjs.LayersModel, layerName: string): Halves {
  const cut = listCuts(model).find((c) => c.layer === layerName);
  if (!cut)
    throw new BadInputError(
      `${layerName} is not a cut of ${model.name} where one tensor crosses; list them with kaskade split --list`,
    );
  const input = model.inputs[0];
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || !input)
    throw new UnsupportedModelError('only models with one input and one output can be split');
  const graph = modelGraph(model);
  const inputShape = input.shape.slice(1).map((d) => d ?? 1);
  const front = rebuild(tf, model, graph, 0, cut.index, `${model.name}_front`, inputShape);
  const back = rebuild(tf, model, graph, cut.index, graph.length - 1, `${model.name}_back`, cut.shape);
  return { front, back, cut };
}

/** The cut whose front FLOPs are nearest `fraction` of the whole (0.5 = the balanced cut). */
export function cutByFlopRatio(cuts: readonly Cut[], fraction: number): Cut {
  if (!(fraction > 0 && fraction < 1)) throw new BadInputError(`a FLOP ratio is in (0, 1), not ${fraction}`);
  const first = cuts[0];
  if (!first) throw new UnsupportedModelError('the model has no cut where one tensor crosses');
  const share = (c: Cut): number => c.flopsFront / (c.flopsFront + c.flopsBack);
  return cuts.reduce((best, c) => (Math.abs(share(c) - fraction) < Math.abs(share(best) - fraction) ? c : best), first);
}

/** Per-layer latency in ms on each side's hardware, by layer name (measured; see profileLayers). */
export interface LatencyProfile {
  front: ReadonlyMap<string, number>;
  back: ReadonlyMap<string, number>;
}

/**
 * Neurosurgeon's choice: the cut minimising Σ front time up to it + crossing bytes / bandwidth
 * + Σ back time after it, with `bytesPerSecond` the link between the halves.
 */
export function cutByLatency(
  model: tfjs.LayersModel,
  cuts: readonly Cut[],
  profile: LatencyProfile,
  bytesPerSecond: number,
): { cut: Cut; predictedMs: number } {
  if (!(bytesPerSecond > 0)) throw new BadInputError(`bandwidth must be positive bytes/s, not ${bytesPerSecond}`);
  const names = modelGraph(model).map((l) => l.name);
  const frontPrefix = [0];
  const backPrefix = [0];
  for (const n of names) {
    frontPrefix.push(frontPrefix.at(-1)! + (profile.front.get(n) ?? 0));
    backPrefix.push(backPrefix.at(-1)! + (profile.back.get(n) ?? 0));
  }
  const backTotal = backPrefix.at(-1)!;
  let best: { cut: Cut; predictedMs: number } | undefined;
  for (const cut of cuts) {
    const predictedMs =
      frontPrefix[cut.index + 1]! + (1000 * cut.bytes) / bytesPerSecond + (backTotal - backPrefix[cut.index + 1]!);
    if (!best || predictedMs < best.predictedMs) best = { cut, predictedMs };
  }
  if (!best) throw new UnsupportedModelError('the model has no cut where one tensor crosses');
  return best;
}

/** Times each layer alone (median of `repeats` runs at batch 1) on this process's backend. */
export async function profileLayers(tf: TF, model: tfjs.LayersModel, repeats = 5): Promise<Map<string, number>> {
  const graph = modelGraph(model);
  const times = new Map<string, number>();
  for (const l of graph) {
    if (l.className === 'InputLayer') continue;
    const layer = model.getLayer(l.name);
    const inputs = l.inbound.map((n) => tf.zeros([1, ...outputShape(model.getLayer(n))]));
    const samples: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      const start = performance.now();
      const y = tf.tidy(() => layer.apply(inputs.length === 1 ? inputs[0]! : inputs) as tfjs.Tensor);
      await y.data();
      y.dispose();
      if (r > 0) samples.push(performance.now() - start);
    }
    tf.dispose(inputs);
    samples.sort((a, b) => a - b);
    times.set(l.name, samples[Math.floor(samples.length / 2)] ?? 0);
  }
  return times;
}
