// The broker's dead-letter sink (`POST /dead-letter`): an event whose delivery failed after
// every retry arrives here with Knative's `knativeerrordest`, `knativeerrorcode` and
// `knativeerrordata` extensions. A job cannot finish without that event, so the job is marked
// failed and `job.failed` is emitted — except where the job can do without it:
//
// - `shard.ready` of a job that accepts a quorum (< 1) with a round timeout: that shard is
//   skipped, and the round is checked at once (the quorum may close it);
// - `model.aggregated` and `job.failed` are notifications: a listener being down does not
//   fail the training, so they are only logged.
//
// The data is read leniently (not validated against the catalog): an event that failed with
// 400 for being malformed is dead-lettered too, and still names its job when it can.
import type { CloudEvent } from 'cloudevents';
import { z } from 'zod';
import { createEvent, type Emit } from '../../events/emit.js';
import { EVENT_TYPES, LIMITS } from '../../events/catalog.js';
import { ForbiddenPathError } from '../_shared/errors.js';
import { JOB_ID, deriveJobId, eventIds } from '../_shared/jobs/ids.js';
import { jobLayout, jobLayoutOf, type JobLayout } from '../_shared/jobs/layout.js';
import { failJob, findJob, type JobRecord } from '../_shared/jobs/record.js';
import type { Store } from '../_shared/store/types.js';
import { SOURCE, type AggregatorDeps, type AggregatorSettings } from './aggregate.js';
import { checkRound, type RoundOutcome } from './collect.js';

const STAGES: Readonly<Record<string, string>> = {
  [EVENT_TYPES.trainingRequested]: 'split',
  [EVENT_TYPES.ping]: 'split',
  [EVENT_TYPES.shardReady]: 'train',
  [EVENT_TYPES.shardTrained]: 'aggregate',
};

export type DeadLetterOutcome =
  | { outcome: 'failed'; jobId: string; reason: string; status: JobRecord['status'] | 'unknown' }
  | { outcome: 'skipped-shard'; jobId: string; round: RoundOutcome }
  | { outcome: 'ignored'; jobId: string | null; why: string };

/** The fields a dead-lettered event may carry that say which job it belongs to, read leniently. */
const hints = z.object({
  jobId: z.string().regex(JOB_ID).optional().catch(undefined),
  round: z.int().positive().optional().catch(undefined),
  storageRoot: z.string().optional().catch(undefined),
  weightsUrl: z.string().optional().catch(undefined),
  globalModelUrl: z.string().optional().catch(undefined),
  shardUrl: z.string().optional().catch(undefined),
  modelUrl: z.string().optional().catch(undefined),
});
type Hints = z.infer<typeof hints>;

function hintsOf(data: unknown): Hints {
  const parsed = hints.safeParse(data);
  return parsed.success ? parsed.data : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** knativeerrordata is the failed answer's body, base64-encoded; shown as text when it is text. */
function errorData(value: unknown): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  // eslint-disable-next-line no-control-regex
  const printable = /^[^\u0000-\u0008\u000e-\u001f]*$/.test(decoded) ? decoded : raw;
  return printable.slice(0, 500);
}

export function deadLetterReason(event: CloudEvent<unknown>): string {
  const dest = text(event.knativeerrordest) ?? 'its subscriber';
  const rawCode = event.knativeerrorcode;
  const code = text(rawCode) ?? (typeof rawCode === 'number' ? String(rawCode) : 'unknown');
  const body = errorData(event.knativeerrordata);
  const reason = `${event.type} ${event.id} could not be delivered to ${dest} (HTTP ${code})${body ? `: ${body}` : ''}`;
  return reason.slice(0, LIMITS.maxReasonLength);
}

/** The job a dead-lettered event belongs to, and where its record would be. */
function locate(
  event: CloudEvent<unknown>,
  data: Hints,
  settings: AggregatorSettings,
): { jobId: string; layouts: JobLayout[] } | undefined {
  const named = data.jobId;
  const isRequest = event.type === EVENT_TYPES.trainingRequested || event.type === EVENT_TYPES.ping;
  const jobId = named ?? (isRequest ? deriveJobId(event.source, event.id) : undefined);
  if (jobId === undefined || !JOB_ID.test(jobId)) return undefined;
  const layouts: JobLayout[] = [];
  for (const url of [data.weightsUrl, data.globalModelUrl, data.shardUrl, data.modelUrl]) {
    if (url === undefined) continue;
    try {
      layouts.push(jobLayoutOf(url, jobId));
    } catch {
      // Not inside a job folder: fall back to the configured roots below.
    }
  }
  if (data.storageRoot !== undefined) layouts.push(jobLayout(data.storageRoot, jobId));
  for (const r of settings.roots) layouts.push(jobLayout(r, jobId));
  return { jobId, layouts };
}

async function findIn(
  store: Store,
  layouts: readonly JobLayout[],
): Promise<{ job: JobRecord; layout: JobLayout } | undefined> {
  for (const layout of layouts) {
    try {
      const job = await findJob(store, layout.record);
      if (job !== undefined) return { job, layout };
    } catch (e) {
      // A root outside this store's configuration cannot hold the job: try the next place.
      if (!(e instanceof ForbiddenPathError)) throw e;
    }
  }
  return undefined;
}

export async function handleDeadLetter(
  deps: AggregatorDeps,
  settings: AggregatorSettings,
  event: CloudEvent<unknown>,
): Promise<DeadLetterOutcome> {
  const reason = deadLetterReason(event);
  const stage = STAGES[event.type];
  const data = hintsOf(event.data);
  const located = locate(event, data, settings);
  if (stage === undefined) {
    deps.logger.warn(`dead letter, no job affected: ${reason}`);
    return { outcome: 'ignored', jobId: located?.jobId ?? null, why: `${event.type} is a notification` };
  }
  if (located === undefined) {
    deps.logger.warn(`dead letter naming no job: ${reason}`);
    return { outcome: 'ignored', jobId: null, why: 'the event names no job' };
  }
  const found = await findIn(deps.store, located.layouts);
  const round = data.round;
  if (
    found !== undefined &&
    event.type === EVENT_TYPES.shardReady &&
    found.job.config.quorum < 1 &&
    found.job.config.roundTimeoutSeconds !== null &&
    round !== undefined
  ) {
    deps.logger.warn(`job ${found.job.jobId}: ${reason}; the round may close with a quorum`);
    return {
      outcome: 'skipped-shard',
      jobId: found.job.jobId,
      round: await checkRound(deps, settings, found, round, `${event.source} ${event.id}`),
    };
  }
  deps.logger.error(`job ${located.jobId} failed at ${stage}: ${reason}`);
  const failed =
    found === undefined
      ? undefined
      : await failJob(deps.store, found.layout.record, { reason, stage, ...(round === undefined ? {} : { round }) });
  if (failed?.status === 'done')
    return { outcome: 'ignored', jobId: located.jobId, why: 'the job had already finished' };
  await emitFailed(deps.emit, located.jobId, failed?.failure?.reason ?? reason, stage, round);
  return { outcome: 'failed', jobId: located.jobId, reason, status: failed?.status ?? 'unknown' };
}

function emitFailed(
  emit: Emit,
  jobId: string,
  reason: string,
  stage: string,
  round: number | undefined,
): Promise<void> {
  const failed = { jobId, reason, stage, ...(round === undefined ? {} : { round }) };
  return emit(
    createEvent(EVENT_TYPES.jobFailed, failed, { source: SOURCE, id: eventIds.jobFailed(jobId), subject: jobId }),
  );
}
