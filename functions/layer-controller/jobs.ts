// A layer job's record in storage, so a restarted controller knows its layers, their services
// and how far training got:
//
//   <root>/layer-jobs/<jobId>/job.json          this record (written whole, atomically)
//   <root>/layer-jobs/<jobId>/layers.json       the layer list alone (`/save_layers`)
//
// `progress.checkpointStep` is the last step every layer checkpointed; a resumed run restarts
// from there (the layers reload that checkpoint), never from a half-applied step.
import { z } from 'zod';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { joinStoreUrl, type Store } from '../_shared/store/index.js';
import type { LayerEntry } from '../../events/catalog.js';
import type { LayerEndpoint } from '../../events/layer-client.js';

export interface TrainSettings {
  readonly dataset: string;
  readonly epochs: number;
  readonly batchSize: number;
  readonly microbatches: number;
  readonly schedule: 'gpipe' | '1f1b';
  readonly learningRate?: number | undefined;
  readonly checkpointEvery: number;
  readonly publishAs?: string | undefined;
}

export interface EpochResult {
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly testAccuracy: number;
  readonly samplesPerSec: number;
}

export interface LayerJobRecord {
  readonly format: 'kaskade.layer-job/v1';
  readonly jobId: string;
  readonly layers: LayerEntry[];
  /** Shape of one input example (NHWC without the batch), e.g. [28, 28, 1]. */
  readonly inputShape: number[];
  readonly seed: number;
  readonly optimizer: { name: 'adam' | 'sgd'; learningRate: number };
  endpoints: LayerEndpoint[];
  status: 'created' | 'initialized' | 'training' | 'trained' | 'failed';
  train?: TrainSettings;
  progress: {
    /** Last step applied by every layer. */
    step: number;
    /** Last step every layer checkpointed (what a restart resumes from). */
    checkpointStep: number;
    /** Epoch (from 1) and step within it that `checkpointStep` ends. */
    epoch: number;
    stepInEpoch: number;
  };
  epochs: EpochResult[];
  error?: string;
  published?: string;
  updatedAt: string;
}

const recordSchema = z.object({ format: z.literal('kaskade.layer-job/v1'), jobId: z.string() }).passthrough();

export function jobFolder(root: string, jobId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(jobId))
    throw new BadInputError(`job id "${jobId}" must be 1-128 letters, digits, ".", "_" or "-"`);
  return joinStoreUrl(root, `layer-jobs/${jobId}/`);
}

export async function saveJob(store: Store, root: string, job: LayerJobRecord): Promise<void> {
  job.updatedAt = new Date().toISOString();
  await store.write(
    joinStoreUrl(jobFolder(root, job.jobId), 'job.json'),
    new TextEncoder().encode(JSON.stringify(job, null, 2)),
    { contentType: 'application/json' },
  );
}

export async function saveLayerList(store: Store, root: string, job: LayerJobRecord): Promise<string> {
  const url = joinStoreUrl(jobFolder(root, job.jobId), 'layers.json');
  await store.write(
    url,
    new TextEncoder().encode(JSON.stringify({ layers: job.layers, inputShape: job.inputShape }, null, 2)),
    { contentType: 'application/json' },
  );
  return url;
}

/** The job's record; NotFoundError when there is none. */
export async function loadJob(store: Store, root: string, jobId: string): Promise<LayerJobRecord> {
  const bytes = await store
    .read(joinStoreUrl(jobFolder(root, jobId), 'job.json'), { maxBytes: 16 << 20 })
    .catch((e: unknown) => {
      if (e instanceof NotFoundError)
        throw new NotFoundError(`no layer job "${jobId}": create its layers first (/create_layers)`, { cause: e });
      throw e;
    });
  const parsed = recordSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (!parsed.success) throw new BadInputError(`layer job "${jobId}": job.json is not a layer job record`);
  return parsed.data as unknown as LayerJobRecord;
}

export async function deleteJobRecord(store: Store, root: string, jobId: string): Promise<void> {
  for (const url of await store.list(jobFolder(root, jobId))) await store.delete(url);
}
