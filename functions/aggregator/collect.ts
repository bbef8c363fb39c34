// Collecting `shard.trained` results. Each arrival is recorded in storage (one marker per shard
// per round, written only if absent), then the round is checked: when every shard is in — or,
// once the round's deadline has passed, a quorum — one caller wins the round's state pointer by
// compare-and-swap and aggregates; everyone else answers "waiting".
//
// Deadlines are checked on each arrival, and the request that brings a quorum before the
// deadline stays open until the deadline (at most maxHoldMs) and checks again: an open request
// keeps the aggregator's pod from scaling to zero, so no in-process timer is lost. Deadlines
// further away are re-checked by later arrivals, by a dead-lettered `shard.ready`, or by
// `POST /jobs/<id>/check` (what a scheduler can call).
import { randomUUID } from 'node:crypto';
import type { ShardTrained } from '../../events/catalog.js';
import { BadInputError } from '../_shared/errors.js';
import { jobLayoutOf, type JobLayout } from '../_shared/jobs/layout.js';
import { findJob, readJob, type JobRecord } from '../_shared/jobs/record.js';
import {
  arrivedShards,
  claimRound,
  decideRound,
  readRoundState,
  recordArrival,
  releaseRound,
  type ClaimOutcome,
} from './rounds.js';
import { aggregateRound, type Aggregation, type AggregatorDeps, type AggregatorSettings } from './aggregate.js';
import { verifyArrival } from './verify.js';

export type RoundOutcome =
  | { outcome: 'aggregated'; jobId: string; round: number; aggregation: Aggregation }
  /** The round is still open: `missing` shards not in yet (a quorum may close it at the deadline). */
  | { outcome: 'waiting'; jobId: string; round: number; arrived: number[]; deadline: string | null }
  /** Another aggregator holds the round's claim right now. */
  | { outcome: 'in-progress'; jobId: string; round: number }
  /** The round was already closed (this result came too late, or is a repeat). */
  | { outcome: 'closed'; jobId: string; round: number; counted: boolean }
  /** The job is over (done or failed); nothing was recorded. */
  | { outcome: 'ignored'; jobId: string; round: number; status: JobRecord['status'] };

export interface ArrivalOutcome {
  /** False when this shard's result for the round had already been recorded. */
  recorded: boolean;
  round: RoundOutcome;
}

export async function handleShardTrained(
  deps: AggregatorDeps,
  settings: AggregatorSettings,
  data: ShardTrained,
  event: { readonly source: string; readonly id: string },
): Promise<ArrivalOutcome> {
  const now = deps.now ?? Date.now;
  const layout = jobLayoutOf(data.weightsUrl, data.jobId);
  const expected = layout.shardWeights(data.round, data.shardIndex);
  if (data.weightsUrl !== expected)
    throw new BadInputError(
      `data.weightsUrl: round ${data.round} shard ${data.shardIndex} of job ${data.jobId} is ${expected}`,
    );
  const job = await findJob(deps.store, layout.record);
  if (job === undefined) throw new BadInputError(`data.jobId: no job ${data.jobId} at ${layout.record}`);
  if (data.shards !== job.config.shards)
    throw new BadInputError(`data.shards: job ${job.jobId} has ${job.config.shards} shards, not ${data.shards}`);
  if (data.round > job.config.rounds)
    throw new BadInputError(`data.round: job ${job.jobId} has ${job.config.rounds} rounds, not ${data.round}`);
  if (job.status === 'done' || job.status === 'failed') {
    return { recorded: false, round: { outcome: 'ignored', jobId: job.jobId, round: data.round, status: job.status } };
  }
  // Counted only when the weights exist and carry this very result (the stored metrics win).
  const stored = await verifyArrival(deps.store, data);
  const recorded = await recordArrival(deps.store, layout, data.round, {
    shardIndex: data.shardIndex,
    exampleCount: stored.exampleCount,
    weightsUrl: data.weightsUrl,
    metrics: stored.metrics,
    event: { source: event.source, id: event.id },
    arrivedAt: new Date(now()).toISOString(),
  });
  const round = await checkRound(
    deps,
    settings,
    { layout, job },
    data.round,
    `${event.source} ${event.id}`,
    data.shardIndex,
  );
  return { recorded, round };
}

/**
 * Checks round `round` of the job at `layout` and aggregates it when it is due. `job` is the
 * record the caller has just read (read again only after waiting for a deadline). `by` names the
 * caller (the event being handled): a redelivery of the event whose handling died mid-aggregation
 * re-enters its own claim. `shard` is the arrival that prompted the check, if any.
 */
export async function checkRound(
  deps: AggregatorDeps,
  settings: AggregatorSettings,
  found: { readonly layout: JobLayout; readonly job: JobRecord },
  round: number,
  by: string,
  shard?: number,
): Promise<RoundOutcome> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { layout } = found;
  let job = found.job;
  for (let pass = 0; ; pass++) {
    if (pass > 0) job = await readJob(deps.store, layout.record);
    const jobId = job.jobId;
    if (job.status === 'done' || job.status === 'failed')
      return { outcome: 'ignored', jobId, round, status: job.status };
    const current = await readRoundState(deps.store, layout, round);
    if (current?.state.state === 'done') {
      return {
        outcome: 'closed',
        jobId,
        round,
        counted: shard === undefined || current.state.participants.includes(shard),
      };
    }
    // One aggregation per round per process: copies of one event arriving at once carry the same
    // claimant id (which re-enters its own claim after a crash), so they are held apart here.
    // Keyed by claimant too: different events still race for the claim in storage, as before.
    const key = `${layout.record}#${round} ${by}`;
    if (deps.busy?.has(key)) return { outcome: 'in-progress', jobId, round };
    deps.busy?.add(key);
    try {
      let claim: ClaimOutcome;
      if (current === undefined || current.state.state === 'open') {
        const arrived = await arrivedShards(deps.store, layout, round);
        const deadlineMs = deadlineOf(job, round);
        const decision = decideRound({
          arrived,
          shards: job.config.shards,
          quorum: job.config.quorum,
          deadlineMs,
          nowMs: now(),
        });
        if (decision.action === 'wait') {
          const holdMs = decision.recheckAtMs === undefined ? Infinity : decision.recheckAtMs - now();
          if (pass === 0 && holdMs <= settings.maxHoldMs) {
            deps.logger.info(
              `job ${jobId} round ${round}: quorum of ${arrived.length}/${job.config.shards} in; waiting ${Math.ceil(holdMs / 1000)} s for the deadline`,
            );
            await sleep(Math.max(0, holdMs));
            continue;
          }
          return {
            outcome: 'waiting',
            jobId,
            round,
            arrived,
            deadline: deadlineMs === undefined ? null : new Date(deadlineMs).toISOString(),
          };
        }
        if (decision.reason === 'quorum')
          deps.logger.warn(
            `job ${jobId} round ${round}: deadline passed, aggregating a quorum of ${decision.participants.length}/${job.config.shards}`,
          );
        claim = await claimRound(deps.store, layout, round, {
          participants: decision.participants,
          by,
          nowMs: now(),
          leaseMs: settings.leaseMs,
        });
      } else {
        // A claim exists: ours to re-enter, or abandoned and ours to take over, or someone else's.
        claim = await claimRound(deps.store, layout, round, {
          participants: current.state.participants,
          by,
          nowMs: now(),
          leaseMs: settings.leaseMs,
        });
      }
      if (!claim.won) {
        if (claim.state.state === 'done')
          return {
            outcome: 'closed',
            jobId,
            round,
            counted: shard === undefined || claim.state.participants.includes(shard),
          };
        return { outcome: 'in-progress', jobId, round };
      }
      let aggregation: Aggregation;
      try {
        aggregation = await aggregateRound(deps, settings, { layout, job }, round, claim);
      } catch (e) {
        // A failed aggregation gives the round back at once, instead of holding it for the lease:
        // the next arrival, redelivery or check decides it again from the arrivals then recorded.
        await releaseRound(deps.store, layout, round, claim.text).then(
          (released) => {
            if (released)
              deps.logger.warn(
                `job ${jobId} round ${round}: aggregation failed, claim released: ${(e as Error).message}`,
              );
          },
          (why: unknown) =>
            deps.logger.error(
              `job ${jobId} round ${round}: could not release the claim after a failed aggregation: ${String(why)}`,
            ),
        );
        throw e;
      }
      return { outcome: 'aggregated', jobId, round, aggregation };
    } finally {
      deps.busy?.delete(key);
    }
  }
}

/** When a quorum may close round `round`: its start plus the timeout; undefined = never (wait for all). */
function deadlineOf(job: JobRecord, round: number): number | undefined {
  if (job.config.roundTimeoutSeconds === null || job.roundStartedAt === null || job.currentRound !== round)
    return undefined;
  return Date.parse(job.roundStartedAt) + job.config.roundTimeoutSeconds * 1000;
}

/** A caller identity for checks not prompted by an event (a scheduler's POST /jobs/<id>/check). */
export function checkerId(): string {
  return `check ${randomUUID()}`;
}
