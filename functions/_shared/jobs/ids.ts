// Names that must come out the same every time they are computed: a job's id from the event
// that asked for it (so a redelivered request maps to the same job, not a second one), the
// ids of the events a job emits (so a re-emitted event is recognisably the same event), and
// the job's seed (so a retried split cuts the same shards).
import { createHash } from 'node:crypto';

/** What a job id may be (it names a storage folder): 1-128 letters, digits, ".", "_" or "-". */
export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const JOB_ID_RULE = '1-128 letters, digits, ".", "_" or "-"';

/** What a published model's name may be (a storage folder, and the name it is served under). */
export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function digest(...parts: readonly string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`);
  return hash.digest();
}

/** `job-<16 hex>` from the requesting event's `source` and `id` (their identity in CloudEvents). */
export function deriveJobId(source: string, id: string): string {
  return `job-${digest(source, id).toString('hex').slice(0, 16)}`;
}

/** A 32-bit seed from the job id, used when the request names none. */
export function deriveSeed(jobId: string): number {
  return digest('seed', jobId).readUInt32LE(0);
}

/** Event ids of a job's events: one per (job, round, shard, kind), stable across retries. */
export const eventIds = {
  shardReady: (jobId: string, round: number, shard: number): string => `${jobId}.r${round}.s${shard}.ready`,
  shardTrained: (jobId: string, round: number, shard: number): string => `${jobId}.r${round}.s${shard}.trained`,
  modelAggregated: (jobId: string, round: number): string => `${jobId}.r${round}.aggregated`,
  jobFailed: (jobId: string): string => `${jobId}.failed`,
};
