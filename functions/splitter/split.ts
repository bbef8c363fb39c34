// Starting a job: a training request becomes a job folder (shards, held-out test set, one
// shared initial model, the job record) and N `shard.ready` events for round 1.
//
// Redelivery-safe: the job id comes from the request (or its event's source + id), the record
// is created by compare-and-swap, and a job whose record still says `splitting` (its earlier
// attempt died midway) is finished by the redelivery: the shards come out the same (seeded),
// the initial weights are written only if absent (so trainers that already started from them
// keep matching), and the events carry stable ids. A job past `splitting` is not started twice.
import type * as tf from '@tensorflow/tfjs';
import { sourceFor, type Emit } from '../../events/emit.js';
import type { TrainingRequested } from '../../events/catalog.js';
import { shardReadyEvents } from '../../events/shard-ready.js';
import { subset } from '../_shared/data/batches.js';
import { loadDataset, parseDatasetUri } from '../_shared/data/dataset.js';
import { shardIndices } from '../_shared/data/shards.js';
import type { Dataset, Examples } from '../_shared/data/types.js';
import { BadInputError, ConflictError } from '../_shared/errors.js';
import { applyWeights, decodeWeights, encodeExamples, encodeModelWeights } from '../_shared/jobs/artifacts.js';
import { deriveJobId, deriveSeed } from '../_shared/jobs/ids.js';
import { jobLayout, type JobLayout } from '../_shared/jobs/layout.js';
import { optimizerOf } from '../_shared/jobs/optimizer.js';
import {
  JOB_RECORD_FORMAT,
  createJob,
  findJob,
  updateJob,
  type JobConfig,
  type JobRecord,
} from '../_shared/jobs/record.js';
import type { Store } from '../_shared/store/types.js';
import { buildModel, checkModelName, modelTakes } from './models.js';
import { encodeVocabulary } from '../_shared/models/metadata.js';
import { describeServing } from './serving.js';
import type { FunctionDeps } from '../../events/function-deps.js';

export const SOURCE = sourceFor('splitter');

export interface SplitterDeps extends FunctionDeps {
  readonly now?: () => number;
}

export interface SplitterSettings {
  /** Root of a job whose request names no storageRoot. */
  readonly defaultRoot: string;
  /** Used when the request names no quorum / round timeout. */
  readonly defaultQuorum: number;
  readonly defaultRoundTimeoutSeconds: number | undefined;
}

export interface EventIdentity {
  readonly source: string;
  readonly id: string;
}

export interface SplitResult {
  jobId: string;
  /** `started`: this call cut the data and emitted the events; `existing`: the job was already under way. */
  outcome: 'started' | 'existing';
  status: JobRecord['status'];
  recordUrl: string;
  shards: number;
}

/** The request with every default filled in, as the record keeps it (before the model is built). */
function resolveConfig(
  request: TrainingRequested,
  jobId: string,
  settings: SplitterSettings,
): Omit<JobConfig, 'optimizer' | 'learningRate'> & { learningRate: number | undefined } {
  return {
    dataset: request.dataset,
    model: request.model,
    strategy: request.strategy,
    shards: request.shards,
    rounds: request.rounds,
    localEpochs: request.localEpochs,
    batchSize: request.batchSize,
    learningRate: request.learningRate,
    learningRateDecay: request.learningRateDecay ?? 1,
    seed: request.seed ?? deriveSeed(jobId),
    quorum: request.quorum ?? settings.defaultQuorum,
    roundTimeoutSeconds: request.roundTimeoutSeconds ?? settings.defaultRoundTimeoutSeconds ?? null,
  };
}

/** Handles one `training.requested` (or a PingSource tick carrying one). */
export async function startJob(
  deps: SplitterDeps,
  settings: SplitterSettings,
  request: TrainingRequested,
  event: EventIdentity,
): Promise<SplitResult> {
  const now = deps.now ?? Date.now;
  const jobId = request.jobId ?? deriveJobId(event.source, event.id);
  const layout = jobLayout(request.storageRoot ?? settings.defaultRoot, jobId);
  const modelName = checkModelName(request.model);
  const source = parseDatasetUri(request.dataset);
  const takes = modelTakes(modelName);
  const gives = source.kind === 'imdb' || source.kind === 'imdb-synthetic' ? 'text' : 'image';
  if (takes !== gives)
    throw new BadInputError(`data.model: "${modelName}" takes ${takes} data; ${request.dataset} is ${gives}`);
  const config = resolveConfig(request, jobId, settings);

  const before = await findJob(deps.store, layout.record);
  if (before !== undefined) {
    checkSameRequest(before, config, event);
    if (before.status !== 'splitting') return existing(before, layout);
  }

  const dataset = await loadDataset(request.dataset, { store: deps.store });
  const shards = shardIndices(dataset.train.y, { strategy: config.strategy, shards: config.shards, seed: config.seed });
  const model = buildModel(deps.tf, modelName, dataset, config.seed);
  try {
    const { kind, learningRate } = optimizerOf(model);
    const record = newRecord(
      jobId,
      event,
      { ...config, optimizer: kind, learningRate: config.learningRate ?? learningRate },
      dataset,
      shards,
      now(),
    );
    const created = await createJob(deps.store, layout.record, record);
    if (!created.created) {
      checkSameRequest(created.record, config, event);
      if (created.record.status !== 'splitting') return existing(created.record, layout);
    }
    const job = created.record;
    deps.logger.info(
      `job ${jobId}: ${dataset.name} (${dataset.train.n} train, ${dataset.test.n} test) → ${config.shards} ${config.strategy} shards, ${config.rounds} rounds of ${config.localEpochs} epochs`,
    );
    await writeData(deps.store, layout, dataset, shards, config.strategy === 'copy');
    await writeInitialModel(deps, layout, model);
    const started = await updateJob(deps.store, layout.record, (current) =>
      current.status === 'splitting'
        ? { ...current, currentRound: 1, roundStartedAt: current.roundStartedAt ?? new Date(now()).toISOString() }
        : undefined,
    );
    if (started.status !== 'splitting') return existing(started, layout);
    await emitShardReady(deps.emit, job, layout, 1);
    const running = await updateJob(deps.store, layout.record, (current) =>
      current.status === 'splitting' ? { ...current, status: 'running' } : undefined,
    );
    return { jobId, outcome: 'started', status: running.status, recordUrl: layout.record, shards: config.shards };
  } finally {
    model.optimizer.dispose(); // model.dispose() leaves an optimizer instance it was compiled with
    model.dispose();
  }
}

function existing(job: JobRecord, layout: JobLayout): SplitResult {
  return {
    jobId: job.jobId,
    outcome: 'existing',
    status: job.status,
    recordUrl: layout.record,
    shards: job.config.shards,
  };
}

/** A job id names one request: a different request under an existing id is refused. */
function checkSameRequest(job: JobRecord, config: ReturnType<typeof resolveConfig>, event: EventIdentity): void {
  const keys = ['dataset', 'model', 'strategy', 'shards', 'rounds', 'localEpochs', 'batchSize', 'seed'] as const;
  const differs: string[] = keys.filter((k) => job.config[k] !== config[k]);
  if (config.learningRate !== undefined && config.learningRate !== job.config.learningRate)
    differs.push('learningRate');
  if (differs.length > 0) {
    throw new BadInputError(
      `data.jobId: job ${job.jobId} already exists with a different ${differs.join(', ')} (requested by ${job.requestedBy.source} ${job.requestedBy.id}, not ${event.source} ${event.id})`,
    );
  }
}

function newRecord(
  jobId: string,
  event: EventIdentity,
  config: JobConfig,
  dataset: Dataset,
  shards: readonly Int32Array[],
  nowMs: number,
): JobRecord {
  const at = new Date(nowMs).toISOString();
  return {
    format: JOB_RECORD_FORMAT,
    jobId,
    status: 'splitting',
    createdAt: at,
    updatedAt: at,
    requestedBy: { source: event.source, id: event.id },
    config,
    data: {
      name: dataset.name,
      classes: dataset.train.classes,
      exampleShape: [...dataset.train.shape],
      trainExamples: dataset.train.n,
      testExamples: dataset.test.n,
      shardExamples: shards.map((s) => s.length),
    },
    serving: describeServing(config.dataset, dataset),
    currentRound: 0,
    roundStartedAt: null,
    results: [],
    published: null,
    failure: null,
  };
}

/**
 * Writes the test set, the shards (one at a time, so only one shard's copy is held beside the
 * dataset) and, for text data, the vocabulary. With `copy` every shard is the whole training
 * set, written once (see shardUrl).
 */
async function writeData(
  store: Store,
  layout: JobLayout,
  dataset: Dataset,
  shards: readonly Int32Array[],
  copy: boolean,
): Promise<void> {
  await store.write(layout.testSet, encodeExamples(dataset.test));
  if (dataset.kind === 'text')
    await store.write(layout.vocabulary, encodeVocabulary(dataset.words), { contentType: 'application/json' });
  if (copy) {
    await store.write(layout.trainSet, encodeExamples(dataset.train));
    return;
  }
  for (const [k, indices] of shards.entries()) {
    const shard: Examples = subset(dataset.train, indices);
    await store.write(layout.shard(k), encodeExamples(shard));
  }
}

/**
 * One initial model for every shard: its weights become round 0's global model (written only if
 * absent: a retried split adopts the weights trainers may already have), and the architecture
 * folder holds model.json with those same weights.
 */
async function writeInitialModel(deps: SplitterDeps, layout: JobLayout, model: tf.LayersModel): Promise<void> {
  const url = layout.roundModel(0);
  try {
    await deps.store.write(url, await encodeModelWeights(model, { round: '0' }), { ifAbsent: true });
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
    applyWeights(deps.tf, model, decodeWeights(await deps.store.read(url), url).weights, url);
  }
  await model.save(deps.store.modelHandler(layout.architecture));
}

async function emitShardReady(emit: Emit, job: JobRecord, layout: JobLayout, round: number): Promise<void> {
  await Promise.all(shardReadyEvents(job, layout, round, SOURCE).map((event) => emit(event)));
}
