// The ONNX cut finder: on a hand-written graph with a residual connection and a Constant node,
// no cut falls inside the residual; on the small ResNet exported to ONNX, every cut's two
// halves composed on ONNX Runtime equal the whole model (max abs diff ≤ 1e-5), and the FLOPs
// and parameters of the two sides add up to the whole.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../../test/support/kernels.js';
import { buildResNet50, foldResNet50, SMALL_RESNET } from '../models/resnet50.js';
import { exportOnnx } from '../serving/export-onnx.js';
import { GraphBuilder } from '../serving/onnx-graph.js';
import { loadOrt } from '../serving/onnx-model.js';
import { onnx } from '../serving/onnx-proto.js';
import { BadInputError, UnsupportedModelError } from '../errors.js';
import { listCuts } from './cuts.js';
import { listOnnxCuts, splitOnnx } from './onnx-cuts.js';

/** x[-1,4] → h = Relu(x·W1) → r = h + h·W2 (residual) → s = r · two (a Constant node) → softmax(s·W3 + b). */
function residualOnnx(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.fresh('x');
  const y = g.fresh('y');
  const w = (name: string, rows: number, cols: number): string =>
    g.floats(
      name,
      Float32Array.from({ length: rows * cols }, (_, k) => Math.sin(k + rows)),
      [rows, cols],
    );
  const h = g.node('Relu', [g.node('MatMul', [x, w('W1', 4, 6)], 'xw1')], 'h');
  const r = g.node('Add', [h, g.node('MatMul', [h, w('W2', 6, 6)], 'hw2')], 'r');
  const s = g.node('Mul', [r, 'two'], 's');
  const logits = g.node('Gemm', [s, w('W3', 6, 3), g.floats('b', Float32Array.of(0.1, 0, -0.1), [3])], 'logits');
  g.nodeNamed('Softmax', [logits], y);
  const bytes = g.encode(
    'residual',
    [{ name: x, dtype: 'float32', shape: [-1, 4] }],
    [{ name: y, dtype: 'float32', shape: [-1, 3] }],
    'a test model',
  );
  const model = onnx.ModelProto.decode(bytes);
  const nodes = model.graph?.node;
  if (!nodes) throw new TypeError('the builder wrote no nodes');
  nodes.unshift(
    onnx.NodeProto.create({
      opType: 'Constant',
      output: ['two'],
      attribute: [
        {
          name: 'value',
          type: onnx.AttributeProto.AttributeType.TENSOR,
          t: { dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [2] },
        },
      ],
    }),
  );
  return onnx.ModelProto.encode(model).finish();
}

async function run(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, shape) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function composed(
  bytes: Uint8Array,
  layer: string,
  cuts: Awaited<ReturnType<typeof listOnnxCuts>>['cuts'],
  x: Float32Array,
  shape: number[],
) {
  const cut = cuts.find((c) => c.layer === layer)!;
  const { front, back } = splitOnnx(bytes, cut);
  const a = await run(front, x, shape);
  return run(back, a, [1, ...cut.shape]);
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? NaN))), 0);

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

describe('listOnnxCuts', () => {
  it('finds the cuts of a graph with a residual connection, none inside it, and the Constant on neither side', async () => {
    const bytes = residualOnnx();
    const { cuts, input, output } = await listOnnxCuts(bytes);
    expect(input).toEqual({ name: 'x', shape: [4] });
    expect(output).toEqual({ name: 'y', shape: [3] });
    expect(cuts.map((c) => c.layer)).toEqual(['xw1', 'h', 'r', 's', 'logits']);
    expect(cuts.map((c) => c.shape)).toEqual([[6], [6], [6], [6], [3]]);
    // MatMul 4×6: 2·6·4 FLOPs; Relu 6; MatMul 6×6: 2·6·6; Add 6; Mul 6; Gemm: 2·3·6; Softmax 3.
    const total = 48 + 6 + 72 + 6 + 6 + 36 + 3;
    for (const c of cuts) expect(c.flopsFront + c.flopsBack).toBe(total);
    expect(cuts.find((c) => c.layer === 'r')).toMatchObject({ flopsFront: 48 + 6 + 72 + 6, paramsFront: 24 + 36 });
    expect(cuts[0]!.paramsFront + cuts[0]!.paramsBack).toBe(24 + 36 + 18 + 3 + 1);
  });

  it('composes every cut of the residual graph to the whole', async () => {
    const bytes = residualOnnx();
    const { cuts } = await listOnnxCuts(bytes);
    const x = Float32Array.of(0.5, -1, 2, 0.25);
    const whole = await run(bytes, x, [1, 4]);
    for (const c of cuts)
      expect(maxAbsDiff(await composed(bytes, c.layer, cuts, x, [1, 4]), whole)).toBeLessThanOrEqual(1e-6);
  });

  it('on the small ResNet exported to ONNX: the stage outputs are cuts, nothing inside a block is, and every cut composes to the whole', async () => {
    const options = { ...SMALL_RESNET, seed: 4 };
    const trainable = buildResNet50(tf, options);
    const model = foldResNet50(tf, trainable, options);
    trainable.dispose();
    const bytes = exportOnnx(model);
    const { cuts } = await listOnnxCuts(bytes, 'resnet-small.onnx');
    const names = cuts.map((c) => c.layer);
    for (const stage of [2, 3, 4, 5]) expect(names).toContain(`conv${stage}_block1_out_relu`);
    // A block's inner convolutions run beside its shortcut: a residual spans them.
    expect(names.filter((n) => /_block\d+_\d_/.test(n))).toEqual([]);
    // As many cuts as the TF.js graph has (each layer cut maps to one tensor), plus the input's transpose.
    expect(cuts.length).toBeGreaterThanOrEqual(listCuts(model).length);
    const x = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.sin(i / 7));
    const whole = await run(bytes, x, [1, 32, 32, 3]);
    for (const c of cuts) {
      expect(c.flopsFront + c.flopsBack).toBe(cuts[0]!.flopsFront + cuts[0]!.flopsBack);
      expect(maxAbsDiff(await composed(bytes, c.layer, cuts, x, [1, 32, 32, 3]), whole)).toBeLessThanOrEqual(1e-5);
    }
    model.dispose();
  }, 60_000);

  it('refuses a tensor that is not a cut, bytes that are not ONNX, and a graph with two inputs', async () => {
    const bytes = residualOnnx();
    const { cuts } = await listOnnxCuts(bytes);
    expect(() => splitOnnx(bytes, { ...cuts[0]!, layer: 'hw2' })).toThrow(BadInputError);
    await expect(listOnnxCuts(Uint8Array.of(1, 2, 3, 4, 5))).rejects.toThrow(BadInputError);
    const twoInputs = onnx.ModelProto.decode(bytes);
    twoInputs.graph?.input?.push(onnx.ValueInfoProto.create({ name: 'extra' }));
    await expect(listOnnxCuts(onnx.ModelProto.encode(twoInputs).finish())).rejects.toThrow(UnsupportedModelError);
  });
});
