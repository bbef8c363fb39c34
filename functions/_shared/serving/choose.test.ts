// The serving engine per model: ONNX Runtime when the model has an ONNX form, TF.js otherwise,
// unless KASKADE_SERVING_ENGINE forces one; and the settings that shape ONNX Runtime.
import { describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedModelError } from '../errors.js';
import { chooseEngine, describeChoice } from './choose.js';
import { loadServingConfig } from './config.js';

describe('chooseEngine', () => {
  it.each([
    {
      name: 'auto picks ONNX when there is model.onnx',
      setting: 'auto',
      forms: { onnx: true, tfjs: true },
      engine: 'onnx',
    },
    {
      name: 'auto falls back to TF.js when there is no ONNX form',
      setting: 'auto',
      forms: { onnx: false, tfjs: true },
      engine: 'tfjs',
    },
    {
      name: 'auto serves an ONNX-only model on ONNX',
      setting: 'auto',
      forms: { onnx: true, tfjs: false },
      engine: 'onnx',
    },
    { name: 'tfjs forced over an ONNX form', setting: 'tfjs', forms: { onnx: true, tfjs: true }, engine: 'tfjs' },
    { name: 'onnx forced', setting: 'onnx', forms: { onnx: true, tfjs: true }, engine: 'onnx' },
  ] as const)('$name', ({ setting, forms, engine }) => {
    expect(chooseEngine(setting, forms, 'the model')).toBe(engine);
  });

  it.each([
    {
      name: 'onnx forced on a model without model.onnx',
      setting: 'onnx',
      forms: { onnx: false, tfjs: true },
      message: /KASKADE_SERVING_ENGINE=onnx but the model has no ONNX form/,
    },
    {
      name: 'tfjs forced on an ONNX-only model',
      setting: 'tfjs',
      forms: { onnx: true, tfjs: false },
      message: /KASKADE_SERVING_ENGINE=tfjs but the model has no TF.js form/,
    },
    {
      name: 'a folder with neither form',
      setting: 'auto',
      forms: { onnx: false, tfjs: false },
      message: /neither model.onnx nor model.json/,
    },
  ] as const)('refuses $name', ({ setting, forms, message }) => {
    expect(() => chooseEngine(setting, forms, 'the model')).toThrow(UnsupportedModelError);
    expect(() => chooseEngine(setting, forms, 'the model')).toThrow(message);
  });

  it('describes the choice with the reason and the ONNX settings', () => {
    const { onnx } = loadServingConfig({ KASKADE_ONNX_THREADS: '2' });
    expect(describeChoice('onnx', 'auto', { onnx: true, tfjs: true }, 'file:///m/', onnx, '1.30.0')).toBe(
      'serving engine: onnx for file:///m/ (model.onnx + model.json; auto: the model has an ONNX form; onnxruntime-node 1.30.0, providers cpu, 2 intra-op / 1 inter-op thread(s), graph optimisation all)',
    );
    expect(describeChoice('tfjs', 'auto', { onnx: false, tfjs: true }, 'file:///m/', onnx)).toContain(
      'auto: no ONNX form, falling back to TF.js',
    );
  });
});

describe('loadServingConfig', () => {
  it('defaults: auto engine, one thread each, full graph optimisation, CPU, sessions off the event loop', () => {
    expect(loadServingConfig({})).toEqual({
      engine: 'auto',
      onnx: {
        intraOpThreads: 1,
        interOpThreads: 1,
        graphOptimization: 'all',
        executionProviders: ['cpu'],
        ownThread: true,
      },
    });
  });

  it('reads every variable', () => {
    const env = {
      KASKADE_SERVING_ENGINE: 'tfjs',
      KASKADE_ONNX_THREADS: '4',
      KASKADE_ONNX_INTER_OP_THREADS: '2',
      KASKADE_ONNX_GRAPH_OPTIMIZATION: 'basic',
      KASKADE_ONNX_EXECUTION_PROVIDERS: 'cuda, cpu',
      KASKADE_ONNX_OWN_THREAD: 'off',
    };
    expect(loadServingConfig(env)).toEqual({
      engine: 'tfjs',
      onnx: {
        intraOpThreads: 4,
        interOpThreads: 2,
        graphOptimization: 'basic',
        executionProviders: ['cuda', 'cpu'],
        ownThread: false,
      },
    });
  });

  it.each([
    { name: 'an unknown engine', env: { KASKADE_SERVING_ENGINE: 'pytorch' }, variable: 'KASKADE_SERVING_ENGINE' },
    { name: 'zero threads', env: { KASKADE_ONNX_THREADS: '0' }, variable: 'KASKADE_ONNX_THREADS' },
    {
      name: 'an own-thread switch that is not on/off',
      env: { KASKADE_ONNX_OWN_THREAD: 'yes' },
      variable: 'KASKADE_ONNX_OWN_THREAD',
    },
    {
      name: 'fractional inter-op threads',
      env: { KASKADE_ONNX_INTER_OP_THREADS: '1.5' },
      variable: 'KASKADE_ONNX_INTER_OP_THREADS',
    },
    {
      name: 'an unknown optimisation level',
      env: { KASKADE_ONNX_GRAPH_OPTIMIZATION: 'max' },
      variable: 'KASKADE_ONNX_GRAPH_OPTIMIZATION',
    },
    {
      name: 'an unknown provider',
      env: { KASKADE_ONNX_EXECUTION_PROVIDERS: 'cpu,tpu' },
      variable: 'KASKADE_ONNX_EXECUTION_PROVIDERS',
    },
  ])('refuses $name, naming the variable', ({ env, variable }) => {
    expect(() => loadServingConfig(env)).toThrow(ConfigError);
    expect(() => loadServingConfig(env)).toThrow(variable);
  });
});
