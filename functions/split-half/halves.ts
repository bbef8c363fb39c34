// The model half this service runs, behind a small seam (`HalfRunner`): today TF.js layers
// models split by the finder; an engine that runs ONNX slots in by implementing the same
// interface. Both halves build or load the same whole model and cut it at the same layer, so
// their weights agree.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, UnsupportedModelError } from '../_shared/errors.js';
import { RESNET50_CUT_POINTS, SMALL_RESNET, buildResNet50, foldResNet50 } from '../_shared/models/resnet50.js';
import { cutByFlopRatio, listCuts, splitAt, type Cut } from '../_shared/split/cuts.js';
import { createModelHandler } from '../_shared/store/model-handler.js';
import { openStore, loadStoreConfig } from '../_shared/store/index.js';
import type { Half, SplitHalfConfig } from './config.js';

type TF = typeof tfjs;

/** Runs one half on one batch-1 tensor (float32, shape without batch). */
export interface HalfRunner {
  readonly engine: string;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  run(input: Float32Array): Promise<Float32Array>;
}

export interface LoadedHalf {
  runner: HalfRunner;
  cut: Cut;
  /** Class names by index (half B); `class <i>` when the model carries none. */
  labels: (i: number) => string;
}

/** The seed's cuts: versions 1, 2, 3 cut after PyTorch's layer3, layer2, layer1 (Keras conv4, conv3, conv2). */
const SEED_CUTS: Readonly<Record<string, number>> = { v1: 3, v2: 2, v3: 1 };

export async function loadWholeModel(
  tf: TF,
  config: Pick<SplitHalfConfig, 'model' | 'seed'>,
): Promise<tfjs.LayersModel> {
  if (config.model === 'resnet50' || config.model === 'resnet-small') {
    const options = config.model === 'resnet50' ? { seed: config.seed } : { ...SMALL_RESNET, seed: config.seed };
    const trainable = buildResNet50(tf, options);
    const folded = foldResNet50(tf, trainable, options);
    trainable.dispose();
    return folded;
  }
  return tf.loadLayersModel(createModelHandler(openStore(loadStoreConfig()), config.model));
}

/** Resolves `v1`/`v2`/`v3`, `balanced`, `ratio:<f>` or a layer name to a cut of `model`. */
export function chooseCut(model: tfjs.LayersModel, spec: string): Cut {
  const cuts = listCuts(model);
  const seedStage = SEED_CUTS[spec];
  if (seedStage !== undefined) {
    const stagePrefix = RESNET50_CUT_POINTS[seedStage]?.split('_')[0] ?? '';
    const stageCuts = cuts.filter((c) => c.layer.startsWith(`${stagePrefix}_`) && c.layer.endsWith('_out'));
    const last = stageCuts.at(-1);
    if (!last)
      throw new UnsupportedModelError(
        `cut ${spec} needs a ResNet stage ${stagePrefix}; this model has none — give a layer name`,
      );
    return last;
  }
  if (spec === 'balanced') return cutByFlopRatio(cuts, 0.5);
  if (spec.startsWith('ratio:')) return cutByFlopRatio(cuts, Number(spec.slice('ratio:'.length)));
  const named = cuts.find((c) => c.layer === spec);
  if (!named)
    throw new BadInputError(`cut "${spec}" is not a layer where one tensor crosses; kaskade split --list shows them`);
  return named;
}

function tfRunner(tf: TF, model: tfjs.LayersModel): HalfRunner {
  const shape = (s: readonly (number | null)[]): number[] => s.slice(1).map((d) => d ?? 1);
  const inputShape = shape(model.inputs[0]!.shape);
  const outputShape = shape(model.outputs[0]!.shape);
  return {
    engine: `tfjs-${tf.getBackend()}`,
    inputShape,
    outputShape,
    async run(input) {
      const y = tf.tidy(() => model.predict(tf.tensor(input, [1, ...inputShape], 'float32')) as tfjs.Tensor);
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    },
  };
}

export async function loadHalf(
  tf: TF,
  config: Pick<SplitHalfConfig, 'model' | 'seed' | 'cut'>,
  half: Half,
): Promise<LoadedHalf> {
  const whole = await loadWholeModel(tf, config);
  const cut = chooseCut(whole, config.cut);
  const { front, back } = splitAt(tf, whole, cut.layer);
  const runner = tfRunner(tf, half === 'A' ? front : back);
  return { runner, cut, labels: (i) => `class ${i}` };
}
