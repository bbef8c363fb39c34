// Closing a round the caller has claimed: average the participants' weights by example count
// (FedAvg), write the round model, evaluate it on the held-out test set, record the result,
// emit `model.aggregated`, then either start the next round (N `shard.ready`) or, after the
// last round, publish the model (TF.js layers format + kaskade.json, then the LATEST pointer)
// and mark the job done. Every step can be redone by a redelivery that re-enters the claim:
// writes are whole-object, record updates check what is already there, event ids are stable.
import { createEvent, sourceFor, type Emit } from '../../events/emit.js';
import { EVENT_TYPES } from '../../events/catalog.js';
import { shardReadyEvents } from '../../events/shard-ready.js';
import { BadInputError } from '../_shared/errors.js';
import { federatedAverage, type ClientUpdate } from '../_shared/fedavg/average.js';
import { applyWeights, decodeExamples, decodeWeights, encodeWeightSet } from '../_shared/jobs/artifacts.js';
import { eventIds } from '../_shared/jobs/ids.js';
import type { JobLayout } from '../_shared/jobs/layout.js';
import { updateJob, type JobRecord, type RoundResult } from '../_shared/jobs/record.js';
import { aggregatorMetrics, boundedLabel } from '../_shared/observability/workload-metrics.js';
import { completeRound, readArrival, type RoundClaim } from './rounds.js';
import type { Store } from '../_shared/store/types.js';
import { evaluate } from '../_shared/train/loop.js';
import { publishModel } from './publish.js';
import type { FunctionDeps } from '../../events/function-deps.js';

export const SOURCE = sourceFor('aggregator');

export interface AggregatorDeps extends FunctionDeps {
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Rounds this process is checking or aggregating right now, by claimant (`<record url>#<round> <by>`). */
  readonly busy?: Set<string>;
}

export interface AggregatorSettings {
  /** Storage roots searched for a job by id (GET /jobs/<id>, dead letters). */
  readonly roots: readonly string[];
  /** A round claim older than this belongs to a dead aggregator and may be taken over. */
  readonly leaseMs: number;
  /** Longest a request waits for a round deadline once a quorum is in. */
  readonly maxHoldMs: number;
  readonly evalBatchSize: number;
}

export interface Aggregation extends RoundResult {
  final: boolean;
  modelUrl: string;
}

export async function aggregateRound(
  deps: AggregatorDeps,
  settings: AggregatorSettings,
  { layout, job }: { readonly layout: JobLayout; readonly job: JobRecord },
  round: number,
  claim: { claim: RoundClaim; text: string },
): Promise<Aggregation> {
  const { store, tf: tfjs } = deps;
  const now = deps.now ?? Date.now;
  const participants = [...claim.claim.participants].sort((a, b) => a - b);
  if (participants.length === 0) throw new BadInputError(`round ${round} of job ${job.jobId} has no participants`);
  const updates = await Promise.all(participants.map((k) => readUpdate(store, layout, round, k)));
  const averaged = federatedAverage(updates);
  const examples = updates.reduce((sum, u) => sum + u.count, 0);
  const roundModelUrl = layout.roundModel(round);
  await store.write(
    roundModelUrl,
    encodeWeightSet(averaged, { round: String(round), participants: JSON.stringify(participants) }),
  );

  const model = await tfjs.loadLayersModel(store.modelHandler(layout.architecture));
  try {
    applyWeights(tfjs, model, averaged, roundModelUrl);
    const test = decodeExamples(await store.read(layout.testSet), layout.testSet);
    const evaluated = await evaluate(tfjs, model, test, settings.evalBatchSize);
    const final = round >= job.config.rounds;
    const result: RoundResult = {
      round,
      testAccuracy: evaluated.accuracy,
      testLoss: Number.isFinite(evaluated.loss) ? Math.max(0, evaluated.loss) : 0,
      participants,
      examples,
      finishedAt: new Date(now()).toISOString(),
    };
    deps.logger.info(
      `job ${job.jobId} round ${round}/${job.config.rounds}: ${participants.length}/${job.config.shards} shards, ` +
        `${examples} examples → test accuracy ${result.testAccuracy.toFixed(4)}, loss ${result.testLoss.toFixed(4)}`,
    );
    const published = final ? await publishModel(deps, job, layout, model, result) : null;
    const updated = await updateJob(store, layout.record, (current) => advance(current, result, published, now()));
    const recorded = updated.results.find((r) => r.round === round) ?? result;
    const modelUrl = published?.folderUrl ?? roundModelUrl;
    if (updated.status !== 'failed') {
      await emitAggregated(deps.emit, updated, recorded, modelUrl, final);
      if (!final) await emitNextRound(deps.emit, updated, layout, round + 1);
    }
    await completeRound(store, layout, round, claim.text, participants);
    recordRound(job.config.model, recorded);
    return { ...recorded, final, modelUrl };
  } finally {
    model.dispose();
  }
}

function recordRound(modelName: string, result: RoundResult): void {
  const metrics = aggregatorMetrics();
  const model = boundedLabel(modelName);
  metrics.roundsClosed.inc({ model });
  metrics.accuracy.set({ model }, result.testAccuracy);
  metrics.loss.set({ model }, result.testLoss);
}

async function readUpdate(store: Store, layout: JobLayout, round: number, k: number): Promise<ClientUpdate> {
  const arrival = await readArrival(store, layout, round, k);
  const url = layout.shardWeights(round, k);
  return { weights: decodeWeights(await store.read(url), url).weights, count: arrival.exampleCount };
}

/** The record after round `result.round`: its result kept once, then the next round or done. */
function advance(
  job: JobRecord,
  result: RoundResult,
  published: JobRecord['published'],
  nowMs: number,
): JobRecord | undefined {
  if (job.status === 'failed' || job.status === 'done') return undefined;
  const results = job.results.some((r) => r.round === result.round)
    ? job.results
    : [...job.results, result].sort((a, b) => a.round - b.round);
  if (published !== null) return { ...job, results, status: 'done', published };
  if (job.currentRound > result.round) return { ...job, results };
  return {
    ...job,
    results,
    status: 'running',
    currentRound: result.round + 1,
    roundStartedAt: new Date(nowMs).toISOString(),
  };
}

function emitAggregated(
  emit: Emit,
  job: JobRecord,
  result: RoundResult,
  modelUrl: string,
  final: boolean,
): Promise<void> {
  return emit(
    createEvent(
      EVENT_TYPES.modelAggregated,
      {
        jobId: job.jobId,
        round: result.round,
        rounds: job.config.rounds,
        modelUrl,
        testAccuracy: result.testAccuracy,
        testLoss: result.testLoss,
        participants: result.participants.length,
        final,
      },
      { source: SOURCE, id: eventIds.modelAggregated(job.jobId, result.round), subject: job.jobId },
    ),
  );
}

async function emitNextRound(emit: Emit, job: JobRecord, layout: JobLayout, round: number): Promise<void> {
  await Promise.all(shardReadyEvents(job, layout, round, SOURCE).map((event) => emit(event)));
}
