// The job record (`<job>/job.json`): what a job was asked to do, how its data was cut, where
// it stands, and each finished round's test accuracy. The splitter creates it; the aggregator
// moves it forward; `GET /jobs/<id>` reads it. Every change is a compare-and-swap of the whole
// record (Store.swapPointer), so concurrent writers never lose each other's updates.
import { z } from 'zod';
import { BadInputError, ConflictError, NotFoundError } from '../errors.js';
import type { Store } from '../store/types.js';
import { OPTIMIZERS } from './optimizer.js';
import { modelInputSchema } from '../models/metadata.js';

export const JOB_RECORD_FORMAT = 'kaskade.job/v1';

/** splitting → running → done | failed (failed may also follow splitting). */
export const JOB_STATUSES = ['splitting', 'running', 'done', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const roundResult = z.object({
  round: z.int().positive(),
  testAccuracy: z.number().min(0).max(1),
  testLoss: z.number().nonnegative(),
  /** Indices of the shards whose weights went into this round's average. */
  participants: z.array(z.int().nonnegative()),
  examples: z.int().nonnegative(),
  finishedAt: z.string(),
});

const jobRecordSchema = z.object({
  format: z.literal(JOB_RECORD_FORMAT),
  jobId: z.string().min(1),
  status: z.enum(JOB_STATUSES),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** The identity of the event that asked for the job. */
  requestedBy: z.object({ source: z.string(), id: z.string() }),
  /** The training request with every default filled in. */
  config: z.object({
    dataset: z.string().min(1),
    model: z.string().min(1),
    strategy: z.enum(['iid', 'by-label', 'copy']),
    shards: z.int().positive(),
    rounds: z.int().positive(),
    localEpochs: z.int().positive(),
    batchSize: z.int().positive(),
    optimizer: z.enum(OPTIMIZERS),
    learningRate: z.number().positive(),
    /** Round r trains at learningRate × learningRateDecay^(r−1). */
    learningRateDecay: z.number().gt(0).max(1).default(1),
    seed: z.int().nonnegative(),
    /** Fraction of shards that closes a round once the round timeout has passed. */
    quorum: z.number().gt(0).max(1),
    /** Seconds after a round starts from which a quorum suffices; null = wait for every shard. */
    roundTimeoutSeconds: z.int().positive().nullable(),
  }),
  /** Filled by the splitter once the data is cut. */
  data: z
    .object({
      name: z.string(),
      classes: z.int().positive(),
      exampleShape: z.array(z.int().positive()),
      trainExamples: z.int().nonnegative(),
      testExamples: z.int().positive(),
      shardExamples: z.array(z.int().positive()),
    })
    .nullable(),
  /** How the finished model is published and served (what the model metadata says). */
  serving: z.object({
    name: z.string().min(1),
    dataset: z.string().min(1),
    labels: z.array(z.string().min(1)).min(2),
    input: modelInputSchema,
  }),
  /** The round being trained now (1-based) and when its shard.ready events went out. */
  currentRound: z.int().nonnegative(),
  roundStartedAt: z.string().nullable(),
  results: z.array(roundResult),
  published: z.object({ folderUrl: z.string(), pointerUrl: z.string(), at: z.string() }).nullable(),
  failure: z
    .object({ reason: z.string(), stage: z.string(), round: z.int().positive().optional(), at: z.string() })
    .nullable(),
});

export type JobRecord = z.infer<typeof jobRecordSchema>;
export type JobConfig = JobRecord['config'];
export type RoundResult = z.infer<typeof roundResult>;
export type JobData = NonNullable<JobRecord['data']>;
export type JobServing = JobRecord['serving'];

export function parseJobRecord(value: unknown, where: string): JobRecord {
  const result = jobRecordSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new BadInputError(`invalid job record ${where}: ${problems}`);
  }
  return result.data;
}

function encode(record: JobRecord): string {
  return `${JSON.stringify(parseJobRecord(record, record.jobId), null, 2)}\n`;
}

function decode(text: string, where: string): JobRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new BadInputError(`job record ${where} is not JSON: ${(cause as Error).message}`, { cause });
  }
  return parseJobRecord(value, where);
}

async function readText(store: Store, url: string): Promise<string> {
  return new TextDecoder().decode(await store.read(url));
}

/** The record at `url`; NotFoundError when the job does not exist. */
export async function readJob(store: Store, url: string): Promise<JobRecord> {
  return decode(await readText(store, url), url);
}

/** The record, or undefined when there is none. */
export async function findJob(store: Store, url: string): Promise<JobRecord | undefined> {
  try {
    return await readJob(store, url);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/**
 * Creates the record if no job exists at `url`. Answers `{created: true}` with the new record,
 * or `{created: false}` with the record already there (a redelivered request, or a race lost).
 */
export async function createJob(
  store: Store,
  url: string,
  record: JobRecord,
): Promise<{ created: boolean; record: JobRecord }> {
  try {
    await store.swapPointer(url, undefined, encode(record));
    return { created: true, record };
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
    return { created: false, record: await readJob(store, url) };
  }
}

/** What an update answers: the next record, or `undefined` to leave the record as it is. */
export type JobUpdate = (current: JobRecord) => JobRecord | undefined;

/**
 * Applies `update` with compare-and-swap, re-reading and retrying when another writer got in
 * first. Answers the record as stored afterwards (unchanged when `update` declined).
 */
export async function updateJob(store: Store, url: string, update: JobUpdate, attempts = 20): Promise<JobRecord> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const text = await readText(store, url);
    const current = decode(text, url);
    const next = update(current);
    if (next === undefined) return current;
    const stamped: JobRecord = { ...next, updatedAt: new Date().toISOString() };
    const stampedText = encode(stamped);
    try {
      await store.swapPointer(url, text, stampedText);
      return stamped;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      // A retried swap whose first attempt committed (its answer lost): the update is in.
      if ((await readText(store, url)) === stampedText) return stamped;
    }
  }
  throw new ConflictError(`job record ${url}: still contended after ${attempts} attempts`);
}

/** Marks a job failed unless it already finished; answers the stored record. */
export function failJob(
  store: Store,
  url: string,
  failure: { reason: string; stage: string; round?: number },
): Promise<JobRecord> {
  return updateJob(store, url, (job) => {
    if (job.status === 'done' || job.status === 'failed') return undefined;
    return { ...job, status: 'failed', failure: { ...failure, at: new Date().toISOString() } };
  });
}

/** The summary `GET /jobs/<id>` answers. */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  dataset: string;
  model: string;
  shards: number;
  rounds: number;
  currentRound: number;
  results: RoundResult[];
  published: JobRecord['published'];
  failure: JobRecord['failure'];
  createdAt: string;
  updatedAt: string;
}

export function summarizeJob(job: JobRecord): JobSummary {
  return {
    jobId: job.jobId,
    status: job.status,
    dataset: job.config.dataset,
    model: job.config.model,
    shards: job.config.shards,
    rounds: job.config.rounds,
    currentRound: job.currentRound,
    results: job.results,
    published: job.published,
    failure: job.failure,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}
