import { describe, expect, it } from 'vitest';
import { jobLayout } from './layout.js';
import { roundLearningRate, shardReadyData } from './plan.js';
import { sampleJob } from '../../../test/support/jobs.js';

describe('round learning rate', () => {
  it.each([
    { name: 'constant without decay', decay: 1, round: 5, want: 0.001 },
    { name: 'round 1 trains at the base rate', decay: 0.5, round: 1, want: 0.001 },
    { name: 'decayed once per finished round', decay: 0.5, round: 3, want: 0.00025 },
  ])('$name', ({ decay, round, want }) => {
    expect(roundLearningRate(sampleJob('j', { learningRateDecay: decay }), round)).toBeCloseTo(want, 12);
  });

  it('every shard.ready of a round carries that round\'s rate', () => {
    const job = sampleJob('j', { learningRateDecay: 0.8 });
    const ready = shardReadyData(job, jobLayout('file:///tmp/kaskade', 'j'), 2);
    expect(ready).toHaveLength(3);
    for (const r of ready) expect(r.hyperParams.learningRate).toBeCloseTo(0.0008, 12);
  });
});
