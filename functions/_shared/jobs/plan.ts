// What a round hands each shard trainer, as plain job arithmetic: where shard k's data is and
// the round's learning rate (events/shard-ready.ts builds the `shard.ready` events from them).
import type { JobLayout } from './layout.js';
import type { JobRecord } from './record.js';

/** Shard k's data file: its own, or with the `copy` strategy the one shared training set. */
export function shardUrl(job: JobRecord, layout: JobLayout, k: number): string {
  return job.config.strategy === 'copy' ? layout.trainSet : layout.shard(k);
}

/** The learning rate of round `round` (≥ 1): the job's rate decayed once per finished round. */
export function roundLearningRate(job: JobRecord, round: number): number {
  return job.config.learningRate * job.config.learningRateDecay ** (round - 1);
}
