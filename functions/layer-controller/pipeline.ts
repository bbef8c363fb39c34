// One training step through the layer chain: the mini-batch is cut into M micro-batches that
// stream forward through the K layers (layer k works on micro-batch m while layer k+1 works on
// m−1), the loss gradient of each comes back through them, and once every micro-batch's
// backward is in, each layer applies its accumulated gradients once.
//
// Schedules: `gpipe` runs every forward, then every backward (GPipe: M activations held per
// layer); `1f1b` starts a micro-batch's backward as soon as its logits are in and admits at most
// K micro-batches at a time (PipeDream's one-forward-one-backward with a flush: at most K held).
// Either way the weights change only at the end of the step, so the result equals one
// mini-batch step of the same network (up to float summation order).
//
// A failed layer call fails the step: the other calls in flight are awaited, every layer
// discards the step's gradients and kept inputs, and a StepError names the layer and cause.
// Nothing continues on stale data.
import { KaskadeError, UnavailableError } from '../_shared/errors.js';
import { decodeTensors, encodeTensors } from '../_shared/wire/index.js';
import type { MicrobatchRef } from '../../events/layers.js';
import type { LayerClient } from '../../events/layer-client.js';
import { softmaxCrossEntropy } from './loss.js';

export type Schedule = 'gpipe' | '1f1b';

export interface MiniBatch {
  /** Inputs, row-major, `rows × ∏ exampleShape`. */
  readonly x: Float32Array;
  readonly labels: Uint8Array | Int32Array;
  readonly rows: number;
  readonly exampleShape: readonly number[];
  readonly classes: number;
}

export interface StepOptions {
  readonly jobId: string;
  readonly step: number;
  readonly microbatches: number;
  readonly schedule: Schedule;
  readonly learningRate?: number | undefined;
}

export interface StepResult {
  readonly loss: number;
  readonly correct: number;
  readonly rows: number;
  /**
   * Tensor bytes that crossed each boundary, summed over the micro-batches: index 0 is the
   * input of layer 0, index k the output of layer k−1 (forward) and its gradient (backward).
   */
  readonly forwardHopBytes: number[];
  readonly backwardHopBytes: number[];
}

/** Fails a step; `cause` is the layer call's typed error. */
export class StepError extends UnavailableError {}

/** Row ranges of M near-equal micro-batches (the first `rows % M` one row longer). */
export function microbatchRanges(rows: number, microbatches: number): Array<[number, number]> {
  const m = Math.max(1, Math.min(microbatches, rows));
  const base = Math.floor(rows / m);
  const extra = rows % m;
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < m; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

export function onlyTensor(body: Uint8Array): { shape: number[]; data: Float32Array } {
  const { tensors } = decodeTensors(body);
  const [wire] = Object.values(tensors);
  if (wire?.dtype !== 'F32') throw new UnavailableError('a layer answered without one float32 tensor');
  return { shape: wire.shape, data: wire.data };
}

/** Runs a limited number of async tasks at a time, in order of admission. */
function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((go) => waiting.push(go));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}

/** Forward of one micro-batch through every layer; the last layer's answer (the logits). */
export async function forwardChain(
  layers: readonly LayerClient[],
  ref: MicrobatchRef,
  input: Uint8Array,
  hopBytes: number[] = [],
): Promise<Uint8Array> {
  let body = input;
  for (let k = 0; k < layers.length; k++) {
    hopBytes[k] = (hopBytes[k] ?? 0) + body.byteLength;
    body = await (layers[k] as LayerClient).forward(ref, body);
  }
  hopBytes[layers.length] = (hopBytes[layers.length] ?? 0) + body.byteLength;
  return body;
}

/** Backward of one micro-batch from the last layer to the first (which returns no input gradient). */
export async function backwardChain(
  layers: readonly LayerClient[],
  ref: MicrobatchRef,
  dy: Uint8Array,
  hopBytes: number[] = [],
): Promise<void> {
  let body = dy;
  for (let k = layers.length - 1; k >= 0; k--) {
    hopBytes[k + 1] = (hopBytes[k + 1] ?? 0) + body.byteLength;
    body = await (layers[k] as LayerClient).backward(ref, body, k > 0);
  }
}

function stepError(options: StepOptions, e: unknown): StepError {
  const why = e instanceof Error ? e.message : String(e);
  return new StepError(`job ${options.jobId} step ${options.step} failed: ${why}`, { cause: e });
}

/** Waits for every task, then throws the first failure (so no call is left running behind the error). */
async function settleAll<T>(tasks: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** One training step on a labelled mini-batch; the loss is the mean softmax cross-entropy. */
export async function trainStep(
  layers: readonly LayerClient[],
  batch: MiniBatch,
  options: StepOptions,
): Promise<StepResult> {
  const exampleSize = batch.exampleShape.reduce((a, b) => a * b, 1);
  const ranges = microbatchRanges(batch.rows, options.microbatches);
  const forwardBytes: number[] = [];
  const backwardBytes: number[] = [];
  let lossSum = 0;
  let correct = 0;
  const inputOf = (start: number, end: number): Uint8Array =>
    encodeTensors({
      x: {
        dtype: 'F32',
        shape: [end - start, ...batch.exampleShape],
        data: batch.x.subarray(start * exampleSize, end * exampleSize),
      },
    });
  const lossGrad = (logits: Uint8Array, start: number, end: number): Uint8Array => {
    const out = onlyTensor(logits);
    const result = softmaxCrossEntropy(out.data, batch.labels.subarray(start, end), batch.classes, batch.rows);
    lossSum += result.lossSum;
    correct += result.correct;
    return encodeTensors({ dy: { dtype: 'F32', shape: out.shape, data: result.grad } });
  };
  try {
    if (options.schedule === 'gpipe') {
      const logits = await settleAll(
        ranges.map(([s, e], m) => forwardChain(layers, ref(options, m), inputOf(s, e), forwardBytes)),
      );
      await settleAll(
        ranges.map(([s, e], m) =>
          backwardChain(layers, ref(options, m), lossGrad(logits[m] as Uint8Array, s, e), backwardBytes),
        ),
      );
    } else {
      const admit = limiter(Math.max(1, layers.length));
      await settleAll(
        ranges.map(([s, e], m) =>
          admit(async () => {
            const logits = await forwardChain(layers, ref(options, m), inputOf(s, e), forwardBytes);
            await backwardChain(layers, ref(options, m), lossGrad(logits, s, e), backwardBytes);
          }),
        ),
      );
    }
    await settleAll(
      layers.map((layer) => layer.apply(options.jobId, options.step, ranges.length, options.learningRate)),
    );
  } catch (e) {
    await Promise.allSettled(layers.map((layer) => layer.discard(options.jobId, options.step)));
    if (e instanceof KaskadeError && e.httpStatus === 400) throw e;
    throw stepError(options, e);
  }
  return {
    loss: lossSum / batch.rows,
    correct,
    rows: batch.rows,
    forwardHopBytes: forwardBytes,
    backwardHopBytes: backwardBytes,
  };
}

function ref(options: StepOptions, microbatch: number): MicrobatchRef {
  return { jobId: options.jobId, step: options.step, microbatch };
}

/** Inference through the chain (no activations kept); the logits, rows × classes. */
export async function predict(
  layers: readonly LayerClient[],
  jobId: string,
  x: Float32Array,
  rows: number,
  exampleShape: readonly number[],
): Promise<{ shape: number[]; data: Float32Array }> {
  let body: Uint8Array = encodeTensors({ x: { dtype: 'F32', shape: [rows, ...exampleShape], data: x } });
  for (const layer of layers) body = await layer.forward({ jobId, step: 0, microbatch: 0 }, body, false);
  return onlyTensor(body);
}
