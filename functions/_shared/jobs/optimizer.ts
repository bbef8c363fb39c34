// The optimizer a job trains with, by name, so it can be written in the job record and rebuilt
// by every shard trainer: each round a trainer starts a fresh optimizer of that kind and
// learning rate on the round's global weights (optimizer state is local to a round, as in FedAvg).
import type * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import { labelEncoding } from '../train/loop.js';

type TF = typeof tf;

export const OPTIMIZERS = ['adam', 'rmsprop', 'sgd'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

const BY_CLASS: Readonly<Record<string, OptimizerKind>> = { Adam: 'adam', RMSProp: 'rmsprop', SGD: 'sgd' };

/** The kind and learning rate of a compiled model's optimizer. */
export function optimizerOf(model: tf.LayersModel): { kind: OptimizerKind; learningRate: number } {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  if (optimizer === undefined) throw new BadInputError(`model ${model.name} is not compiled`);
  const kind = BY_CLASS[optimizer.getClassName()];
  if (kind === undefined)
    throw new BadInputError(
      `model ${model.name}: optimizer ${optimizer.getClassName()} is not one of ${OPTIMIZERS.join(', ')}`,
    );
  const learningRate = optimizer.getConfig().learningRate;
  if (typeof learningRate !== 'number' || !(learningRate > 0))
    throw new BadInputError(`model ${model.name}: optimizer has no learning rate`);
  return { kind, learningRate };
}

export function makeOptimizer(tfjs: TF, kind: OptimizerKind, learningRate: number): tf.Optimizer {
  switch (kind) {
    case 'adam':
      return tfjs.train.adam(learningRate);
    case 'rmsprop':
      return tfjs.train.rmsprop(learningRate);
    case 'sgd':
      return tfjs.train.sgd(learningRate);
  }
}

/**
 * Compiles a model loaded from the job's architecture for local training on `classes` classes.
 * Answers the optimizer: the caller disposes it (model.dispose() leaves an optimizer it was given).
 */
export function compileForTraining(
  tfjs: TF,
  model: tf.LayersModel,
  kind: OptimizerKind,
  learningRate: number,
  classes: number,
): tf.Optimizer {
  const loss = labelEncoding(model, classes) === 'binary' ? 'binaryCrossentropy' : 'categoricalCrossentropy';
  const optimizer = makeOptimizer(tfjs, kind, learningRate);
  model.compile({ optimizer, loss });
  return optimizer;
}
