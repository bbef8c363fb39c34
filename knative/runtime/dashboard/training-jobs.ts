// Training jobs as the broker sees them: `training.requested`, `shard.ready`, `shard.trained`,
// `model.aggregated` and `job.failed` folded into one view per job (rounds, each shard's
// timeline, status or failure reason); the ingress adds which trainer pod took each shard.
import { EVENT_TYPES } from '../../../events/catalog.js';
import type { RequestRecord } from '../ingress.js';
import { LIMITS } from './limits.js';
import type { ShardRun, TrainingJobView } from './model.js';
import { num, pushBounded, str } from './values.js';

export class TrainingJobs {
  private readonly jobs = new Map<string, TrainingJobView>();
  private readonly shardByEventId = new Map<string, ShardRun>();

  /** One event the broker accepted, with its JSON data, at `at` (epoch ms). */
  /** The event types a training job's view is made of (the only ones whose data is read). */
  static readonly TYPES: ReadonlySet<string> = new Set([
    EVENT_TYPES.trainingRequested,
    EVENT_TYPES.ping,
    EVENT_TYPES.shardReady,
    EVENT_TYPES.shardTrained,
    EVENT_TYPES.modelAggregated,
    EVENT_TYPES.jobFailed,
  ]);

  event(type: string, id: string, data: Record<string, unknown>, at: number): void {
    if (type === EVENT_TYPES.trainingRequested || type === EVENT_TYPES.ping) this.requested(data, at);
    else if (type === EVENT_TYPES.shardReady) this.shardReady(id, data, at);
    else if (type === EVENT_TYPES.shardTrained) this.shardTrained(data, at);
    else if (type === EVENT_TYPES.modelAggregated) this.aggregated(data, at);
    else if (type === EVENT_TYPES.jobFailed) this.failed(data, at);
  }

  /** A trainer's request for a `shard.ready` delivery: its pod and timing go on the shard's run. */
  shardRequest(r: RequestRecord): void {
    const run = this.shardByEventId.get(r.ce.id ?? '');
    if (!run) return;
    run.pod = r.pod;
    run.startMs = r.startMs;
    run.endMs = r.endMs;
    run.attempts += 1;
  }

  list(): TrainingJobView[] {
    return [...this.jobs.values()];
  }

  get(jobId: string): TrainingJobView | undefined {
    return this.jobs.get(jobId);
  }

  private requested(data: Record<string, unknown>, at: number): void {
    if (typeof data.jobId !== 'string') return;
    const job = this.job(data.jobId, at);
    job.model = str(data.model) ?? job.model;
    job.dataset = str(data.dataset) ?? job.dataset;
    job.shards = num(data.shards) ?? job.shards;
    job.rounds = num(data.rounds) ?? job.rounds;
  }

  private shardReady(id: string, data: Record<string, unknown>, at: number): void {
    const jobId = str(data.jobId);
    const round = num(data.round);
    const shard = num(data.shardIndex);
    if (jobId === null || round === null || shard === null) return;
    const job = this.job(jobId, at);
    job.shards = num(data.shards) ?? job.shards;
    if (round > job.currentRound) {
      job.currentRound = round;
      job.shardsDone = 0;
    }
    let run = job.shardRuns.find((r) => r.round === round && r.shard === shard);
    if (!run) {
      run = {
        round,
        shard,
        readyAt: at,
        trainedAt: null,
        pod: null,
        startMs: null,
        endMs: null,
        attempts: 0,
        loss: null,
      };
      pushBounded(job.shardRuns, run, LIMITS.shardRunsPerJob);
    }
    if (id !== '') {
      this.shardByEventId.set(id, run);
      while (this.shardByEventId.size > LIMITS.shardDeliveries) {
        const oldest = this.shardByEventId.keys().next().value;
        if (oldest === undefined) break;
        this.shardByEventId.delete(oldest);
      }
    }
    job.updatedAt = at;
  }

  private shardTrained(data: Record<string, unknown>, at: number): void {
    const jobId = str(data.jobId);
    const round = num(data.round);
    const shard = num(data.shardIndex);
    if (jobId === null || round === null || shard === null) return;
    const job = this.job(jobId, at);
    const run = job.shardRuns.find((r) => r.round === round && r.shard === shard);
    if (run && run.trainedAt === null) {
      run.trainedAt = at;
      const metrics = data.metrics as Record<string, unknown> | undefined;
      run.loss = num(metrics?.loss);
      if (round === job.currentRound) job.shardsDone += 1;
    }
    job.updatedAt = at;
  }

  private aggregated(data: Record<string, unknown>, at: number): void {
    const jobId = str(data.jobId);
    const round = num(data.round);
    if (jobId === null || round === null) return;
    const job = this.job(jobId, at);
    job.rounds = num(data.rounds) ?? job.rounds;
    if (!job.results.some((r) => r.round === round))
      job.results.push({
        round,
        accuracy: num(data.testAccuracy) ?? 0,
        loss: num(data.testLoss) ?? 0,
        participants: num(data.participants) ?? 0,
        at,
      });
    job.results.sort((a, b) => a.round - b.round);
    if (data.final === true && job.status === 'running') job.status = 'done';
    job.updatedAt = at;
  }

  private failed(data: Record<string, unknown>, at: number): void {
    const jobId = str(data.jobId);
    if (jobId === null) return;
    const job = this.job(jobId, at);
    job.status = 'failed';
    const stage = str(data.stage);
    job.reason = `${stage ? `${stage}: ` : ''}${str(data.reason) ?? 'failed'}`;
    job.updatedAt = at;
  }

  private job(jobId: string, at: number): TrainingJobView {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = {
        jobId,
        model: null,
        dataset: null,
        shards: 0,
        rounds: 0,
        status: 'running',
        reason: null,
        startedAt: at,
        updatedAt: at,
        currentRound: 0,
        shardsDone: 0,
        results: [],
        shardRuns: [],
      };
      this.jobs.set(jobId, job);
      if (this.jobs.size > LIMITS.jobs) {
        const oldest = this.jobs.keys().next().value;
        if (oldest !== undefined) this.jobs.delete(oldest);
      }
    }
    return job;
  }
}
