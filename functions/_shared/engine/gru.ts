// A GRU over a whole sequence as one differentiable op on the wasm rung (the kernels in
// kernels/gru.ts), with a hand-written gradient: the input projection of every step is one
// matrix product forward (x·W + b) and the weight and input gradients are one product each
// backward; only the recurrence runs step by step, inside the kernels.
import * as tf from '@tensorflow/tfjs';
import { BackendError, BadInputError } from '../errors.js';
import { GRU_SEQUENCE, GRU_SEQUENCE_GRAD, type GruGateActivation } from './kernels/gru.js';

export interface GruSequenceOptions {
  /** Run from the last step to the first; the output stays in the order processed (as Keras). */
  goBackwards: boolean;
  recurrentActivation: GruGateActivation;
}

/** Whether the fused GRU can run now: the wasm rung is active with the kernels registered. */
export function fusedGruAvailable(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(GRU_SEQUENCE, 'wasm') !== undefined;
}

function tensors(kernel: string, out: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  if (!Array.isArray(out)) throw new BackendError(`${kernel} returned one tensor where several were expected`);
  return out;
}

function shapeOf(
  x: tf.Tensor,
  kernel: tf.Tensor,
  recurrentKernel: tf.Tensor,
  bias: tf.Tensor,
): { b: number; t: number; d: number; u: number } {
  const [b, t, d] = x.shape;
  const u = recurrentKernel.shape[0];
  if (x.rank !== 3 || b === undefined || t === undefined || d === undefined || t < 1 || u === undefined) {
    throw new BadInputError(`GRU: input must be [batch, steps ≥ 1, features], got [${x.shape.join(', ')}]`);
  }
  const fits =
    kernel.rank === 2 &&
    recurrentKernel.rank === 2 &&
    bias.rank === 1 &&
    kernel.shape[0] === d &&
    kernel.shape[1] === 3 * u &&
    recurrentKernel.shape[1] === 3 * u &&
    bias.shape[0] === 3 * u;
  if (!fits) {
    throw new BadInputError(
      `GRU: weights [${kernel.shape.join(', ')}], [${recurrentKernel.shape.join(', ')}], [${bias.shape.join(', ')}] do not fit input [${x.shape.join(', ')}]`,
    );
  }
  return { b, t, d, u };
}

/**
 * The GRU's output at every step, [batch, steps, units], from zero initial state: Keras's
 * GRU with reset_after=false and a tanh candidate. `kernel` [features, 3U], `recurrentKernel`
 * [U, 3U] and `bias` [3U] hold the z, r and candidate columns in that order, as the layer's
 * weights do. Differentiable with respect to all four inputs.
 */
export function gruSequence(
  x: tf.Tensor,
  kernel: tf.Tensor,
  recurrentKernel: tf.Tensor,
  bias: tf.Tensor,
  options: GruSequenceOptions,
): tf.Tensor3D {
  const { b, t, d, u } = shapeOf(x, kernel, recurrentKernel, bias);
  const attrs = { recurrentActivation: options.recurrentActivation, goBackwards: options.goBackwards };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, w, rec, bi, save] = args;
    if (
      !(xIn instanceof tf.Tensor && w instanceof tf.Tensor && rec instanceof tf.Tensor && bi instanceof tf.Tensor) ||
      typeof save !== 'function'
    ) {
      throw new BackendError('GRU: unexpected arguments');
    }
    const flat = tf.reshape(xIn, [b * t, d]);
    const proj = tf.reshape(tf.fused.matMul({ a: flat, b: w, bias: bi }), [b, t, 3 * u]);
    const recurrentZr = tf.slice(rec, [0, 0], [u, 2 * u]);
    const recurrentH = tf.slice(rec, [0, 2 * u], [u, u]);
    const records = tensors(
      GRU_SEQUENCE,
      tf.engine().runKernel(GRU_SEQUENCE, { proj, recurrentZr, recurrentH }, attrs),
    );
    const [h, ...forBackward] = records;
    if (h === undefined || forBackward.length !== 5)
      throw new BackendError(`${GRU_SEQUENCE} returned ${records.length} tensors, expected 6`);
    save([flat, w, recurrentZr, recurrentH, ...forBackward]);
    return {
      value: h,
      gradFunc: (dh: tf.Tensor, saved: tf.Tensor[]) => gruGradients(dh, saved, { b, t, d, u }, attrs),
    };
  });
  return tf.reshape(op(x, kernel, recurrentKernel, bias), [b, t, u]);
}

/** Gradients for x, kernel, recurrentKernel and bias, from dLoss/dh at every step. */
function gruGradients(
  dh: tf.Tensor,
  saved: tf.Tensor[],
  { b, t, d, u }: { b: number; t: number; d: number; u: number },
  attrs: { recurrentActivation: GruGateActivation; goBackwards: boolean },
): tf.Tensor[] {
  const [flat, w, recurrentZr, recurrentH, previous, zPre, rPre, candidate, resetH] = saved;
  if (
    flat === undefined ||
    w === undefined ||
    recurrentZr === undefined ||
    recurrentH === undefined ||
    previous === undefined ||
    zPre === undefined ||
    rPre === undefined ||
    candidate === undefined ||
    resetH === undefined
  ) {
    throw new BackendError('GRU gradient: the forward records are missing');
  }
  const inputs = {
    dh,
    previous,
    zPre,
    rPre,
    candidate,
    recurrentZrT: tf.transpose(recurrentZr),
    recurrentHT: tf.transpose(recurrentH),
  };
  const [dGates, dZr, dCandidate] = tensors(GRU_SEQUENCE_GRAD, tf.engine().runKernel(GRU_SEQUENCE_GRAD, inputs, attrs));
  if (dGates === undefined || dZr === undefined || dCandidate === undefined)
    throw new BackendError(`${GRU_SEQUENCE_GRAD} returned too few tensors`);
  const dFlat = tf.reshape(dGates, [b * t, 3 * u]);
  const dx = tf.reshape(tf.matMul(dFlat, w, false, true), [b, t, d]);
  const dKernel = tf.matMul(flat, dFlat, true, false);
  const dBias = tf.sum(dFlat, 0);
  const rows = (x: tf.Tensor, width: number) => tf.reshape(x, [b * t, width]);
  const dRecurrent = tf.concat(
    [
      tf.matMul(rows(previous, u), rows(dZr, 2 * u), true, false),
      tf.matMul(rows(resetH, u), rows(dCandidate, u), true, false),
    ],
    1,
  );
  return [dx, dKernel, dRecurrent, dBias];
}
