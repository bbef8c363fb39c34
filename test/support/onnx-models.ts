// ONNX models the tests make themselves, as a user would bring them: written with the same
// graph builder the exporter uses, never downloaded.
import { GraphBuilder } from '../../functions/_shared/serving/onnx-graph.js';
import { onnx } from '../../functions/_shared/serving/onnx-proto.js';

/**
 * `scores = softmax(features · W + b)` over 4 features and 3 classes, plus
 * `doubled = 2 · features`, with a dynamic batch: input "features" FP32 [-1, 4]; outputs
 * "scores" FP32 [-1, 3] and "doubled" FP32 [-1, 4].
 */
export function linearClassifierOnnx(): Uint8Array {
  const g = new GraphBuilder();
  const features = g.fresh('features');
  const scores = g.fresh('scores');
  const doubled = g.fresh('doubled');
  const w = g.floats(
    'W',
    Float32Array.from({ length: 12 }, (_, k) => ((k % 5) - 2) / 4),
    [4, 3],
  );
  const b = g.floats('b', Float32Array.of(0.1, -0.2, 0.05), [3]);
  const logits = g.node('Gemm', [features, w, b], 'logits');
  g.nodeNamed('Softmax', [logits], scores);
  const two = g.floats('two', Float32Array.of(2), []);
  const product = g.node('Mul', [features, two], 'times_two');
  g.nodeNamed('Identity', [product], doubled);
  return g.encode(
    'linear-classifier',
    [{ name: features, dtype: 'float32', shape: [-1, 4] }],
    [
      { name: scores, dtype: 'float32', shape: [-1, 3] },
      { name: doubled, dtype: 'float32', shape: [-1, 4] },
    ],
    'a test model',
  );
}

/** What linearClassifierOnnx answers for one row, computed here in plain arithmetic. */
export function linearClassifierExpected(row: readonly number[]): { scores: number[]; doubled: number[] } {
  const w = Array.from({ length: 12 }, (_, k) => ((k % 5) - 2) / 4);
  const b = [0.1, -0.2, 0.05];
  const logits = b.map((bias, c) => row.reduce((sum, x, i) => sum + x * (w[i * 3 + c] ?? 0), bias));
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, e) => a + e, 0);
  return { scores: exps.map((e) => e / total), doubled: row.map((x) => 2 * x) };
}

/** A model whose one weight lives in a side file (external data), which Kaskade refuses to follow. */
export function externalDataOnnx(): Uint8Array {
  const model = onnx.ModelProto.decode(linearClassifierOnnx());
  const w = model.graph?.initializer?.[0];
  if (!w) throw new TypeError('the test model has no initializer');
  w.rawData = new Uint8Array();
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  w.externalData = [{ key: 'location', value: '../../etc/passwd' }];
  return onnx.ModelProto.encode(model).finish();
}
