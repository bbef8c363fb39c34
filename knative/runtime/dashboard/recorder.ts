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
  SplitSample,
  TrainingJobView,
} from './model.js';
import { LIMITS } from './limits.js';
import { TrainingJobs } from './training-jobs.js';
import { jsonData, pushBounded } from './values.js';

export { LIMITS } from './limits.js';

const LAYER_EVENT_PREFIX = 'dev.kaskade.layer.';

export class Recorder {
  private readonly pods = new Map<string, PodSample[]>();
  private readonly eventCounts = new Map<string, number>();
  private readonly jobs = new TrainingJobs();
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
    // Every event passes here: only a training job's events are worth parsing their data for.
    if (!TrainingJobs.TYPES.has(type)) return;
    const data = jsonData(event);
    if (data !== null) this.jobs.event(type, event.attributes.id ?? '', data, this.now());
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

  // --- what the ingress sees ------------------------------------------------------------------

  /** `functionTarget` says what the service runs (split halves and admission are told apart by it). */
  request(r: RequestRecord, functionTarget: string | undefined): { pollAdmission: boolean } {
    const type = r.ce.type ?? '';
    if (type === EVENT_TYPES.shardReady) this.jobs.shardRequest(r);
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
    return this.jobs.list();
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
