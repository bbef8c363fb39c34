// The `shard.ready` events of a round: what each shard trainer is handed. Built here once for
// both senders: the splitter (round 1) and the aggregator (every later round).
import type { CloudEvent } from 'cloudevents';
import { eventIds } from '../functions/_shared/jobs/ids.js';
import type { JobLayout } from '../functions/_shared/jobs/layout.js';
import { roundLearningRate, shardUrl } from '../functions/_shared/jobs/plan.js';
import type { JobRecord } from '../functions/_shared/jobs/record.js';
import { EVENT_TYPES, type ShardReady } from './catalog.js';
import { createEvent } from './emit.js';

/** The N `shard.ready` data of round `round` (≥ 1), which starts from round − 1's global model. */
export function shardReadyData(job: JobRecord, layout: JobLayout, round: number): ShardReady[] {
  const sizes = job.data?.shardExamples ?? [];
  return Array.from({ length: job.config.shards }, (_, k) => ({
    jobId: job.jobId,
    round,
    shardIndex: k,
    shards: job.config.shards,
    shardUrl: shardUrl(job, layout, k),
    globalModelUrl: layout.roundModel(round - 1),
    exampleCount: sizes[k] ?? 1,
    hyperParams: {
      localEpochs: job.config.localEpochs,
      batchSize: job.config.batchSize,
      learningRate: roundLearningRate(job, round),
    },
  }));
}

/** The round's events, with ids that come out the same on every retry (receivers deduplicate). */
export function shardReadyEvents(
  job: JobRecord,
  layout: JobLayout,
  round: number,
  source: string,
): Array<CloudEvent<ShardReady>> {
  return shardReadyData(job, layout, round).map((data) =>
    createEvent(EVENT_TYPES.shardReady, data, {
      source,
      id: eventIds.shardReady(job.jobId, round, data.shardIndex),
      subject: job.jobId,
    }),
  );
}
