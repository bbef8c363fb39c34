// The jobs one layer pod holds, by job id. A job missing from memory (the pod was scaled to
// zero, killed or is new) is loaded from its LATEST checkpoint on first use; concurrent first
// uses share one load. One registry per server, passed to the handler: nothing per request
// lives in module globals.
import type * as tfjs from '@tensorflow/tfjs';
import { parseOptimizerSpec } from '../_shared/layers/optimizer.js';
import { parseLayerSpec, type LayerSpec } from '../_shared/layers/spec.js';
import { BadInputError } from '../_shared/errors.js';
import type { Store } from '../_shared/store/index.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { LayerJob } from './layer-job.js';

export interface LayerIdentity {
  /** This service's layer, from `LAYER_TYPE` / `LAYER_CONFIG`; unset for a generic layer service. */
  readonly spec: LayerSpec | undefined;
  readonly entry: { readonly type: string; readonly config: unknown } | undefined;
  /** Where this layer's checkpoints live (`LAYER_STATE_URL`), one folder per job below it. */
  readonly stateUrl: string;
  readonly maxBytes: number;
}

export interface InitializeRequest {
  readonly jobId: string;
  readonly seed: number;
  readonly optimizer?: unknown;
  /** Type and config for a generic layer service (one without `LAYER_TYPE`). */
  readonly type?: unknown;
  readonly config?: unknown;
}

export class LayerRegistry {
  private readonly jobs = new Map<string, LayerJob>();
  private readonly loading = new Map<string, Promise<LayerJob>>();

  constructor(
    private readonly tf: typeof tfjs,
    private readonly store: Store,
    readonly identity: LayerIdentity,
  ) {}

  /** The job's layer, resumed from its last checkpoint when not in memory. */
  async get(jobId: string): Promise<LayerJob> {
    const held = this.jobs.get(jobId);
    if (held !== undefined) return held;
    let pending = this.loading.get(jobId);
    if (pending === undefined) {
      pending = loadCheckpoint(this.tf, this.store, this.identity.stateUrl, jobId, this.identity.maxBytes)
        .then((job) => {
          this.install(job);
          return job;
        })
        .finally(() => this.loading.delete(jobId));
      this.loading.set(jobId, pending);
    }
    return pending;
  }

  /** Fresh weights from the seed (replacing any held state) and a step-0 checkpoint. */
  async initialize(request: InitializeRequest): Promise<LayerJob> {
    const { spec, entry } = this.resolve(request);
    const job = new LayerJob(this.tf, {
      jobId: request.jobId,
      spec,
      entry,
      optimizer: parseOptimizerSpec(request.optimizer),
      seed: request.seed,
    });
    this.install(job);
    await saveCheckpoint(this.store, this.identity.stateUrl, job);
    return job;
  }

  /** Re-reads the job's LATEST checkpoint (a rollback after a failed step). */
  async reload(jobId: string): Promise<LayerJob> {
    const job = await loadCheckpoint(this.tf, this.store, this.identity.stateUrl, jobId, this.identity.maxBytes);
    this.install(job);
    return job;
  }

  async save(jobId: string): Promise<{ url: string; step: number }> {
    const job = await this.get(jobId);
    return { url: await saveCheckpoint(this.store, this.identity.stateUrl, job), step: job.appliedStep };
  }

  /** Forgets a job in memory (its checkpoints stay). */
  drop(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    job?.dispose();
    return this.jobs.delete(jobId);
  }

  jobIds(): string[] {
    return [...this.jobs.keys()];
  }

  private resolve(request: InitializeRequest): { spec: LayerSpec; entry: { type: string; config: unknown } } {
    const { spec, entry } = this.identity;
    if (spec !== undefined && entry !== undefined) {
      if (request.type !== undefined && request.type !== entry.type) {
        throw new BadInputError(
          `this service is a ${entry.type} layer (LAYER_TYPE); initialize asked for ${JSON.stringify(request.type)}`,
        );
      }
      return { spec, entry };
    }
    if (request.type === undefined)
      throw new BadInputError('this layer service has no LAYER_TYPE: initialize needs "type" and "config"');
    const parsed = parseLayerSpec(request.type, request.config);
    return { spec: parsed, entry: { type: request.type as string, config: request.config ?? {} } };
  }

  private install(job: LayerJob): void {
    const previous = this.jobs.get(job.jobId);
    if (previous !== undefined && previous !== job) previous.dispose();
    this.jobs.set(job.jobId, job);
  }
}
