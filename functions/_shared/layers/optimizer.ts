// The optimizers a layer service applies its accumulated gradients with, with their state as
// plain named tensors, so a checkpoint holds it and a restarted layer carries on where it
// stopped (the original design made a new Adam on every call and lost the moments). Adam
// follows TF.js's and PyTorch's update: bias-corrected moments, ε added to √v̂.
import type * as tfjs from '@tensorflow/tfjs';
import { z } from 'zod';
import { BadInputError } from '../errors.js';

type TF = typeof tfjs;

export const optimizerSpecSchema = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('adam'),
    learningRate: z.number().gt(0).max(10).default(0.001),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().gt(0).max(1).default(1e-7),
  }),
  z.strictObject({
    name: z.literal('sgd'),
    learningRate: z.number().gt(0).max(10).default(0.01),
    momentum: z.number().min(0).lt(1).default(0),
  }),
]);

export type OptimizerSpec = z.infer<typeof optimizerSpecSchema>;

export const DEFAULT_OPTIMIZER: OptimizerSpec = {
  name: 'adam',
  learningRate: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
};

export function parseOptimizerSpec(value: unknown): OptimizerSpec {
  if (value === undefined) return DEFAULT_OPTIMIZER;
  const result = optimizerSpecSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? `optimizer.${issue.path.map(String).join('.')}` : 'optimizer';
  throw new BadInputError(`${field}: ${issue?.message ?? 'invalid'}`);
}

/** Optimizer state: the step count and one or two slots per parameter (`m.<name>`, `v.<name>`). */
export interface OptimizerState {
  step: number;
  readonly slots: Map<string, tfjs.Tensor>;
}

export function emptyOptimizerState(): OptimizerState {
  return { step: 0, slots: new Map() };
}

/**
 * Applies one update in place: each `params[name]` variable moves by its gradient at
 * `learningRate` (the spec's when absent). The old slot tensors are disposed.
 */
export function applyUpdate(
  tf: TF,
  spec: OptimizerSpec,
  state: OptimizerState,
  params: Readonly<Record<string, tfjs.Variable>>,
  grads: Readonly<Record<string, tfjs.Tensor>>,
  learningRate: number = spec.learningRate,
): void {
  state.step += 1;
  const t = state.step;
  for (const [name, variable] of Object.entries(params)) {
    const g = grads[name];
    if (g === undefined) continue;
    if (spec.name === 'adam') {
      const { beta1, beta2, epsilon } = spec;
      const m = slot(tf, state, `m.${name}`, variable);
      const v = slot(tf, state, `v.${name}`, variable);
      const m2 = tf.tidy(() => tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
      const v2 = tf.tidy(() => tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
      tf.tidy(() => {
        const mHat = tf.div(m2, 1 - beta1 ** t);
        const vHat = tf.div(v2, 1 - beta2 ** t);
        variable.assign(tf.add(variable, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -learningRate)));
      });
      replaceSlot(state, `m.${name}`, m2);
      replaceSlot(state, `v.${name}`, v2);
    } else if (spec.momentum > 0) {
      const b = slot(tf, state, `m.${name}`, variable);
      const b2 = tf.tidy(() => tf.add(tf.mul(b, spec.momentum), g));
      tf.tidy(() => variable.assign(tf.sub(variable, tf.mul(b2, learningRate))));
      replaceSlot(state, `m.${name}`, b2);
    } else {
      tf.tidy(() => variable.assign(tf.sub(variable, tf.mul(g, learningRate))));
    }
  }
}

function slot(tf: TF, state: OptimizerState, key: string, like: tfjs.Tensor): tfjs.Tensor {
  let s = state.slots.get(key);
  if (s === undefined) {
    s = tf.zerosLike(like);
    state.slots.set(key, s);
  }
  return s;
}

function replaceSlot(state: OptimizerState, key: string, next: tfjs.Tensor): void {
  state.slots.get(key)?.dispose();
  state.slots.set(key, next);
}

export function disposeOptimizerState(state: OptimizerState): void {
  for (const t of state.slots.values()) t.dispose();
  state.slots.clear();
}
