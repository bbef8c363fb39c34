// The model half this service runs, behind a small seam (`HalfRunner`), on the serving engine
// chosen like the rest of serving (functions/_shared/serving/choose.ts): ONNX Runtime when the
// half has an ONNX form, TF.js otherwise. A half comes from one of three places:
// - halves written by `kaskade split --out` (HALF_URI): this half's folder, as written;
// - a user's `.onnx` model (MODEL_URI): cut here on the ONNX graph;
// - a TF.js layers model (built-in ResNets, or a model folder): cut here on the layers graph,
//   and each half exported to ONNX with the project's exporter (TF.js as the fallback).
// Both halves build or load the same whole model and cut it at the same place, so they agree.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, UnsupportedModelError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import { RESNET50_CUT_POINTS, SMALL_RESNET, buildResNet50, foldResNet50 } from '../_shared/models/resnet50.js';
import { chooseEngine, describeChoice, type ModelForms } from '../_shared/serving/choose.js';
import { loadServingConfig, type ServingConfig } from '../_shared/serving/config.js';
import { checkExportable, exportOnnx, MODEL_ONNX_FILE } from '../_shared/serving/export-onnx.js';
import { loadOrt, openOnnxModel } from '../_shared/serving/onnx-model.js';
import type { ServingModel } from '../_shared/serving/types.js';
import { cutByFlopRatio, listCuts, splitAt, type Cut } from '../_shared/split/cuts.js';
import { listOnnxCuts, splitOnnx } from '../_shared/split/onnx-cuts.js';
import { halfFolder, readSplitFile } from '../_shared/split/stored.js';
import { createModelHandler, MODEL_JSON } from '../_shared/store/model-handler.js';
import { openStore, loadStoreConfig } from '../_shared/store/index.js';
import type { Store } from '../_shared/store/types.js';
import type { Half, SplitHalfConfig } from './config.js';
import { loadLabels, numberedLabels, type Labels } from './labels.js';

type TF = typeof tfjs;

/** Runs one half on one batch-1 tensor (float32, shape without batch). */
export interface HalfRunner {
  readonly engine: string;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** `handOver`: the caller is done with `input` and its whole buffer, which the engine may move instead of copying. */
  run(input: Float32Array, handOver?: boolean): Promise<Float32Array>;
}

export interface LoadedHalf {
  runner: HalfRunner;
  cut: Cut;
  /** Class names by index (half B); `class <i>` when none are known. */
  labels: Labels;
}

export type HalfSource = Pick<SplitHalfConfig, 'model' | 'seed' | 'cut'> &
  Partial<Pick<SplitHalfConfig, 'halves' | 'labels' | 'serving'>>;

export interface HalfDepsIn {
  /** The store MODEL_URI, HALF_URI and SPLIT_LABELS are read from (default: from the environment). */
  store?: Store;
  logger?: Pick<Logger, 'info'>;
}

/** The seed's cuts: versions 1, 2, 3 cut after PyTorch's layer3, layer2, layer1 (Keras conv4, conv3, conv2). */
const SEED_CUTS: Readonly<Record<string, number>> = { v1: 3, v2: 2, v3: 1 };

/** True for a MODEL_URI that names an ONNX file rather than a model folder. */
export function isOnnxUri(uri: string): boolean {
  return /^(file|gs):\/\/.*\.onnx$/i.test(uri);
}

export async function loadWholeModel(
  tf: TF,
  config: Pick<SplitHalfConfig, 'model' | 'seed'>,
  store?: Store,
): Promise<tfjs.LayersModel> {
  if (config.model === 'resnet50' || config.model === 'resnet-small') {
    const options = config.model === 'resnet50' ? { seed: config.seed } : { ...SMALL_RESNET, seed: config.seed };
    const trainable = buildResNet50(tf, options);
    const folded = foldResNet50(tf, trainable, options);
    trainable.dispose();
    return folded;
  }
  if (isOnnxUri(config.model))
    throw new UnsupportedModelError(`${config.model} is an ONNX model; it is cut on its ONNX graph`);
  return tf.loadLayersModel(createModelHandler(store ?? openStore(loadStoreConfig()), config.model));
}

function pickCut(cuts: readonly Cut[], spec: string, stageOf: (stage: number) => (c: Cut) => boolean): Cut {
  const seedStage = SEED_CUTS[spec];
  if (seedStage !== undefined) {
    const last = cuts.filter(stageOf(seedStage)).at(-1);
    if (!last)
      throw new UnsupportedModelError(
        `cut ${spec} needs ResNet stage ${seedStage + 1} (PyTorch's layer${seedStage}); this model has none — give a cut name`,
      );
    return last;
  }
  if (spec === 'balanced') return cutByFlopRatio(cuts, 0.5);
  if (spec.startsWith('ratio:')) return cutByFlopRatio(cuts, Number(spec.slice('ratio:'.length)));
  const named = cuts.find((c) => c.layer === spec);
  if (!named)
    throw new BadInputError(`cut "${spec}" is not a place where one tensor crosses; kaskade split --list shows them`);
  return named;
}

/** Resolves `v1`/`v2`/`v3`, `balanced`, `ratio:<f>` or a layer name to a cut of `model`. */
export function chooseCut(model: tfjs.LayersModel, spec: string): Cut {
  return pickCut(listCuts(model), spec, (stage) => {
    const prefix = `${RESNET50_CUT_POINTS[stage]?.split('_')[0] ?? ''}_`;
    return (c) => c.layer.startsWith(prefix) && c.layer.endsWith('_out');
  });
}

/**
 * The same for the cuts of an ONNX graph, named by their crossing tensor: Kaskade's exports keep
 * Keras names (`conv3_block4_out_relu`), torchvision's exports PyTorch's (`/layer2/layer2.3/relu_2/Relu_output_0`).
 */
export function chooseOnnxCut(cuts: readonly Cut[], spec: string): Cut {
  return pickCut(cuts, spec, (stage) => {
    const keras = new RegExp(`^conv${stage + 1}_block\\d+_out`);
    const torch = new RegExp(`(^|[/._])layer${stage}([/._]|$)`);
    return (c) => keras.test(c.layer) || torch.test(c.layer);
  });
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

/** A served ONNX model with one float input and one float output, as a half. */
export function onnxRunner(model: ServingModel, what: string): HalfRunner {
  const [input] = model.inputs;
  const [output] = model.outputs;
  if (!input || !output || model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new UnsupportedModelError(`${what}: a half has one input and one output`);
  const fixed = (shape: readonly number[], side: string): number[] => {
    const rest = shape.slice(1);
    if (rest.some((d) => d < 0))
      throw new UnsupportedModelError(
        `${what}: ${side} shape [${shape.join(',')}] has a dynamic dimension past the batch`,
      );
    return rest;
  };
  const inputShape = fixed(input.shape, 'input');
  const outputShape = fixed(output.shape, 'output');
  const feedShape = [1, ...inputShape];
  return {
    engine: 'onnxruntime',
    inputShape,
    outputShape,
    async run(data, handOver) {
      const out = await model.run(
        { [input.name]: { dtype: 'float32', shape: feedShape, data } },
        { handOver: handOver === true },
      );
      const y = out[output.name];
      if (!(y?.data instanceof Float32Array)) throw new UnsupportedModelError(`${what}: output is not FP32`);
      return y.data;
    },
  };
}

interface Context {
  tf: TF;
  half: Half;
  serving: ServingConfig;
  store: () => Store;
  logger: Pick<Logger, 'info'> | undefined;
}

async function onEngine(
  ctx: Context,
  forms: ModelForms,
  what: string,
  load: { onnx: () => Promise<Uint8Array>; tfjs: () => Promise<tfjs.LayersModel> },
): Promise<HalfRunner> {
  const engine = chooseEngine(ctx.serving.engine, forms, what);
  const ortVersion = engine === 'onnx' ? (await loadOrt()).env.versions.node : undefined;
  ctx.logger?.info(describeChoice(engine, ctx.serving.engine, forms, what, ctx.serving.onnx, ortVersion));
  if (engine === 'tfjs') return tfRunner(ctx.tf, await load.tfjs());
  return onnxRunner(await openOnnxModel(await load.onnx(), ctx.serving.onnx, what), what);
}

/** Exports a TF.js half with channels-first at the cut, so the two halves meet without transposes. */
export function exportHalf(model: tfjs.LayersModel, half: Half): Uint8Array {
  return exportOnnx(model, half === 'A' ? { channelsFirstOutputs: true } : { channelsFirstInputs: true });
}

/** True when the exporter writes every layer of `model`. */
export function exportable(model: tfjs.LayersModel): boolean {
  try {
    checkExportable(model);
    return true;
  } catch (e) {
    if (e instanceof UnsupportedModelError) return false;
    throw e;
  }
}

async function fromStoredHalves(ctx: Context, url: string): Promise<{ runner: HalfRunner; cut: Cut }> {
  const stored = await readSplitFile(ctx.store(), url);
  const folder = halfFolder(url, ctx.half);
  const forms = {
    onnx: await ctx.store().exists(`${folder}${MODEL_ONNX_FILE}`),
    tfjs: await ctx.store().exists(`${folder}${MODEL_JSON}`),
  };
  const runner = await onEngine(ctx, forms, folder, {
    onnx: () => ctx.store().read(`${folder}${MODEL_ONNX_FILE}`),
    tfjs: () => ctx.tf.loadLayersModel(createModelHandler(ctx.store(), folder)),
  });
  return { runner, cut: stored.cut };
}

async function fromOnnxModel(ctx: Context, uri: string, spec: string): Promise<{ runner: HalfRunner; cut: Cut }> {
  const bytes = await ctx.store().read(uri);
  const cut = chooseOnnxCut((await listOnnxCuts(bytes, uri)).cuts, spec);
  const halves = splitOnnx(bytes, cut, uri);
  const what = `${uri} (half ${ctx.half}, cut at ${cut.layer})`;
  const runner = await onEngine(ctx, { onnx: true, tfjs: false }, what, {
    onnx: () => Promise.resolve(ctx.half === 'A' ? halves.front : halves.back),
    tfjs: () => Promise.reject(new UnsupportedModelError(`${uri} has no TF.js form`)),
  });
  return { runner, cut };
}

async function fromLayersModel(ctx: Context, source: HalfSource): Promise<{ runner: HalfRunner; cut: Cut }> {
  const whole = await loadWholeModel(ctx.tf, source, source.model.includes('://') ? ctx.store() : undefined);
  const cut = chooseCut(whole, source.cut);
  const { front, back } = splitAt(ctx.tf, whole, cut.layer);
  const model = ctx.half === 'A' ? front : back;
  const what = `${source.model} (half ${ctx.half}, cut at ${cut.layer})`;
  const runner = await onEngine(ctx, { onnx: exportable(model), tfjs: true }, what, {
    onnx: () => Promise.resolve(exportHalf(model, ctx.half)),
    tfjs: () => Promise.resolve(model),
  });
  // On ONNX Runtime the TF.js weights are no longer needed (the halves share the whole's).
  if (runner.engine === 'onnxruntime') whole.dispose();
  return { runner, cut };
}

export async function loadHalf(tf: TF, source: HalfSource, half: Half, deps: HalfDepsIn = {}): Promise<LoadedHalf> {
  let store = deps.store;
  const ctx: Context = {
    tf,
    half,
    serving: source.serving ?? loadServingConfig({}),
    store: () => (store ??= openStore(loadStoreConfig())),
    logger: deps.logger,
  };
  const { runner, cut } = source.halves
    ? await fromStoredHalves(ctx, source.halves)
    : isOnnxUri(source.model)
      ? await fromOnnxModel(ctx, source.model, source.cut)
      : await fromLayersModel(ctx, source);
  const classes = runner.outputShape.reduce((a, b) => a * b, 1);
  const labels = half === 'B' ? await loadLabels(source.labels ?? 'auto', classes, ctx.store) : numberedLabels;
  return { runner, cut, labels };
}
