// Duplicate deliveries: the aggregator, given the same `shard.trained` 3× in a row and 3× at
// once, applies it once: the shard is counted once, the round is aggregated once (one round
// model, one `model.aggregated`, one `shard.ready` per shard for the next round). Its real HTTP
// stack on loopback, a job laid out in a temp-dir store, a recording emitter.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, type ShardTrained } from '../../events/catalog.js';
import { createEvent, memoryEmit } from '../../events/emit.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { decodeWeights, encodeWeightSet, SHARD_RESULT_KEY } from '../../functions/_shared/jobs/artifacts.js';
import { readJob } from '../../functions/_shared/jobs/record.js';
import { createLogger } from '../../functions/_shared/log.js';
import type { AggregatorDeps, AggregatorSettings } from '../../functions/aggregator/aggregate.js';
import type { ArrivalOutcome } from '../../functions/aggregator/collect.js';
import { createAggregatorHandler } from '../../functions/aggregator/handler.js';
import { arrivedShards } from '../../functions/aggregator/rounds.js';
import {
  postEvent,
  prepareJob,
  quietSink,
  serve,
  tempStore,
  type PreparedJob,
  type Served,
  type TempStore,
} from '../support/jobs.js';

const logger = createLogger('aggregator', quietSink());
let tf: typeof tfjs;
let temp: TempStore;
const servers: Served[] = [];

beforeAll(async () => {
  tf = (await initEngine()).tf;
  temp = await tempStore('kaskade-reliability-dup-');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await temp.remove();
});

async function aggregator(emit: AggregatorDeps['emit']): Promise<Served> {
  const settings: AggregatorSettings = { roots: [temp.root], leaseMs: 600_000, maxHoldMs: 5_000, evalBatchSize: 64 };
  const deps: AggregatorDeps = { tf, store: temp.store, emit, logger };
  const served = await serve(
    'aggregator',
    createAggregatorHandler(() => Promise.resolve(deps), settings, logger),
  );
  servers.push(served);
  return served;
}

/** Shard k's weights (the initial ones), written as a trainer writes them, and its result. */
async function trained(prepared: PreparedJob, k: number): Promise<ShardTrained> {
  const initial = decodeWeights(await temp.store.read(prepared.layout.roundModel(0)), 'initial').weights;
  const weightsUrl = prepared.layout.shardWeights(1, k);
  const result: ShardTrained = {
    jobId: prepared.job.jobId,
    round: 1,
    shardIndex: k,
    shards: prepared.job.config.shards,
    weightsUrl,
    exampleCount: 10,
    metrics: { loss: 1, accuracy: 0.5, samplesPerSec: 10 },
  };
  await temp.store.write(weightsUrl, encodeWeightSet(initial, { [SHARD_RESULT_KEY]: JSON.stringify(result) }));
  return result;
}

async function deliver(base: string, data: ShardTrained): Promise<{ status: number; body: ArrivalOutcome }> {
  // The same event each time: a broker redelivery keeps id and source.
  const event = createEvent(EVENT_TYPES.shardTrained, data, {
    source: '/kaskade/shard-trainer',
    id: `${data.jobId}.r1.s${data.shardIndex}.trained`,
  });
  const res = await postEvent(base, event);
  return { status: res.status, body: (await res.json()) as ArrivalOutcome };
}

describe('duplicate deliveries at the aggregator', () => {
  it.each([
    { name: 'in a row', concurrent: false },
    { name: 'at once', concurrent: true },
  ])(
    'the same shard.trained 3× $name is applied once: counted once, the round aggregated once',
    async ({ name, concurrent }) => {
      const recorder = memoryEmit();
      const served = await aggregator(recorder.emit);
      const prepared = await prepareJob(tf, temp.store, temp.root, `job-dup-${concurrent ? 'once' : 'row'}`, {
        shards: 2,
        perShard: 10,
        test: 20,
        config: { rounds: 2 },
      });
      const [r0, r1] = [await trained(prepared, 0), await trained(prepared, 1)];
      const send = (data: ShardTrained) =>
        concurrent
          ? Promise.all([1, 2, 3].map(() => deliver(served.base, data)))
          : [1, 2, 3].reduce<Promise<Awaited<ReturnType<typeof deliver>>[]>>(
              async (all, _) => [...(await all), await deliver(served.base, data)],
              Promise.resolve([]),
            );

      const first = await send(r0);
      expect(first.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(first.filter((a) => a.body.recorded)).toHaveLength(1);
      expect(await arrivedShards(temp.store, prepared.layout, 1)).toEqual([0]);

      const last = await send(r1);
      expect(
        last.every((a) => a.status === 200),
        `${name}: ${JSON.stringify(last.map((a) => a.body))}`,
      ).toBe(true);
      expect(last.filter((a) => a.body.recorded)).toHaveLength(1);
      expect(recorder.events.filter((e) => e.type === EVENT_TYPES.modelAggregated)).toHaveLength(1);
      expect(recorder.events.filter((e) => e.type === EVENT_TYPES.shardReady)).toHaveLength(2);
      const job = await readJob(temp.store, prepared.layout.record);
      expect(job).toMatchObject({ status: 'running', currentRound: 2 });
      expect(job.results.map((r) => r.round)).toEqual([1]);
    },
  );
});
