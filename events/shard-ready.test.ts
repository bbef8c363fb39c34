import { describe, expect, it } from 'vitest';
import { jobLayout } from '../functions/_shared/jobs/layout.js';
import { sampleJob } from '../test/support/jobs.js';
import { EVENT_TYPES } from './catalog.js';
import { shardReadyData, shardReadyEvents } from './shard-ready.js';

describe('shard.ready of a round', () => {
  const job = sampleJob('j', { learningRateDecay: 0.8 });
  const layout = jobLayout('file:///tmp/kaskade', 'j');

  it("carries that round's rate to every shard", () => {
    const ready = shardReadyData(job, layout, 2);
    expect(ready).toHaveLength(3);
    for (const r of ready) expect(r.hyperParams.learningRate).toBeCloseTo(0.0008, 12);
  });

  it("starts from the previous round's model, one event per shard, with ids stable across retries", () => {
    const events = shardReadyEvents(job, layout, 2, '/kaskade/test');
    expect(events.map((e) => e.type)).toEqual(Array(3).fill(EVENT_TYPES.shardReady));
    expect(events.map((e) => e.data?.shardIndex)).toEqual([0, 1, 2]);
    expect(events.every((e) => e.data?.globalModelUrl === layout.roundModel(1))).toBe(true);
    expect(events.map((e) => e.id)).toEqual(shardReadyEvents(job, layout, 2, '/kaskade/test').map((e) => e.id));
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });
});
