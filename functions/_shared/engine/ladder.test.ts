// The backend ladder: auto walks tfjs-node-gpu → tfjs-node → wasm → cpu, KASKADE_BACKEND
// forces a rung, and a forced rung that fails is an error rather than a silent fallback.
import { describe, expect, it } from 'vitest';
import { BackendError, ConfigError } from '../errors.js';
import { selectBackend } from './index.js';
import { type Rung, type RungLoaders, RUNGS, parseRung } from './ladder.js';

/** Loaders that succeed only for `working`, recording the order they were tried in. */
function fakeLoaders(working: readonly Rung[]): { loaders: RungLoaders; tried: Rung[] } {
  const tried: Rung[] = [];
  const make = (rung: Rung) => async (): Promise<void> => {
    tried.push(rung);
    await Promise.resolve();
    if (!working.includes(rung)) throw new Error(`${rung} is not installed`);
  };
  const loaders: RungLoaders = {
    'node-gpu': make('node-gpu'),
    node: make('node'),
    wasm: make('wasm'),
    cpu: make('cpu'),
  };
  return { loaders, tried };
}

describe('selectBackend', () => {
  const cases: { name: string; env: string | undefined; working: Rung[]; chosen: Rung; tried: Rung[] }[] = [
    {
      name: 'auto picks the first rung that loads',
      env: undefined,
      working: ['wasm', 'cpu'],
      chosen: 'wasm',
      tried: ['node-gpu', 'node', 'wasm'],
    },
    {
      name: 'auto prefers the GPU when it loads',
      env: 'auto',
      working: [...RUNGS],
      chosen: 'node-gpu',
      tried: ['node-gpu'],
    },
    { name: 'auto falls through to cpu', env: '', working: ['cpu'], chosen: 'cpu', tried: [...RUNGS] },
    { name: 'a forced rung is the only one tried', env: 'cpu', working: [...RUNGS], chosen: 'cpu', tried: ['cpu'] },
  ];
  it.each(cases)('$name', async (c) => {
    const { loaders, tried } = fakeLoaders(c.working);
    await expect(selectBackend({ env: { KASKADE_BACKEND: c.env }, loaders })).resolves.toBe(c.chosen);
    expect(tried).toEqual(c.tried);
  });

  it('a forced rung that fails is a BackendError, not a fallback', async () => {
    const { loaders, tried } = fakeLoaders(['wasm', 'cpu']);
    const attempt = selectBackend({ env: { KASKADE_BACKEND: 'node' }, loaders });
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(attempt).rejects.toThrow(/backend node failed to load: node is not installed/);
    expect(tried).toEqual(['node']);
  });

  it('no rung loading is a BackendError carrying every failure', async () => {
    const { loaders } = fakeLoaders([]);
    const failure: unknown = await selectBackend({ env: {}, loaders }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BackendError);
    const cause = failure instanceof Error ? failure.cause : undefined;
    expect(cause).toBeInstanceOf(AggregateError);
    expect(cause instanceof AggregateError ? cause.errors : []).toHaveLength(RUNGS.length);
  });

  it.each([
    { name: 'unknown name', value: 'gpu' },
    { name: 'wrong case', value: 'WASM' },
    { name: 'tfjs backend name instead of rung', value: 'tensorflow' },
  ])('KASKADE_BACKEND=$value ($name) is a ConfigError', async ({ value }) => {
    expect(() => parseRung(value)).toThrow(ConfigError);
    const { loaders, tried } = fakeLoaders([...RUNGS]);
    await expect(selectBackend({ env: { KASKADE_BACKEND: value }, loaders })).rejects.toBeInstanceOf(ConfigError);
    expect(tried).toEqual([]);
  });
});

describe('the real ladder on this machine', () => {
  it('loads the wasm rung when forced, with the training kernels registered', async () => {
    const { defaultLoaders } = await import('./ladder.js');
    await expect(selectBackend({ env: { KASKADE_BACKEND: 'wasm' }, loaders: defaultLoaders })).resolves.toBe('wasm');
    const tf = await import('@tensorflow/tfjs');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  });
});
