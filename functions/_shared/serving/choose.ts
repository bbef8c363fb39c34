// Which engine serves a loaded model: KASKADE_SERVING_ENGINE forces one, and by default (auto)
// ONNX Runtime runs every model that has an ONNX form, TF.js the others. The choice is logged
// with the settings that shape its speed.
import { UnsupportedModelError } from '../errors.js';
import type { EngineSetting, OnnxSettings } from './config.js';
import type { ServingEngineName } from './types.js';

/** The forms a published model comes in: model.json (TF.js layers) and/or model.onnx. */
export interface ModelForms {
  readonly onnx: boolean;
  readonly tfjs: boolean;
}

export function chooseEngine(setting: EngineSetting, forms: ModelForms, what: string): ServingEngineName {
  if (setting === 'onnx' && !forms.onnx)
    throw new UnsupportedModelError(`KASKADE_SERVING_ENGINE=onnx but ${what} has no ONNX form (model.onnx)`);
  if (setting === 'tfjs' && !forms.tfjs)
    throw new UnsupportedModelError(
      `KASKADE_SERVING_ENGINE=tfjs but ${what} has no TF.js form (model.json); it is ONNX only`,
    );
  if (setting !== 'auto') return setting;
  if (forms.onnx) return 'onnx';
  if (forms.tfjs) return 'tfjs';
  throw new UnsupportedModelError(`${what} has neither model.onnx nor model.json`);
}

/** One log line: the engine chosen for `what`, why, and how it is set up. */
export function describeChoice(
  engine: ServingEngineName,
  setting: EngineSetting,
  forms: ModelForms,
  what: string,
  onnx: OnnxSettings,
  ortVersion?: string,
): string {
  const why =
    setting === 'auto'
      ? engine === 'onnx'
        ? 'auto: the model has an ONNX form'
        : 'auto: no ONNX form, falling back to TF.js'
      : `KASKADE_SERVING_ENGINE=${setting}`;
  const forms_ = [forms.onnx ? 'model.onnx' : '', forms.tfjs ? 'model.json' : ''].filter((f) => f !== '').join(' + ');
  const detail =
    engine === 'onnx'
      ? `onnxruntime-node ${ortVersion ?? '?'}, providers ${onnx.executionProviders.join(',')}, ${onnx.intraOpThreads} intra-op / ${onnx.interOpThreads} inter-op thread(s), graph optimisation ${onnx.graphOptimization}`
      : 'TF.js on the process backend';
  return `serving engine: ${engine} for ${what} (${forms_}; ${why}; ${detail})`;
}
