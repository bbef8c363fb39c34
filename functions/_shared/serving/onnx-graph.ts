// A small builder for an ONNX graph: nodes with typed attributes, float/int64 initializers
// stored as raw little-endian bytes, unique value names, and the final ModelProto bytes.
import { onnx, IR_VERSION, OPSET } from './onnx-proto.js';
import type { OnnxTypes } from './onnx-proto.js';

type AttrValue =
  | number
  | readonly number[]
  | string
  | readonly string[]
  | { readonly float: number }
  | { readonly floats: readonly number[] };
const ATTR = onnx.AttributeProto.AttributeType;
const DT = onnx.TensorProto.DataType;

/** Element types the exporter declares for graph inputs and outputs. */
export type GraphDtype = 'float32' | 'int32';

export interface GraphValue {
  readonly name: string;
  readonly dtype: GraphDtype;
  /** Dimensions; -1 is dynamic (the batch). */
  readonly shape: readonly number[];
}

function attribute(name: string, value: AttrValue): OnnxTypes.IAttributeProto {
  if (typeof value === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: ATTR.INT, i: value };
  if ('float' in value) return { name, type: ATTR.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: ATTR.FLOATS, floats: [...value.floats] };
  if (value.every((v): v is string => typeof v === 'string'))
    return { name, type: ATTR.STRINGS, strings: value.map((v) => new TextEncoder().encode(v)) };
  return { name, type: ATTR.INTS, ints: value.filter((v): v is number => typeof v === 'number') };
}

function valueInfo(value: GraphValue): OnnxTypes.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: value.dtype === 'int32' ? DT.INT32 : DT.FLOAT,
        shape: { dim: value.shape.map((d) => (d < 0 ? { dimParam: 'batch' } : { dimValue: d })) },
      },
    },
  };
}

function rawBytes(view: ArrayBufferView): Uint8Array {
  // ONNX raw_data is little-endian, as are the typed arrays of every platform Kaskade runs on.
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A value name not used yet, derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Adds one node and answers the name of its (first) output. */
  node(
    op: string,
    inputs: readonly string[],
    hint: string,
    attrs: Readonly<Record<string, AttrValue>> = {},
    outputs = 1,
  ): string {
    const names = Array.from({ length: outputs }, (_, k) => this.fresh(outputs === 1 ? hint : `${hint}_${k}`));
    this.nodes.push({
      opType: op,
      name: this.fresh(`${hint}/${op}`),
      input: [...inputs],
      output: names,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names[0] ?? '';
  }

  /** Adds a node whose output has exactly `output` (a name reserved with `fresh` before). */
  nodeNamed(op: string, inputs: readonly string[], output: string): string {
    this.nodes.push({
      opType: op,
      name: this.fresh(`${output}/${op}`),
      input: [...inputs],
      output: [output],
      attribute: [],
    });
    return output;
  }

  /** Adds a node with several outputs and answers their names. */
  nodeOutputs(
    op: string,
    inputs: readonly string[],
    hint: string,
    attrs: Readonly<Record<string, AttrValue>>,
    outputs: number,
  ): string[] {
    const first = this.node(op, inputs, hint, attrs, outputs);
    const node = this.nodes[this.nodes.length - 1];
    return node?.output ?? [first];
  }

  floats(hint: string, data: Float32Array, dims: readonly number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType: DT.FLOAT, dims: [...dims], rawData: rawBytes(data) });
    return name;
  }

  int64s(hint: string, values: readonly number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dataType: DT.INT64,
      dims: [values.length],
      rawData: rawBytes(BigInt64Array.from(values.map((v) => BigInt(v)))),
    });
    return name;
  }

  /** The serialized model: opset 13, the given graph inputs and outputs. */
  encode(
    graphName: string,
    inputs: readonly GraphValue[],
    outputs: readonly GraphValue[],
    docString: string,
  ): Uint8Array {
    const model: OnnxTypes.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'kaskade',
      producerVersion: '1',
      docString,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(valueInfo),
        output: outputs.map(valueInfo),
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
