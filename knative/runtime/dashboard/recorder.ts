// The dashboard's memory: folds what the runtime sees — the broker's accepted events and
// finished deliveries, the ingress's requests, the pools' and the autoscaler's status each
// second — into bounded views of jobs, pods and dead letters. Everything is kept per runtime
// (one Recorder per startRuntime), in ring buffers, so a long run keeps a fixed footprint.
import type { DeliveryOutcome } from '../../../events/broker/index.js';
import { EVENT_TYPES } from '../../../events/catalog.js';
import type { WireEvent } from '../../../events/wire.js';
import type { RequestRecord } from '../ingress.js';
import type {
  DeadLetterView,
  EdgeSample,
  LayerJobView,
  MicrobatchRun,
  PodSample,
  ServiceView,
  ShardRun,
  SplitSample,
  TrainingJobView,
} from './model.js';

/** How much each view keeps. */
export const LIMITS = {
  podSamplesPerService: 300,
  jobs: 20,
  /** Shard runs per job (the latest rounds'; a 1000-round job would otherwise grow without end). */
  shardRunsPerJob: 512,
  layerJobs: 5,
  runsPerLayerJob: 400,
  splitSamples: 300,
  edgeSamples: 300,
  deadLetters: 50,
  /** Event bodies larger than this are not parsed (the catalog's JSON events are far smaller). */
  jsonBytes: 64 * 1024,
  /** shard.ready ids remembered to match the trainer's request to its shard. */
  shardDeliveries: 2_000,
} as const;

const LAYER_EVENT_PREFIX = 'dev.kaskade.layer.';

export class Recorder {
  private readonly pods = new Map<string, PodSample[]>();
  private readonly eventCounts = new Map<string, number>();
  private readonly jobs = new Map<string, TrainingJobView>();
  private readonly shardByEventId = new Map<string, ShardRun>();
  private readonly layerJobs = new Map<string, LayerJobView>();
  private readonly split: SplitSample[] = [];
  private readonly edge: EdgeSample[] = [];
  private readonly admissions = new Map<string, number>();
  private readonly deadLetters: DeadLetterView[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  // --- what the broker sees -------------------------------------------------------------------

  accepted(event: WireEvent): void {
    const type = event.attributes.type ?? '';
    this.eventCounts.set(type, (this.eventCounts.get(type) ?? 0) + 1);
    const data = jsonData(event);
    if (data === null) return;
    const at = this.now();
    if (type === EVENT_TYPES.trainingRequested || type === EVENT_TYPES.ping) this.requested(data, at);
    else if (type === EVENT_TYPES.shardReady) this.shardReady(event.attributes.id ?? '', data, at);
    else if (type === EVENT_TYPES.shardTrained) this.shardTrained(data, at);
    else if (type === EVENT_TYPES.modelAggregated) this.aggregated(data, at);
    else if (type === EVENT_TYPES.jobFailed) this.failed(data, at);
  }

  finished(trigger: string, event: WireEvent, outcome: DeliveryOutcome, reason: string | undefined): void {
    if (outcome === 'delivered') return;
    const data = jsonData(event);
    const jobId = data !== null && typeof data.jobId === 'string' ? data.jobId : null;
    pushBounded(
      this.deadLetters,
      {
        at: this.now(),
        trigger,
        type: event.attributes.type ?? '',
        id: event.attributes.id ?? '',
        jobId,
        outcome,
        reason: reason ?? 'not delivered',
      },
      LIMITS.deadLetters,
    );
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

  // --- what the ingress sees ------------------------------------------------------------------

  /** `functionTarget` says what the service runs (split halves and admission are told apart by it). */
  request(r: RequestRecord, functionTarget: string | undefined): { pollAdmission: boolean } {
    const type = r.ce.type ?? '';
    if (type === EVENT_TYPES.shardReady) this.shardRequest(r);
    else if (type.startsWith(LAYER_EVENT_PREFIX)) this.layerRequest(r, type);
    if (functionTarget === 'split-half')
      pushBounded(
        this.split,
        {
          t: r.endMs,
          service: r.name,
          latencyMs: r.endMs - r.startMs,
          bytes: r.requestBytes,
          status: r.status,
        },
        LIMITS.splitSamples,
      );
    if (functionTarget === 'admission' && r.path !== '/status') {
      const key = `${r.namespace}/${r.name}`;
      if (r.path === '/app-service') this.admissions.set(key, (this.admissions.get(key) ?? 0) + 1);
      return { pollAdmission: true };
    }
    return { pollAdmission: false };
  }

  /** An admission service's `/status` answer. */
  admissionStatus(service: string, status: { capacity: number | null; sessions: Record<string, number> }): void {
    pushBounded(
      this.edge,
      {
        t: this.now(),
        service,
        capacity: status.capacity,
        sessions: status.sessions,
        admissions: this.admissions.get(service) ?? 0,
      },
      LIMITS.edgeSamples,
    );
  }

  private shardRequest(r: RequestRecord): void {
    const run = this.shardByEventId.get(r.ce.id ?? '');
    if (!run) return;
    run.pod = r.pod;
    run.startMs = r.startMs;
    run.endMs = r.endMs;
    run.attempts += 1;
  }

  private layerRequest(r: RequestRecord, type: string): void {
    const jobId = r.ce.jobid;
    const step = Number(r.ce.step);
    const microbatch = Number(r.ce.microbatch);
    const stage = Number(/-(\d+)$/.exec(r.name)?.[1]);
    if (jobId === undefined || !Number.isInteger(step) || !Number.isInteger(microbatch) || !Number.isInteger(stage))
      return;
    let job = this.layerJobs.get(jobId);
    if (!job) {
      job = { jobId, stages: 0, updatedAt: r.endMs, runs: [] };
      this.layerJobs.set(jobId, job);
      if (this.layerJobs.size > LIMITS.layerJobs) {
        const oldest = this.layerJobs.keys().next().value;
        if (oldest !== undefined) this.layerJobs.delete(oldest);
      }
    }
    const run: MicrobatchRun = {
      stage,
      service: r.name,
      kind: type.includes('.backward.') ? 'backward' : 'forward',
      step,
      microbatch,
      startMs: r.startMs,
      endMs: r.endMs,
    };
    pushBounded(job.runs, run, LIMITS.runsPerLayerJob);
    job.stages = Math.max(job.stages, stage + 1);
    job.updatedAt = r.endMs;
  }

  // --- what the pools and the autoscaler say --------------------------------------------------

  sample(services: readonly ServiceView[]): void {
    const t = this.now();
    for (const s of services) {
      const key = `${s.namespace}/${s.name}`;
      let samples = this.pods.get(key);
      if (!samples) {
        samples = [];
        this.pods.set(key, samples);
      }
      pushBounded(
        samples,
        { t, service: s.name, ready: s.ready, desired: s.desired, concurrency: s.concurrency },
        LIMITS.podSamplesPerService,
      );
    }
    for (const key of this.pods.keys())
      if (!services.some((s) => `${s.namespace}/${s.name}` === key)) this.pods.delete(key);
  }

  // --- views ------------------------------------------------------------------------------------

  podSamples(): PodSample[] {
    return [...this.pods.values()].flat();
  }

  eventTypes(): Array<{ type: string; count: number }> {
    return [...this.eventCounts].map(([type, count]) => ({ type, count }));
  }

  trainingJobs(): TrainingJobView[] {
    return [...this.jobs.values()];
  }

  trainingJob(jobId: string): TrainingJobView | undefined {
    return this.jobs.get(jobId);
  }

  layerPipelines(): LayerJobView[] {
    return [...this.layerJobs.values()];
  }

  splitSamples(): SplitSample[] {
    return [...this.split];
  }

  edgeSamples(): EdgeSample[] {
    return [...this.edge];
  }

  recentDeadLetters(): DeadLetterView[] {
    return [...this.deadLetters].reverse();
  }
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** The event's data as a JSON object, or null (binary bodies, tensors, malformed JSON). */
function jsonData(event: WireEvent): Record<string, unknown> | null {
  const contentType = event.attributes.datacontenttype ?? 'application/json';
  if (event.data === undefined || event.data.byteLength > LIMITS.jsonBytes || !/json/i.test(contentType)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(event.data).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
