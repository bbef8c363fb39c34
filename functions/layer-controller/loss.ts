// Softmax cross-entropy on the last layer's logits, in plain arithmetic (no engine needed in
// the controller): the mean loss over a whole mini-batch, and its gradient for one micro-batch
// of it, so the micro-batch gradients the layers accumulate add up to the mini-batch's.

export interface LossResult {
  /** Sum of the per-example losses of this micro-batch (divide by the mini-batch size). */
  readonly lossSum: number;
  readonly correct: number;
  /** dLoss/dlogits for the mini-batch mean, rows of this micro-batch. */
  readonly grad: Float32Array;
}

/** `logits` [rows × classes] row-major, `labels` class ids, `batchSize` the whole mini-batch's size. */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
  batchSize: number,
): LossResult {
  const rows = labels.length;
  const grad = new Float32Array(rows * classes);
  let lossSum = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) {
      const v = logits[base + c] ?? 0;
      if (v > max) {
        max = v;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp((logits[base + c] ?? 0) - max);
    const label = labels[r] ?? 0;
    lossSum += Math.log(sum) + max - (logits[base + label] ?? 0);
    if (argmax === label) correct += 1;
    for (let c = 0; c < classes; c++) {
      const p = Math.exp((logits[base + c] ?? 0) - max) / sum;
      grad[base + c] = (p - (c === label ? 1 : 0)) / batchSize;
    }
  }
  return { lossSum, correct, grad };
}
