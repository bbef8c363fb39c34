// The layer controller's operations, one method per call of its API. A job's layer list, its
// services and its progress live in storage (jobs.ts), so any controller pod (a restarted one
// too) picks a job up where the last checkpoint left it. One operation runs per job at a time.
import type * as tfjs from '@tensorflow/tfjs';
import type { Cluster } from '../_shared/cluster/types.js';
import { ConflictError, BadInputError } from '../_shared/errors.js';
import { tensorFromJson, tensorToJson } from '../_shared/layers/json-tensors.js';
import { parseOptimizerSpec } from '../_shared/layers/optimizer.js';
import { chainShapes, parseLayerSpec } from '../_shared/layers/spec.js';
import type { Logger } from '../_shared/log.js';
import type { Store } from '../_shared/store/index.js';
import { encodeTensors } from '../_shared/wire/index.js';
import type { ImageDataset } from '../_shared/data/types.js';
import type { LayerEntry, LayersTrainRequested } from '../../events/catalog.js';
import { exportPath } from './paths.js';
import { loadChainModel, publishChainModel, saveChainModel } from './export.js';
import { deleteJobRecord, loadJob, saveJob, saveLayerList, type LayerJobRecord } from './jobs.js';
import { LayerClient, type ClientOptions } from '../../events/layer-client.js';
import { backwardChain, forwardChain, onlyTensor } from './pipeline.js';
import { deleteLayerServices, ensureLayerServices, type ServiceSettings } from './services.js';
import { runTraining, type TrainSummary } from './train.js';

export interface ControllerDeps {
  readonly store: Store;
  /** The Kubernetes API, opened on first use. */
  readonly cluster: () => Cluster;
  /** TF.js, for exporting and loading whole models (training itself needs no engine here). */
  readonly tf: () => Promise<typeof tfjs>;
  readonly loadDataset: (uri: string) => Promise<ImageDataset>;
  readonly logger: Logger;
}

export interface ControllerSettings {
  /** Where job records and published models go. */
  readonly root: string;
  readonly services: ServiceSettings;
  readonly client: ClientOptions;
}

export const DEFAULT_JOB = 'default';
export const DEFAULT_INPUT_SHAPE = [28, 28, 1];

export class LayerController {
  private readonly busy = new Map<string, string>();

  constructor(
    readonly deps: ControllerDeps,
    readonly settings: ControllerSettings,
  ) {}

  clients(job: LayerJobRecord): LayerClient[] {
    return job.endpoints.map((e) => new LayerClient(e, this.settings.client));
  }

  /** Runs `work` as the job's only operation; a second one meanwhile is a 409. */
  async exclusive<T>(jobId: string, what: string, work: () => Promise<T>): Promise<T> {
    const running = this.busy.get(jobId);
    if (running !== undefined) throw new ConflictError(`job ${jobId} is busy (${running}); try again when it is done`);
    this.busy.set(jobId, what);
    try {
      return await work();
    } finally {
      this.busy.delete(jobId);
    }
  }

  /** Checks the list, creates (or updates) one service per layer, waits for Ready, stores the job. */
  async createLayers(
    jobId: string,
    layers: readonly LayerEntry[],
    inputShape: readonly number[] = DEFAULT_INPUT_SHAPE,
  ): Promise<LayerJobRecord> {
    if (layers.length === 0) throw new BadInputError('the layer list is empty');
    const specs = layers.map((l, i) => {
      try {
        return parseLayerSpec(l.type, l.config);
      } catch (e) {
        throw new BadInputError(`layers[${i}]: ${(e as Error).message}`, { cause: e });
      }
    });
    chainShapes(specs, inputShape);
    return this.exclusive(jobId, 'create_layers', async () => {
      const endpoints = await ensureLayerServices(this.deps.cluster(), this.settings.services, jobId, layers);
      const job: LayerJobRecord = {
        format: 'kaskade.layer-job/v1',
        jobId,
        layers: [...layers],
        inputShape: [...inputShape],
        seed: 0,
        optimizer: { name: 'adam', learningRate: 0.001 },
        endpoints,
        status: 'created',
        progress: { step: 0, checkpointStep: 0, epoch: 0, stepInEpoch: 0 },
        epochs: [],
        updatedAt: new Date().toISOString(),
      };
      await saveJob(this.deps.store, this.settings.root, job);
      await saveLayerList(this.deps.store, this.settings.root, job);
      return job;
    });
  }

  async job(jobId: string): Promise<LayerJobRecord> {
    return loadJob(this.deps.store, this.settings.root, jobId);
  }

  /** Fresh weights in every layer (layer k from seed + k) and a step-0 checkpoint. */
  async initialize(
    jobId: string,
    options: { seed?: number; optimizer?: 'adam' | 'sgd'; learningRate?: number } = {},
  ): Promise<LayerJobRecord> {
    return this.exclusive(jobId, 'initialize', () => this.initializeJob(jobId, options));
  }

  private async initializeJob(
    jobId: string,
    options: { seed?: number; optimizer?: 'adam' | 'sgd'; learningRate?: number },
  ): Promise<LayerJobRecord> {
    const job = await this.job(jobId);
    const seed = options.seed ?? job.seed;
    const optimizer = parseOptimizerSpec({
      name: options.optimizer ?? job.optimizer.name,
      ...(options.learningRate === undefined ? {} : { learningRate: options.learningRate }),
    });
    await Promise.all(
      this.clients(job).map((c, k) =>
        c.initialize(jobId, seed + k, optimizer, job.layers[k]?.type ?? '', job.layers[k]?.config ?? {}),
      ),
    );
    const next: LayerJobRecord = {
      ...job,
      seed,
      optimizer: { name: optimizer.name, learningRate: optimizer.learningRate },
      status: 'initialized',
      progress: { step: 0, checkpointStep: 0, epoch: 0, stepInEpoch: 0 },
      epochs: [],
    };
    delete next.error;
    await saveJob(this.deps.store, this.settings.root, next);
    return next;
  }

  /** The original design's forward: one batch through every layer, kept for its backward. */
  async forwardJson(jobId: string, input: unknown): Promise<unknown> {
    return this.exclusive(jobId, 'forward', async () => {
      const job = await this.job(jobId);
      const x = tensorFromJson(input, 'input');
      const ref = { jobId, step: job.progress.step + 1, microbatch: 0 };
      const logits = await forwardChain(
        this.clients(job),
        ref,
        encodeTensors({ x: { dtype: 'F32', shape: x.shape, data: x.data } }),
      );
      return tensorToJson(onlyTensor(logits));
    });
  }

  /** The original design's backward: a client's loss gradient back through every layer, applied at once. */
  async backwardJson(jobId: string, outputGrad: unknown, learningRate?: number): Promise<{ step: number }> {
    return this.exclusive(jobId, 'backward', async () => {
      const job = await this.job(jobId);
      const dy = tensorFromJson(outputGrad, 'output_grad');
      const step = job.progress.step + 1;
      const clients = this.clients(job);
      try {
        await backwardChain(
          clients,
          { jobId, step, microbatch: 0 },
          encodeTensors({ dy: { dtype: 'F32', shape: dy.shape, data: dy.data } }),
        );
        await Promise.all(clients.map((c) => c.apply(jobId, step, 1, learningRate)));
      } catch (e) {
        await Promise.allSettled(clients.map((c) => c.discard(jobId, step)));
        throw e;
      }
      job.progress.step = step;
      await saveJob(this.deps.store, this.settings.root, job);
      return { step };
    });
  }

  /** Checkpoints every layer at its current step and records it as the resume point. */
  async saveLayersState(jobId: string): Promise<LayerJobRecord> {
    return this.exclusive(jobId, 'save', async () => {
      const job = await this.job(jobId);
      await Promise.all(this.clients(job).map((c) => c.save(jobId)));
      job.progress.checkpointStep = job.progress.step;
      await saveJob(this.deps.store, this.settings.root, job);
      return job;
    });
  }

  /** Writes the layer list (and input shape) to `layer-jobs/<id>/layers.json`; its URL. */
  async saveLayers(jobId: string): Promise<string> {
    return saveLayerList(this.deps.store, this.settings.root, await this.job(jobId));
  }

  /** The chain as one TF.js layers model at `modelPath` (a folder in the storage roots). */
  async saveModel(jobId: string, modelPath: string): Promise<string> {
    return this.exclusive(jobId, 'save_model', async () => {
      const job = await this.job(jobId);
      const folder = exportPath(this.settings.root, modelPath);
      await saveChainModel(await this.deps.tf(), this.deps.store, job, this.clients(job), folder);
      return folder;
    });
  }

  /** Loads a saved chain model's weights into the job's layers. */
  async loadModel(jobId: string, modelPath: string): Promise<string> {
    return this.exclusive(jobId, 'load_model', async () => {
      const job = await this.job(jobId);
      const folder = exportPath(this.settings.root, modelPath);
      await loadChainModel(await this.deps.tf(), this.deps.store, job, this.clients(job), folder);
      return folder;
    });
  }

  /** Runs a training request (the `train` call and the `layers.train.requested` event). */
  async train(request: LayersTrainRequested, inputShape?: readonly number[]): Promise<TrainSummary> {
    const { jobId } = request;
    if (request.layers !== undefined) {
      const existing = await this.job(jobId).catch(() => undefined);
      if (existing === undefined || JSON.stringify(existing.layers) !== JSON.stringify(request.layers))
        await this.createLayers(jobId, request.layers, inputShape);
    }
    return this.exclusive(jobId, 'train', async () => {
      let job = await this.job(jobId);
      if (job.status === 'created')
        job = await this.initializeJob(jobId, {
          seed: request.seed ?? 0,
          ...(request.optimizer ? { optimizer: request.optimizer } : {}),
          ...(request.learningRate ? { learningRate: request.learningRate } : {}),
        });
      return runTraining(this, job, request);
    });
  }

  /** Deletes the job's layer services and its record (checkpoints stay in storage). */
  async deleteJob(jobId: string): Promise<{ deleted: string[] }> {
    return this.exclusive(jobId, 'delete', async () => {
      const deleted = await deleteLayerServices(this.deps.cluster(), jobId);
      await deleteJobRecord(this.deps.store, this.settings.root, jobId);
      return { deleted };
    });
  }

  async publish(
    job: LayerJobRecord,
    name: string,
    result: { testAccuracy: number | null; testLoss: number | null; dataset: string },
  ): Promise<string> {
    return publishChainModel(
      await this.deps.tf(),
      this.deps.store,
      this.settings.root,
      name,
      job,
      this.clients(job),
      result,
    );
  }
}
