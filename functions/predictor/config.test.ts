// The predictor's configuration: where the models are (a folder of many, or one prefix), how
// they load and unload, and a ConfigError naming the variable for anything wrong.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../_shared/errors.js';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('serves every model under KASKADE_MODELS_URL, loading at start by default', () => {
    const config = loadConfig({ KASKADE_MODELS_URL: 'gs://bucket/models' });
    expect(config.source).toEqual({ kind: 'many', modelsUrl: 'gs://bucket/models/' });
    expect(config).toMatchObject({ loadAt: 'start', idleUnloadMs: 900_000, memoryBudgetBytes: 512 * 1024 * 1024 });
  });

  it('keeps KASKADE_MODEL_URL serving one model under KASKADE_MODEL_NAME', () => {
    expect(loadConfig({ KASKADE_MODEL_URL: 'file:///data/models/imdb', KASKADE_MODEL_NAME: 'imdb' }).source).toEqual({
      kind: 'one',
      prefixUrl: 'file:///data/models/imdb/',
      name: 'imdb',
    });
    expect(loadConfig({ KASKADE_MODEL_URL: 'file:///data/models/mnist/' }).source).toEqual({
      kind: 'one',
      prefixUrl: 'file:///data/models/mnist/',
      name: 'mnist',
    });
  });

  it('reads the loading and unloading settings', () => {
    const config = loadConfig({
      KASKADE_MODELS_URL: 'file:///m/',
      KASKADE_MODEL_LOAD: 'first-use',
      KASKADE_MODEL_IDLE_S: '0',
      KASKADE_MODELS_MEMORY_MB: '0.5',
    });
    expect(config).toMatchObject({ loadAt: 'first-use', idleUnloadMs: 0, memoryBudgetBytes: 524_288 });
  });

  it.each([
    { name: 'no models URL at all', env: {}, variable: 'KASKADE_MODELS_URL' },
    {
      name: 'both URLs',
      env: { KASKADE_MODELS_URL: 'file:///m/', KASKADE_MODEL_URL: 'file:///m/mnist/' },
      variable: 'not both',
    },
    {
      name: 'a models folder that is not a URL',
      env: { KASKADE_MODELS_URL: '/data/models' },
      variable: 'KASKADE_MODELS_URL',
    },
    {
      name: 'a bad model name',
      env: { KASKADE_MODEL_URL: 'file:///m/x/', KASKADE_MODEL_NAME: '../x' },
      variable: 'KASKADE_MODEL_NAME',
    },
    {
      name: 'an unknown load mode',
      env: { KASKADE_MODELS_URL: 'file:///m/', KASKADE_MODEL_LOAD: 'lazy' },
      variable: 'KASKADE_MODEL_LOAD',
    },
    {
      name: 'a zero memory budget',
      env: { KASKADE_MODELS_URL: 'file:///m/', KASKADE_MODELS_MEMORY_MB: '0' },
      variable: 'KASKADE_MODELS_MEMORY_MB',
    },
    {
      name: 'a negative idle time',
      env: { KASKADE_MODELS_URL: 'file:///m/', KASKADE_MODEL_IDLE_S: '-1' },
      variable: 'KASKADE_MODEL_IDLE_S',
    },
  ])('refuses $name with a ConfigError naming it', ({ env, variable }) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(variable);
  });
});
