// Where an ONNX model can be cut in two so that exactly one tensor crosses, and the two halves
// as `.onnx` bytes. The graph's nodes are in topological order (the ONNX format requires it);
// a cut after node i is a place where one value made at or before i is the only one read after
// i. Shapes come from one run of the whole model on ONNX Runtime at batch 1, with every
// intermediate value added as an output; FLOPs and parameters are counted from them.
import { BadInputError, UnsupportedModelError } from '../errors.js';
import { loadOrt } from '../serving/onnx-model.js';
import { onnx, type OnnxTypes } from '../serving/onnx-proto.js';
import type { Cut } from './cuts.js';

type Model = OnnxTypes.ModelProto;
type Graph = OnnxTypes.IGraphProto;
type Node = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;

const DT = onnx.TensorProto.DataType;
const ATTR = onnx.AttributeProto.AttributeType;

/** One cut of an ONNX graph: `layer` is the name of the tensor that crosses (NCHW for convolutions). */
export type OnnxCut = Cut;

export interface OnnxCutList {
  readonly cuts: OnnxCut[];
  /** The model's one input: name and shape at batch 1. */
  readonly input: { readonly name: string; readonly shape: number[] };
  readonly output: { readonly name: string; readonly shape: number[] };
}

function decode(bytes: Uint8Array, what: string): Model {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new BadInputError(`${what} is not an ONNX model: ${(e as Error).message}`, { cause: e });
  }
}

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map(Number);
}

/** `Constant` nodes become initializers, so a constant read on both sides never counts as crossing. */
function constantsAsInitializers(graph: Graph): { nodes: Node[]; initializers: TensorProto[] } {
  const nodes: Node[] = [];
  const initializers = [...(graph.initializer ?? [])];
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined;
    const output = node.output?.[0];
    if (value && output !== undefined && (node.output ?? []).length === 1) {
      initializers.push({ ...value, name: output });
      continue;
    }
    if ((node.attribute ?? []).some((a) => a.type === ATTR.GRAPH || a.type === ATTR.GRAPHS))
      throw new UnsupportedModelError(
        `node ${node.name ?? node.opType ?? '?'} (${node.opType ?? '?'}) holds a subgraph; models with control flow are not cut`,
      );
    nodes.push(node);
  }
  return { nodes, initializers };
}

interface Parsed {
  model: Model;
  graph: Graph;
  nodes: Node[];
  initializers: TensorProto[];
  inputName: string;
  outputName: string;
}

function parse(bytes: Uint8Array, what: string): Parsed {
  const model = decode(bytes, what);
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0) throw new BadInputError(`${what} has no graph to cut`);
  const { nodes, initializers } = constantsAsInitializers(graph);
  const initNames = new Set(initializers.map((t) => t.name ?? ''));
  const inputs = (graph.input ?? []).filter((i) => !initNames.has(i.name ?? ''));
  const outputs = graph.output ?? [];
  if (inputs.length !== 1 || outputs.length !== 1)
    throw new UnsupportedModelError(
      `${what} has ${inputs.length} input(s) and ${outputs.length} output(s); only models with one of each are cut`,
    );
  return {
    model,
    graph,
    nodes,
    initializers,
    inputName: inputs[0]?.name ?? '',
    outputName: outputs[0]?.name ?? '',
  };
}

/** Positions (in `nodes`) of every cut where exactly one value crosses, with that value's name. */
function crossingPoints(p: Parsed): { index: number; tensor: string }[] {
  const constants = new Set(p.initializers.map((t) => t.name ?? ''));
  const producedAt = new Map<string, number>([[p.inputName, -1]]);
  const lastRead = new Map<string, number>();
  p.nodes.forEach((node, i) => {
    for (const name of node.input ?? []) {
      if (name === '' || constants.has(name)) continue;
      if (!producedAt.has(name))
        throw new UnsupportedModelError(
          `node ${node.name ?? i} reads "${name}" before it is made; the graph is not in topological order`,
        );
      lastRead.set(name, i);
    }
    for (const name of node.output ?? []) if (name !== '') producedAt.set(name, i);
  });
  lastRead.set(p.outputName, p.nodes.length);
  const opened = new Map<number, string[]>();
  for (const [name, at] of producedAt) {
    const last = lastRead.get(name);
    if (last !== undefined && last > at) opened.set(at, [...(opened.get(at) ?? []), name]);
  }
  const live = new Set<string>(opened.get(-1) ?? []);
  const points: { index: number; tensor: string }[] = [];
  for (let i = 0; i < p.nodes.length - 1; i++) {
    for (const name of opened.get(i) ?? []) live.add(name);
    for (const name of p.nodes[i]?.input ?? []) if (lastRead.get(name) === i) live.delete(name);
    if (live.size !== 1) continue;
    const [tensor] = live;
    if (tensor === undefined || tensor === p.inputName || points.at(-1)?.tensor === tensor) continue;
    points.push({ index: i, tensor });
  }
  return points;
}

/** The same model with every node output also a graph output (untyped: ONNX Runtime infers them). */
function withEveryValueAsOutput(p: Parsed): Uint8Array {
  const names = new Set<string>([p.outputName]);
  const extra: OnnxTypes.IValueInfoProto[] = [];
  for (const node of p.nodes)
    for (const name of node.output ?? [])
      if (name !== '' && !names.has(name)) {
        names.add(name);
        extra.push({ name });
      }
  const graph: OnnxTypes.IGraphProto = {
    ...p.graph,
    node: p.nodes,
    initializer: p.initializers,
    output: [...(p.graph.output ?? []), ...extra],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create({ ...p.model, graph })).finish();
}

function batchOneShape(p: Parsed, what: string): number[] {
  const info = (p.graph.input ?? []).find((i) => i.name === p.inputName);
  const tensorType = info?.type?.tensorType;
  if (tensorType?.elemType !== DT.FLOAT)
    throw new UnsupportedModelError(`${what}: input "${p.inputName}" is not float32; only float inputs are cut`);
  return (tensorType.shape?.dim ?? []).map((d, k) => {
    const value = Number(d.dimValue ?? 0);
    if (value > 0) return value;
    if (k === 0) return 1;
    throw new UnsupportedModelError(
      `${what}: input "${p.inputName}" has a dynamic dimension ${k} (${d.dimParam ?? '?'}); give the model a fixed input size`,
    );
  });
}

/** Every value's shape at batch 1 and its element type, from one run of the whole model. */
async function valueShapes(p: Parsed, what: string): Promise<Map<string, { shape: number[]; type: string }>> {
  const ort = await loadOrt();
  const inputShape = batchOneShape(p, what);
  const session = await ort.InferenceSession.create(withEveryValueAsOutput(p), { graphOptimizationLevel: 'disabled' });
  try {
    const results = await session.run({
      [p.inputName]: new ort.Tensor('float32', new Float32Array(product(inputShape)), inputShape),
    });
    const shapes = new Map<string, { shape: number[]; type: string }>([
      [p.inputName, { shape: inputShape, type: 'float32' }],
    ]);
    for (const [name, t] of Object.entries(results)) {
      shapes.set(name, { shape: [...t.dims], type: t.type });
      t.dispose();
    }
    return shapes;
  } finally {
    await session.release();
  }
}

/** 2 × multiply-adds for Conv, Gemm and MatMul at batch 1; one per output element otherwise. */
function nodeFlops(
  node: Node,
  shapes: ReadonlyMap<string, { shape: number[] }>,
  weights: ReadonlyMap<string, number[]>,
): number {
  const out = product(shapes.get(node.output?.[0] ?? '')?.shape ?? []);
  const [a, b] = node.input ?? [];
  switch (node.opType) {
    case 'Conv': {
      const w = weights.get(b ?? '') ?? shapes.get(b ?? '')?.shape ?? [];
      return 2 * out * product(w.slice(1));
    }
    case 'Gemm': {
      const transA = (node.attribute ?? []).some((x) => x.name === 'transA' && String(x.i) === '1');
      const aShape = shapes.get(a ?? '')?.shape ?? [];
      const k = transA ? aShape[0] : aShape[1];
      return 2 * out * (k ?? 1);
    }
    case 'MatMul':
      return 2 * out * (shapes.get(a ?? '')?.shape.at(-1) ?? 1);
    default:
      return out;
  }
}

/** Every cut of an ONNX model where exactly one float32 tensor crosses, in topological order. */
export async function listOnnxCuts(bytes: Uint8Array, what = 'the model'): Promise<OnnxCutList> {
  const p = parse(bytes, what);
  const shapes = await valueShapes(p, what);
  const weights = new Map(p.initializers.map((t) => [t.name ?? '', dimsOf(t)]));
  const flops = p.nodes.map((n) => nodeFlops(n, shapes, weights));
  // Each initializer counts once, on the side of its first reader.
  const seen = new Set<string>();
  const params = p.nodes.map((n) =>
    (n.input ?? []).reduce((sum, name) => {
      const dims = weights.get(name);
      if (dims === undefined || seen.has(name)) return sum;
      seen.add(name);
      return sum + product(dims);
    }, 0),
  );
  const totalFlops = flops.reduce((x, y) => x + y, 0);
  const totalParams = params.reduce((x, y) => x + y, 0);
  const prefix = (xs: number[], i: number): number => xs.slice(0, i + 1).reduce((x, y) => x + y, 0);
  const cuts = crossingPoints(p).flatMap(({ index, tensor }): OnnxCut[] => {
    const value = shapes.get(tensor);
    if (!value || value.type !== 'float32') return [];
    const shape = value.shape.slice(1);
    const flopsFront = prefix(flops, index);
    const paramsFront = prefix(params, index);
    return [
      {
        layer: tensor,
        index,
        shape,
        bytes: 4 * product(shape),
        flopsFront,
        flopsBack: totalFlops - flopsFront,
        paramsFront,
        paramsBack: totalParams - paramsFront,
      },
    ];
  });
  return {
    cuts,
    input: { name: p.inputName, shape: (shapes.get(p.inputName)?.shape ?? []).slice(1) },
    output: { name: p.outputName, shape: (shapes.get(p.outputName)?.shape ?? []).slice(1) },
  };
}

function valueInfo(name: string, shape: readonly number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DT.FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, ...shape.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

function half(
  p: Parsed,
  nodes: Node[],
  input: OnnxTypes.IValueInfoProto,
  output: OnnxTypes.IValueInfoProto,
): Uint8Array {
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const graph: OnnxTypes.IGraphProto = {
    name: p.graph.name ?? 'half',
    node: nodes,
    initializer: p.initializers.filter((t) => read.has(t.name ?? '')),
    input: [input],
    output: [output],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create({ ...p.model, graph })).finish();
}

/** The two halves of an ONNX model at `cut` (from listOnnxCuts), as self-contained `.onnx` bytes. */
export function splitOnnx(
  bytes: Uint8Array,
  cut: OnnxCut,
  what = 'the model',
): { front: Uint8Array; back: Uint8Array } {
  const p = parse(bytes, what);
  const point = crossingPoints(p).find((c) => c.tensor === cut.layer);
  if (!point)
    throw new BadInputError(`"${cut.layer}" is not a tensor of ${what} where one tensor crosses; list the cuts`);
  const inputInfo = (p.graph.input ?? []).find((i) => i.name === p.inputName) ?? { name: p.inputName };
  const outputInfo = p.graph.output?.[0] ?? { name: p.outputName };
  const crossing = valueInfo(cut.layer, cut.shape);
  return {
    front: half(p, p.nodes.slice(0, point.index + 1), inputInfo, crossing),
    back: half(p, p.nodes.slice(point.index + 1), crossing, outputInfo),
  };
}
