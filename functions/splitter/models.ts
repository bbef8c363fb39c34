// The architectures a training request may name, and the check that one fits the data. Only
// the splitter builds models from a name: it saves the architecture in the job folder, and the
// trainers and the aggregator load it from there.
import type * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../_shared/errors.js';
import type { Dataset } from '../_shared/data/types.js';
import { buildImdbModel } from '../_shared/models/imdb.js';
import { buildMnistCnn } from '../_shared/models/mnist-cnn.js';
import { labelEncoding } from '../_shared/train/loop.js';

type TF = typeof tf;

export const MODEL_NAMES = ['mnist-cnn', 'imdb-fast', 'imdb-bigru'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export function checkModelName(name: string): ModelName {
  const known = MODEL_NAMES.find((m) => m === name);
  if (known === undefined) throw new BadInputError(`data.model: unknown model "${name}" (${MODEL_NAMES.join(', ')})`);
  return known;
}

/** Which kind of data a model takes, checked before the data is loaded. */
export function modelTakes(name: ModelName): Dataset['kind'] {
  return name === 'mnist-cnn' ? 'image' : 'text';
}

/**
 * Builds and compiles the model for `dataset` (initialised from `seed` where the architecture
 * allows it); BadInputError when it cannot take that data.
 */
export function buildModel(tfjs: TF, name: ModelName, dataset: Dataset, seed: number): tf.LayersModel {
  if (modelTakes(name) !== dataset.kind)
    throw new BadInputError(`model "${name}" takes ${modelTakes(name)} data; ${dataset.name} is ${dataset.kind}`);
  const model =
    dataset.kind === 'text'
      ? buildImdbModel(tfjs, name === 'imdb-bigru' ? 'imdb-bigru' : 'imdb-fast', {
          numWords: dataset.words.length + 3,
          maxLen: dataset.train.shape[0] ?? 1,
          seed,
        })
      : buildMnistCnn(tfjs, { seed });
  try {
    const input = model.inputs[0]?.shape.slice(1) ?? [];
    const shape = dataset.train.shape;
    if (input.length !== shape.length || input.some((d, i) => d !== null && d !== shape[i])) {
      throw new BadInputError(
        `model "${name}" takes [${input.join(', ')}] examples; ${dataset.name} has [${shape.join(', ')}]`,
      );
    }
    labelEncoding(model, dataset.train.classes);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
