// Exporting a TF.js layers model to ONNX: the model's graph is walked node by node (Sequential
// or functional), each layer becomes the ONNX operators that compute the same function at
// inference, and the result is one self-contained `.onnx` file (weights inside). A layer type
// without a converter is refused with its name, before anything is written.
import type * as tfjs from '@tensorflow/tfjs';
import { UnsupportedModelError } from '../errors.js';
import { toPlain, type HostWeight, type LayerConverter, type Value } from './export-context.js';
import { FEED_FORWARD_CONVERTERS } from './export-layers.js';
import { RECURRENT_CONVERTERS } from './export-recurrent.js';
import { GraphBuilder, type GraphValue } from './onnx-graph.js';
import { layersInputDtypes } from './tfjs-model.js';

const CONVERTERS: Readonly<Record<string, LayerConverter>> = { ...FEED_FORWARD_CONVERTERS, ...RECURRENT_CONVERTERS };

/** The file a published model folder keeps its ONNX form in, beside model.json. */
export const MODEL_ONNX_FILE = 'model.onnx';

/** Layer class names the exporter writes. */
export const EXPORTABLE_LAYERS: readonly string[] = Object.keys(CONVERTERS).sort();

type Layer = tfjs.layers.Layer;
type Sym = tfjs.SymbolicTensor;

function tfShape(t: Sym): number[] {
  return t.shape.map((d) => (d === null ? -1 : d));
}

/** Throws UnsupportedModelError naming every layer (and its type) the exporter cannot write. */
export function checkExportable(model: tfjs.LayersModel): void {
  const refused = model.layers
    .filter((l) => l.getClassName() !== 'InputLayer' && CONVERTERS[l.getClassName()] === undefined)
    .map((l) => `"${l.name}" (${l.getClassName()})`);
  if (refused.length > 0) {
    throw new UnsupportedModelError(
      `model "${model.name}" cannot be exported to ONNX: no converter for layer ${refused.join(', ')}`,
    );
  }
}

function hostWeights(layer: Layer): HostWeight[] {
  return layer.getWeights().map((w) => {
    if (w.dtype !== 'float32')
      throw new UnsupportedModelError(
        `layer "${layer.name}" has a ${w.dtype} weight; only float32 weights are exported`,
      );
    return { data: w.dataSync<'float32'>(), shape: w.shape };
  });
}

/**
 * How the graph's rank-4 inputs and outputs are laid out. Channels-first at a boundary saves two
 * transposes when two exported models are chained (a model cut in two halves): the front's
 * output and the back's input stay in ONNX's own NCHW layout.
 */
export interface ExportOptions {
  /** Rank-4 float inputs are NCHW (default: TF.js's NHWC). */
  readonly channelsFirstInputs?: boolean;
  /** Rank-4 outputs held as NCHW in the graph are answered as NCHW (default: NHWC). */
  readonly channelsFirstOutputs?: boolean;
}

const NCHW_OF_NHWC = [0, 3, 1, 2] as const;
const nchwShape = (shape: readonly number[]): number[] => NCHW_OF_NHWC.map((k) => shape[k] ?? 1);

/** Graph inputs: int32 where the model takes token ids (its dtype says so, or an Embedding reads it). */
function graphInputs(
  model: tfjs.LayersModel,
  g: GraphBuilder,
  values: Map<number, Value>,
  channelsFirst: boolean,
): GraphValue[] {
  const dtypes = layersInputDtypes(model);
  return model.inputs.map((t, i) => {
    const dtype = dtypes[i] === 'int32' ? 'int32' : 'float32';
    const name = g.fresh(model.inputNames[i] ?? `input_${i}`);
    const shape = tfShape(t);
    const nchw = channelsFirst && dtype === 'float32' && shape.length === 4;
    values.set(t.id, { name, shape, nchw, dtype });
    return { name, dtype, shape: nchw ? nchwShape(shape) : shape };
  });
}

interface PendingNode {
  readonly layer: Layer;
  readonly inputs: readonly Sym[];
  readonly outputs: readonly Sym[];
}

function pendingNodes(model: tfjs.LayersModel): PendingNode[] {
  return model.layers
    .filter((l) => l.getClassName() !== 'InputLayer')
    .flatMap((layer) =>
      layer.inboundNodes.map((node) => ({ layer, inputs: node.inputTensors, outputs: node.outputTensors })),
    );
}

function convertNode(g: GraphBuilder, node: PendingNode, inputs: Value[]): Value[] {
  const className = node.layer.getClassName();
  const convert = CONVERTERS[className];
  if (convert === undefined)
    throw new UnsupportedModelError(`cannot export layer "${node.layer.name}" (${className}) to ONNX: no converter`);
  return convert(
    {
      g,
      name: node.layer.name,
      className,
      config: node.layer.getConfig(),
      weights: hostWeights(node.layer),
      outputShapes: node.outputs.map(tfShape),
    },
    inputs,
  );
}

/** The model as `.onnx` bytes (opset 13), with a dynamic batch dimension. */
export function exportOnnx(model: tfjs.LayersModel, options: ExportOptions = {}): Uint8Array {
  checkExportable(model);
  const g = new GraphBuilder();
  const values = new Map<number, Value>();
  const inputs = graphInputs(model, g, values, options.channelsFirstInputs === true);
  const outputNames = model.outputs.map((_, i) => g.fresh(model.outputNames[i] ?? `output_${i}`));
  let pending = pendingNodes(model);
  // Walk in dependency order: a node runs once every input it reads has a value.
  while (pending.length > 0) {
    const ready = pending.filter((n) => n.inputs.every((t) => values.has(t.id)));
    if (ready.length === 0) break;
    for (const node of ready) {
      const outputs = convertNode(
        g,
        node,
        node.inputs.map((t) => values.get(t.id) as Value),
      );
      node.outputs.forEach((t, k) => {
        const v = outputs[k];
        if (v !== undefined) values.set(t.id, v);
      });
    }
    pending = pending.filter((n) => !ready.includes(n));
  }
  const outputs = model.outputs.map((t, i): GraphValue => {
    const v = values.get(t.id);
    if (v === undefined)
      throw new UnsupportedModelError(`model "${model.name}": output ${t.name} is not reachable from its inputs`);
    const keepNchw = options.channelsFirstOutputs === true && v.nchw;
    const plain = keepNchw ? v : toPlain(g, v);
    const name = g.nodeNamed('Identity', [plain.name], outputNames[i] ?? `output_${i}`);
    return { name, dtype: 'float32', shape: keepNchw ? nchwShape(tfShape(t)) : tfShape(t) };
  });
  return g.encode(model.name, inputs, outputs, JSON.stringify({ exportedFrom: 'tfjs-layers', model: model.name }));
}
