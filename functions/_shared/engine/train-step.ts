// A lean training step for any layers model: one tidy per step, gradients through the
// optimizer's minimize, the loss handed back as a scalar tensor (read it only when needed:
// reading forces a sync). Nothing else outlives the step; the optimizer's own slots are
// created on the first step and reused.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';

type TF = typeof tfjs;
export type LossFn = (yTrue: tfjs.Tensor, yPred: tfjs.Tensor) => tfjs.Tensor;
export const LOSS_NAMES = ['categoricalCrossentropy', 'binaryCrossentropy', 'meanSquaredError'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

export interface TrainStepOptions {
  /** Defaults to the optimizer the model was compiled with. */
  optimizer?: tfjs.Optimizer;
  /** A loss name or function of (labels, predictions); default categorical cross-entropy. */
  loss?: LossName | LossFn;
}

/** Runs one optimisation step on a batch and returns the mean loss (the caller disposes it). */
export type TrainStep = (xs: tfjs.Tensor, ys: tfjs.Tensor) => tfjs.Scalar;

export function lossByName(tf: TF, name: LossName): LossFn {
  switch (name) {
    case 'categoricalCrossentropy':
      return tf.metrics.categoricalCrossentropy;
    case 'binaryCrossentropy':
      return tf.metrics.binaryCrossentropy;
    case 'meanSquaredError':
      return tf.metrics.meanSquaredError;
  }
}

export function makeTrainStep(tf: TF, model: tfjs.LayersModel, options: TrainStepOptions = {}): TrainStep {
  const optimizer = options.optimizer ?? model.optimizer;
  if (!(optimizer instanceof tf.Optimizer))
    throw new BadInputError('makeTrainStep: the model is not compiled and no optimizer was given');
  const loss =
    typeof options.loss === 'function' ? options.loss : lossByName(tf, options.loss ?? 'categoricalCrossentropy');
  const variables = model.trainableWeights
    .map((w) => w.read())
    .filter((v): v is tfjs.Variable => v instanceof tf.Variable);
  return (xs, ys) =>
    tf.tidy(() => {
      const cost = optimizer.minimize(
        () => {
          const predicted = model.apply(xs, { training: true });
          if (!(predicted instanceof tf.Tensor))
            throw new BadInputError('makeTrainStep: the model must have one output');
          return tf.mean(loss(ys, predicted));
        },
        true,
        variables,
      );
      if (cost === null) throw new BadInputError('makeTrainStep: the optimizer returned no loss');
      return cost;
    });
}
