import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { trainLocally } from './local.js';

describe('trainLocally', () => {
  it('loads, trains and evaluates the default model for the data', async () => {
    const epochs: number[] = [];
    const report = await trainLocally({
      dataset: 'imdb:synthetic?seed=5&train=500&test=100',
      epochs: 3,
      batchSize: 16,
      seed: 2,
      onEpoch: (e) => epochs.push(e.epoch),
    });
    expect(report.model).toBe('imdb-fast');
    expect(report.backend).toBe(process.env.KASKADE_BACKEND);
    expect(epochs).toEqual([0, 1, 2]);
    expect(report.train.n).toBe(1000);
    expect(report.test.n).toBe(200);
    expect(report.train.samplesPerSec).toBeGreaterThan(0);
    expect(report.test.accuracy).toBeGreaterThanOrEqual(0.8);
  });

  it('refuses a model that cannot take the data', async () => {
    await expect(
      trainLocally({ dataset: 'imdb:synthetic?train=2&test=1', epochs: 1, batchSize: 2, model: 'mnist-cnn' }),
    ).rejects.toThrow(BadInputError);
  });
});
