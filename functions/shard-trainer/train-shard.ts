// One shard's local training for one round: load the shard and the round's global weights
// into the job's architecture, train E epochs with batch B (the lean loop), write the weights
// (with the result: example count and metrics, in the same file's metadata) to
// `<job>/rounds/<r>/shards/<k>/weights.safetensors`, and emit `shard.trained`.
//
// A repeated `shard.ready` does not retrain: when that weights file exists, its stored result
// is emitted again (same event id), so the aggregator sees the same thing twice and counts it
// once. Two trainers racing on one shard both train, but only the first write lands
// (write-if-absent) and both emit the winner's result.
import type * as tf from '@tensorflow/tfjs';
import { createEvent, sourceFor, type Emit } from '../../events/emit.js';
import { EVENT_TYPES, validateEventData, type ShardReady, type ShardTrained } from '../../events/catalog.js';
import type { Examples } from '../_shared/data/types.js';
import { exampleSize } from '../_shared/data/types.js';
import { BadInputError, ConflictError } from '../_shared/errors.js';
import {
  applyWeights,
  decodeExamples,
  decodeWeights,
  encodeModelWeights,
  SHARD_RESULT_KEY,
} from '../_shared/jobs/artifacts.js';
import { eventIds } from '../_shared/jobs/ids.js';
import { jobLayoutOf, type JobLayout } from '../_shared/jobs/layout.js';
import { compileForTraining } from '../_shared/jobs/optimizer.js';
import { shardUrl } from '../_shared/jobs/plan.js';
import { readJob, type JobRecord } from '../_shared/jobs/record.js';
import { boundedLabel, trainerMetrics } from '../_shared/observability/workload-metrics.js';
import type { Store } from '../_shared/store/types.js';
import { evaluate, trainEpochs } from '../_shared/train/loop.js';
import type { FunctionDeps } from '../../events/function-deps.js';

export const SOURCE = sourceFor('shard-trainer');
/** Metadata key of the weights file that holds the `shard.trained` data as JSON. */
const RESULT_KEY = SHARD_RESULT_KEY;

export type TrainerDeps = FunctionDeps;

export interface TrainerSettings {
  /** Training accuracy is measured on at most this many of the shard's examples. */
  readonly evalExamples: number;
}

export interface TrainOutcome {
  /** `trained` here; `replayed` an earlier result; `skipped` because the job is over. */
  outcome: 'trained' | 'replayed' | 'skipped';
  result: ShardTrained | undefined;
}

export async function handleShardReady(
  deps: TrainerDeps,
  settings: TrainerSettings,
  ready: ShardReady,
): Promise<TrainOutcome> {
  const layout = jobLayoutOf(ready.globalModelUrl, ready.jobId);
  const job = await readJob(deps.store, layout.record);
  checkEvent(job, layout, ready);
  const weightsUrl = layout.shardWeights(ready.round, ready.shardIndex);
  if (await deps.store.exists(weightsUrl)) {
    const result = await readResult(deps.store, weightsUrl);
    await emitTrained(deps.emit, result);
    return { outcome: 'replayed', result };
  }
  if (job.status === 'done' || job.status === 'failed') {
    deps.logger.info(
      `job ${job.jobId} is ${job.status}: shard ${ready.shardIndex} of round ${ready.round} not trained`,
    );
    return { outcome: 'skipped', result: undefined };
  }
  const started = performance.now();
  const result = await train(deps, settings, job, layout, ready, weightsUrl);
  trainerMetrics().roundSeconds.observe(
    { model: boundedLabel(job.config.model) },
    (performance.now() - started) / 1000,
  );
  await emitTrained(deps.emit, result);
  return { outcome: 'trained', result };
}

/** The event must name this job's own artifacts for that round and shard. */
function checkEvent(job: JobRecord, layout: JobLayout, ready: ShardReady): void {
  if (ready.shards !== job.config.shards)
    throw new BadInputError(`data.shards: job ${job.jobId} has ${job.config.shards} shards, not ${ready.shards}`);
  if (ready.round > job.config.rounds)
    throw new BadInputError(`data.round: job ${job.jobId} has ${job.config.rounds} rounds, not ${ready.round}`);
  if (ready.globalModelUrl !== layout.roundModel(ready.round - 1)) {
    throw new BadInputError(
      `data.globalModelUrl: round ${ready.round} starts from ${layout.roundModel(ready.round - 1)}, not ${ready.globalModelUrl}`,
    );
  }
  const expected = shardUrl(job, layout, ready.shardIndex);
  if (ready.shardUrl !== expected)
    throw new BadInputError(
      `data.shardUrl: shard ${ready.shardIndex} of job ${job.jobId} is ${expected}, not ${ready.shardUrl}`,
    );
}

async function train(
  deps: TrainerDeps,
  settings: TrainerSettings,
  job: JobRecord,
  layout: JobLayout,
  ready: ShardReady,
  weightsUrl: string,
): Promise<ShardTrained> {
  const { tf: tfjs, store } = deps;
  const [shardBytes, globalBytes] = await Promise.all([store.read(ready.shardUrl), store.read(ready.globalModelUrl)]);
  const shard = decodeExamples(shardBytes, ready.shardUrl);
  const global = decodeWeights(globalBytes, ready.globalModelUrl);
  const model = await tfjs.loadLayersModel(store.modelHandler(layout.architecture));
  let optimizer: tf.Optimizer | undefined;
  try {
    applyWeights(tfjs, model, global.weights, ready.globalModelUrl);
    const learningRate = ready.hyperParams.learningRate ?? job.config.learningRate;
    optimizer = compileForTraining(tfjs, model, job.config.optimizer, learningRate, shard.classes);
    const trained = await trainEpochs(tfjs, model, shard, {
      epochs: ready.hyperParams.localEpochs,
      batchSize: ready.hyperParams.batchSize,
      shuffleSeed: (job.config.seed + ready.round * 7919 + ready.shardIndex * 104_729) >>> 0,
    });
    recordEpochs(job.config.model, trained);
    const check = await evaluate(tfjs, model, head(shard, settings.evalExamples));
    const result: ShardTrained = {
      jobId: job.jobId,
      round: ready.round,
      shardIndex: ready.shardIndex,
      shards: ready.shards,
      weightsUrl,
      exampleCount: shard.n,
      metrics: {
        loss: trained.epochs.at(-1)?.loss ?? check.loss,
        accuracy: check.accuracy,
        samplesPerSec: trained.samplesPerSec,
      },
    };
    deps.logger.info(
      `job ${job.jobId} round ${ready.round} shard ${ready.shardIndex}: ${shard.n} examples × ${ready.hyperParams.localEpochs} epochs, ` +
        `loss ${result.metrics.loss.toFixed(4)}, train accuracy ${result.metrics.accuracy.toFixed(4)}, ${Math.round(trained.samplesPerSec)} samples/s`,
    );
    const bytes = await encodeModelWeights(model, { [RESULT_KEY]: JSON.stringify(result) });
    try {
      await store.write(weightsUrl, bytes, { ifAbsent: true });
      return result;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      return readResult(store, weightsUrl); // another trainer finished this shard first
    }
  } finally {
    model.dispose();
    optimizer?.dispose();
  }
}

function recordEpochs(modelName: string, trained: Awaited<ReturnType<typeof trainEpochs>>): void {
  const metrics = trainerMetrics();
  const model = boundedLabel(modelName);
  for (const epoch of trained.epochs) metrics.epochSeconds.observe({ model }, epoch.seconds);
  metrics.samplesPerSecond.set({ model }, trained.samplesPerSec);
  const last = trained.epochs.at(-1);
  if (last !== undefined && Number.isFinite(last.loss)) metrics.localLoss.set({ model }, last.loss);
}

/** The first `limit` examples of a set (views, no copy). */
function head(set: Examples, limit: number): Examples {
  const n = Math.min(set.n, limit);
  const size = exampleSize(set.shape);
  return { x: set.x.subarray(0, n * size), y: set.y.subarray(0, n), n, shape: set.shape, classes: set.classes };
}

async function readResult(store: Store, weightsUrl: string): Promise<ShardTrained> {
  const { metadata } = decodeWeights(await store.read(weightsUrl), weightsUrl);
  const text = metadata[RESULT_KEY];
  if (text === undefined) throw new BadInputError(`${weightsUrl} carries no ${RESULT_KEY} metadata`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new BadInputError(`${weightsUrl}: ${RESULT_KEY} metadata is not JSON`, { cause });
  }
  return validateEventData(EVENT_TYPES.shardTrained, value);
}

function emitTrained(emit: Emit, result: ShardTrained): Promise<void> {
  return emit(
    createEvent(EVENT_TYPES.shardTrained, result, {
      source: SOURCE,
      id: eventIds.shardTrained(result.jobId, result.round, result.shardIndex),
      subject: result.jobId,
    }),
  );
}
