// Round bookkeeping for the aggregator, all of it in storage so any aggregator instance (or
// one that scaled to zero and came back) sees the same round:
//
// - an arrival marker per shard per round, written only if absent: a redelivered or repeated
//   `shard.trained` finds its marker and is not counted twice;
// - decideRound, a pure function: aggregate when every shard arrived, or when the round's
//   deadline has passed and a quorum has; otherwise wait (until the deadline, if that matters);
// - the round's state pointer, moved by compare-and-swap: absent (open) → aggregating (one
//   claimant, with the participants fixed) → done. A result arriving after the claim is late:
//   its marker is kept but it is not in the participant list, so it never enters the average.
//   A claim older than the lease is abandoned (its aggregator died) and may be taken over.
//   A claim whose aggregation failed is given back at once (→ open), so the round is decided again.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { BadInputError, ConflictError, NotFoundError } from '../_shared/errors.js';
import type { Store } from '../_shared/store/types.js';
import type { JobLayout } from '../_shared/jobs/layout.js';

// ---------------------------------------------------------------------------------------------
// Deciding

export interface RoundFacts {
  /** Shard indices whose results arrived (any order, no duplicates needed). */
  arrived: readonly number[];
  shards: number;
  /** Fraction of shards that suffices after the deadline (0 < q ≤ 1). */
  quorum: number;
  /** Epoch ms after which a quorum closes the round; undefined = wait for every shard. */
  deadlineMs: number | undefined;
  nowMs: number;
}

export type RoundDecision =
  | { action: 'aggregate'; participants: number[]; reason: 'all' | 'quorum' }
  /** `recheckAtMs`: a quorum is in and only the deadline is missing; check again then. */
  | { action: 'wait'; needed: number; recheckAtMs: number | undefined };

/** Shards a quorum needs: ceil(q × N), at least 1. */
export function quorumSize(shards: number, quorum: number): number {
  return Math.max(1, Math.ceil(quorum * shards - 1e-9));
}

export function decideRound(facts: RoundFacts): RoundDecision {
  const participants = [...new Set(facts.arrived)].filter((k) => k >= 0 && k < facts.shards).sort((a, b) => a - b);
  if (participants.length === facts.shards) return { action: 'aggregate', participants, reason: 'all' };
  const needed = quorumSize(facts.shards, facts.quorum);
  if (facts.deadlineMs === undefined || participants.length < needed) {
    return { action: 'wait', needed: facts.shards - participants.length, recheckAtMs: undefined };
  }
  if (facts.nowMs >= facts.deadlineMs) return { action: 'aggregate', participants, reason: 'quorum' };
  return { action: 'wait', needed: facts.shards - participants.length, recheckAtMs: facts.deadlineMs };
}

// ---------------------------------------------------------------------------------------------
// Arrivals

const arrivalSchema = z.object({
  shardIndex: z.int().nonnegative(),
  exampleCount: z.int().positive(),
  weightsUrl: z.string().min(1),
  metrics: z.object({ loss: z.number(), accuracy: z.number(), samplesPerSec: z.number() }),
  /** The event that brought it (`source` + `id`). */
  event: z.object({ source: z.string(), id: z.string() }),
  arrivedAt: z.string(),
});
export type Arrival = z.infer<typeof arrivalSchema>;

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value)}\n`);
}

function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new BadInputError(`${where} is not JSON: ${(cause as Error).message}`, { cause });
  }
  const result = schema.safeParse(value);
  if (!result.success)
    throw new BadInputError(
      `${where}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return result.data;
}

/** Writes shard k's marker for round r if there is none; `true` when this call recorded it. */
export async function recordArrival(
  store: Store,
  layout: JobLayout,
  round: number,
  arrival: Arrival,
): Promise<boolean> {
  try {
    await store.write(layout.arrival(round, arrival.shardIndex), json(arrivalSchema.parse(arrival)), {
      ifAbsent: true,
      contentType: 'application/json',
    });
    return true;
  } catch (e) {
    if (e instanceof ConflictError) return false;
    throw e;
  }
}

/** Shard indices with a marker for round r. */
export async function arrivedShards(store: Store, layout: JobLayout, round: number): Promise<number[]> {
  const prefix = layout.arrivals(round);
  const urls = await store.list(prefix);
  const shards: number[] = [];
  for (const url of urls) {
    const match = /^(\d+)\.json$/.exec(url.slice(prefix.length));
    if (match?.[1] !== undefined) shards.push(Number(match[1]));
  }
  return shards.sort((a, b) => a - b);
}

export async function readArrival(store: Store, layout: JobLayout, round: number, shard: number): Promise<Arrival> {
  const url = layout.arrival(round, shard);
  return parseJson(arrivalSchema, await store.read(url), url);
}

// ---------------------------------------------------------------------------------------------
// The round's state pointer

const claimSchema = z.object({
  state: z.literal('aggregating'),
  participants: z.array(z.int().nonnegative()),
  /** Who claimed it: the id of the event whose handling closed the round. */
  by: z.string(),
  at: z.string(),
  /** Which entry into the claim this is: a re-entry swaps in a new one, so one re-entrant wins. */
  attempt: z.string().optional(),
});
const doneSchema = z.object({
  state: z.literal('done'),
  participants: z.array(z.int().nonnegative()),
  at: z.string(),
});
/** A claim given back after its aggregation failed: the round is open again. */
const openSchema = z.object({
  state: z.literal('open'),
  /** Who gave it back, and when. */
  by: z.string(),
  at: z.string(),
});
const roundStateSchema = z.discriminatedUnion('state', [claimSchema, doneSchema, openSchema]);
export type RoundState = z.infer<typeof roundStateSchema>;
export type RoundClaim = z.infer<typeof claimSchema>;

/** The pointer's text and state; undefined while the round is open. */
export async function readRoundState(
  store: Store,
  layout: JobLayout,
  round: number,
): Promise<{ text: string; state: RoundState } | undefined> {
  const url = layout.roundState(round);
  let bytes: Uint8Array;
  try {
    bytes = await store.read(url);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
  return { text: new TextDecoder().decode(bytes), state: parseJson(roundStateSchema, bytes, url) };
}

export type ClaimOutcome =
  /** This caller aggregates (a new claim, its own earlier claim, or an abandoned one taken over). */
  | { won: true; claim: RoundClaim; text: string }
  /** Someone else holds a live claim, or the round is done. */
  | { won: false; state: RoundState };

export interface ClaimRequest {
  participants: readonly number[];
  by: string;
  nowMs: number;
  /** A claim older than this is abandoned. */
  leaseMs: number;
}

/**
 * Claims round r for aggregation by compare-and-swap. Exactly one concurrent caller wins a
 * fresh round. A caller whose `by` matches the claim re-enters it (a redelivery of the event
 * whose handling died midway); any caller takes over a claim older than the lease.
 */
export async function claimRound(
  store: Store,
  layout: JobLayout,
  round: number,
  request: ClaimRequest,
): Promise<ClaimOutcome> {
  const claim: RoundClaim = {
    state: 'aggregating',
    participants: [...request.participants],
    by: request.by,
    at: new Date(request.nowMs).toISOString(),
  };
  const text = JSON.stringify(claim);
  const current = await readRoundState(store, layout, round);
  if (current !== undefined) {
    const { state } = current;
    if (state.state === 'done') return { won: false, state };
    // Given back after a failed aggregation: open, claimed like a fresh round.
    if (state.state === 'open') return swapOrLose(store, layout, round, current.text, text, claim);
    if (state.by === request.by) {
      // Ours (a redelivery of the event whose handling died midway): re-entered by
      // compare-and-swap, so of several copies of that event arriving at once only one aggregates.
      const reentry: RoundClaim = { ...state, at: new Date(request.nowMs).toISOString(), attempt: randomUUID() };
      return swapOrLose(store, layout, round, current.text, JSON.stringify(reentry), reentry);
    }
    if (request.nowMs - Date.parse(state.at) < request.leaseMs) return { won: false, state };
    // Abandoned: take it over with the participants the first claimant fixed.
    const takeover: RoundClaim = { ...claim, participants: state.participants };
    const takeoverText = JSON.stringify(takeover);
    return swapOrLose(store, layout, round, current.text, takeoverText, takeover);
  }
  return swapOrLose(store, layout, round, undefined, text, claim);
}

async function swapOrLose(
  store: Store,
  layout: JobLayout,
  round: number,
  expected: string | undefined,
  text: string,
  claim: RoundClaim,
): Promise<ClaimOutcome> {
  try {
    await store.swapPointer(layout.roundState(round), expected, text);
    return { won: true, claim, text };
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
    const now = await readRoundState(store, layout, round);
    if (now === undefined) throw new ConflictError(`round ${round} state vanished during a claim`, { cause: e });
    // A retried write whose first attempt committed (its answer lost) meets its own claim as
    // a conflict: the claim that reads back is this caller's, so this caller won.
    if (now.text === text) return { won: true, claim, text };
    return { won: false, state: now.state };
  }
}

/**
 * Gives back a round this caller claimed whose aggregation failed, so the next caller decides
 * it again at once instead of waiting out the lease. Arrivals whose weights can no longer be
 * read are dropped first, so their shards' genuine results can be recorded. True when released;
 * false when the claim is no longer this caller's (taken over, or the round is done).
 */
export async function releaseRound(
  store: Store,
  layout: JobLayout,
  round: number,
  claimText: string,
): Promise<boolean> {
  const current = await readRoundState(store, layout, round);
  if (current?.text !== claimText || current.state.state !== 'aggregating') return false;
  for (const shard of current.state.participants) {
    const url = layout.arrival(round, shard);
    try {
      const arrival = await readArrival(store, layout, round, shard);
      if (await store.exists(arrival.weightsUrl)) continue;
      await store.delete(url);
    } catch (e) {
      if (e instanceof BadInputError) await store.delete(url).catch(() => undefined);
      else if (!(e instanceof NotFoundError)) throw e;
    }
  }
  const open: RoundState = { state: 'open', by: current.state.by, at: new Date().toISOString() };
  try {
    await store.swapPointer(layout.roundState(round), claimText, JSON.stringify(open));
    return true;
  } catch (e) {
    if (e instanceof ConflictError) return false;
    throw e;
  }
}

/** Closes a round this caller claimed. */
export async function completeRound(
  store: Store,
  layout: JobLayout,
  round: number,
  claimText: string,
  participants: readonly number[],
): Promise<void> {
  const done: RoundState = { state: 'done', participants: [...participants], at: new Date().toISOString() };
  try {
    await store.swapPointer(layout.roundState(round), claimText, JSON.stringify(done));
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
    // Someone took over an apparently abandoned claim and may have finished first: fine if done.
    const now = await readRoundState(store, layout, round);
    if (now?.state.state !== 'done') throw e;
  }
}
