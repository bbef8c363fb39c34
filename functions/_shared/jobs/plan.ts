// What a round hands each shard trainer: the data of its `shard.ready` event. The splitter
// sends round 1's, the aggregator every later round's, so both build them here.
import type { JobLayout } from './layout.js';
import type { JobRecord } from './record.js';

/** The `dev.kaskade.shard.ready` data (the catalog in events/ validates it when it is emitted). */
export interface ShardReadyData {
  jobId: string;
  round: number;
  shardIndex: number;
  shards: number;
  shardUrl: string;
  globalModelUrl: string;
  exampleCount: number;
  hyperParams: { localEpochs: number; batchSize: number; learningRate?: number };
}

/** Shard k's data file: its own, or with the `copy` strategy the one shared training set. */
export function shardUrl(job: JobRecord, layout: JobLayout, k: number): string {
  return job.config.strategy === 'copy' ? layout.trainSet : layout.shard(k);
}

/** The learning rate of round `round` (≥ 1): the job's rate decayed once per finished round. */
export function roundLearningRate(job: JobRecord, round: number): number {
  return job.config.learningRate * job.config.learningRateDecay ** (round - 1);
}

/** The N `shard.ready` data of round `round` (≥ 1), which starts from round − 1's global model. */
export function shardReadyData(job: JobRecord, layout: JobLayout, round: number): ShardReadyData[] {
  const sizes = job.data?.shardExamples ?? [];
  return Array.from({ length: job.config.shards }, (_, k) => ({
    jobId: job.jobId,
    round,
    shardIndex: k,
    shards: job.config.shards,
    shardUrl: shardUrl(job, layout, k),
    globalModelUrl: layout.roundModel(round - 1),
    exampleCount: sizes[k] ?? 1,
    hyperParams: { localEpochs: job.config.localEpochs, batchSize: job.config.batchSize, learningRate: roundLearningRate(job, round) },
  }));
}
