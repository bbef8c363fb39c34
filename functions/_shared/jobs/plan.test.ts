import { describe, expect, it } from 'vitest';
import { roundLearningRate } from './plan.js';
import { sampleJob } from '../../../test/support/jobs.js';

describe('round learning rate', () => {
  it.each([
    { name: 'constant without decay', decay: 1, round: 5, want: 0.001 },
    { name: 'round 1 trains at the base rate', decay: 0.5, round: 1, want: 0.001 },
    { name: 'decayed once per finished round', decay: 0.5, round: 3, want: 0.00025 },
  ])('$name', ({ decay, round, want }) => {
    expect(roundLearningRate(sampleJob('j', { learningRateDecay: decay }), round)).toBeCloseTo(want, 12);
  });
});
