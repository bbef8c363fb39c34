// A seeded discrete-event simulation of the split model under changing traffic and
// bandwidth, for holding autoscaling controllers against each other. The system is the
// seed's: requests run half A (podsA servers), cross the link through the proxy's sender
// threads (the "bandwidth" level b = how many transfers can be in flight), then half B
// (podsB servers). More pods cannot help while the link is the bottleneck, which is the
// seed's observation. Controllers decide pod counts on a tick; new pods become ready after
// a start-up delay; pods scaled away drain what they hold. Everything is in milliseconds.
import { seededRandom, type Random } from '../../functions/_shared/data/random.js';
import { BadInputError } from '../../functions/_shared/errors.js';

export interface SimParams {
  seed: number;
  durationMs: number;
  /** Service times of each half and of one transfer at one sender thread, in ms (means). */
  halfAMs: number;
  halfBMs: number;
  transferMs: number;
  /** Coefficient of variation of service times (lognormal); 0 = deterministic. */
  serviceCv: number;
  podStartMs: number;
  tickMs: number;
  sloMs: number;
  /** Phases of the trace: arrival rate (requests/s) and bandwidth level, each for durationMs. */
  phases: TracePhase[];
}

export interface TracePhase {
  durationMs: number;
  ratePerSec: number;
  bandwidth: number;
}

/** What a controller sees at a tick, and what it answers: pods for A and for B. */
export interface Observation {
  nowMs: number;
  bandwidth: number;
  /** Requests in flight at each half (queued + running; at B also the transfers arriving), sampled
   *  every 100 ms since the last tick. */
  concurrencyA: number[];
  concurrencyB: number[];
  readyA: number;
  readyB: number;
  idleSinceMsA: number | null;
  idleSinceMsB: number | null;
}

export interface Controller {
  name: string;
  decide(obs: Observation): { podsA: number; podsB: number };
}

export interface SimResult {
  controller: string;
  requests: number;
  p50Ms: number;
  p95Ms: number;
  sloViolations: number;
  sloViolationRate: number;
  podSeconds: number;
  /** Pods (A + B, starting ones included) sampled at each tick, for charts. */
  timeline: Array<{ tMs: number; pods: number; ratePerSec: number; bandwidth: number }>;
}

/** A seeded trace: `phases` phases of `phaseMs`, rates and bandwidth levels drawn at random. */
export function randomTrace(
  seed: number,
  phases: number,
  phaseMs: number,
  rates: readonly number[],
  bandwidths: readonly number[],
): TracePhase[] {
  const random = seededRandom(seed);
  return Array.from({ length: phases }, () => ({
    durationMs: phaseMs,
    ratePerSec: pick(random, rates),
    bandwidth: pick(random, bandwidths),
  }));
}

interface Pool {
  busy: number;
  queue: number[]; // request ids
  ready: number;
  starting: number[]; // ready-at times
  draining: number; // pods scaled away that still finish a request
}

type Event = { at: number; seq: number; kind: 'arrive' | 'doneA' | 'doneX' | 'doneB' | 'tick' | 'sample'; id: number };

export function simulate(params: SimParams, controller: Controller): SimResult {
  validate(params);
  const random = seededRandom(params.seed);
  const events = new EventHeap();
  let seq = 0;
  const push = (at: number, kind: Event['kind'], id = -1) => events.push({ at, seq: seq++, kind, id });

  const poolA: Pool = { busy: 0, queue: [], ready: 0, starting: [], draining: 0 };
  const poolB: Pool = { busy: 0, queue: [], ready: 0, starting: [], draining: 0 };
  const link = { busy: 0, queue: [] as number[] };
  const arrivedAt: number[] = [];
  const latencies: number[] = [];
  const samplesA: number[] = [];
  const samplesB: number[] = [];
  const timeline: SimResult['timeline'] = [];
  let idleA: number | null = 0;
  let idleB: number | null = 0;
  let podMs = 0;
  let lastPodCountAt = 0;

  const phaseAt = (t: number): TracePhase => {
    let start = 0;
    for (const phase of params.phases) {
      if (t < start + phase.durationMs) return phase;
      start += phase.durationMs;
    }
    return params.phases[params.phases.length - 1] as TracePhase;
  };
  const service = (mean: number) => lognormal(random, mean, params.serviceCv);
  const podsNow = () =>
    poolA.ready + poolA.starting.length + poolA.draining + poolB.ready + poolB.starting.length + poolB.draining;
  const accountPods = (now: number) => {
    podMs += podsNow() * (now - lastPodCountAt);
    lastPodCountAt = now;
  };

  const startA = (now: number) => {
    while (poolA.busy - poolA.draining < poolA.ready && poolA.queue.length > 0) {
      const id = poolA.queue.shift() as number;
      poolA.busy++;
      push(now + service(params.halfAMs), 'doneA', id);
    }
  };
  const startLink = (now: number) => {
    const threads = phaseAt(now).bandwidth;
    while (link.busy < threads && link.queue.length > 0) {
      const id = link.queue.shift() as number;
      link.busy++;
      push(now + service(params.transferMs), 'doneX', id);
    }
  };
  const startB = (now: number) => {
    while (poolB.busy - poolB.draining < poolB.ready && poolB.queue.length > 0) {
      const id = poolB.queue.shift() as number;
      poolB.busy++;
      push(now + service(params.halfBMs), 'doneB', id);
    }
  };
  const finish = (pool: Pool) => {
    pool.busy--;
    if (pool.draining > 0) pool.draining--; // a draining pod finished its last request and goes
  };
  const scale = (pool: Pool, target: number, now: number) => {
    const have = pool.ready + pool.starting.length;
    if (target > have) {
      for (let i = have; i < target; i++) pool.starting.push(now + params.podStartMs);
    } else if (target < have) {
      let remove = have - target;
      while (remove > 0 && pool.starting.length > 0) {
        pool.starting.pop();
        remove--;
      }
      const idle = pool.ready - (pool.busy - pool.draining);
      const fromIdle = Math.min(idle, remove);
      pool.ready -= fromIdle;
      remove -= fromIdle;
      // busy pods scaled away drain: they stop taking work now and leave when done
      pool.ready -= remove;
      pool.draining += remove;
    }
  };
  const promote = (pool: Pool, now: number) => {
    const still: number[] = [];
    for (const at of pool.starting) {
      if (at <= now) pool.ready++;
      else still.push(at);
    }
    pool.starting = still;
  };

  const total = params.phases.reduce((s, p) => s + p.durationMs, 0);
  const end = Math.min(params.durationMs, total);
  // Arrivals: a Poisson process whose rate follows the trace.
  let next = 0;
  let id = 0;
  while (true) {
    const rate = phaseAt(next).ratePerSec;
    next += rate > 0 ? -Math.log(1 - random()) * (1000 / rate) : 1000;
    if (next >= end) break;
    if (rate > 0) {
      arrivedAt.push(next);
      push(next, 'arrive', id++);
    }
  }
  for (let t = 0; t < end; t += params.tickMs) push(t, 'tick');
  for (let t = 0; t < end; t += 100) push(t, 'sample');

  while (events.size > 0) {
    const e = events.pop();
    accountPods(e.at);
    promote(poolA, e.at);
    promote(poolB, e.at);
    switch (e.kind) {
      case 'arrive':
        idleA = null;
        poolA.queue.push(e.id);
        break;
      case 'doneA':
        finish(poolA);
        idleB = null;
        link.queue.push(e.id);
        break;
      case 'doneX':
        link.busy--;
        poolB.queue.push(e.id);
        break;
      case 'doneB': {
        finish(poolB);
        const latency = e.at - (arrivedAt[e.id] as number);
        latencies.push(latency);
        break;
      }
      case 'sample':
        samplesA.push(poolA.busy + poolA.queue.length);
        samplesB.push(poolB.busy + poolB.queue.length + link.busy);
        if (poolA.busy + poolA.queue.length === 0 && idleA === null) idleA = e.at;
        if (poolB.busy + poolB.queue.length + link.busy + link.queue.length === 0 && idleB === null) idleB = e.at;
        break;
      case 'tick': {
        const phase = phaseAt(e.at);
        const decision = controller.decide({
          nowMs: e.at,
          bandwidth: phase.bandwidth,
          concurrencyA: samplesA.splice(0),
          concurrencyB: samplesB.splice(0),
          readyA: poolA.ready,
          readyB: poolB.ready,
          idleSinceMsA: idleA,
          idleSinceMsB: idleB,
        });
        scale(poolA, Math.max(0, Math.round(decision.podsA)), e.at);
        scale(poolB, Math.max(0, Math.round(decision.podsB)), e.at);
        timeline.push({ tMs: e.at, pods: podsNow(), ratePerSec: phase.ratePerSec, bandwidth: phase.bandwidth });
        // a pod that starts at this tick may be ready before the next event: wake then
        for (const at of [...poolA.starting, ...poolB.starting]) push(at, 'sample');
        break;
      }
    }
    startA(e.at);
    startLink(e.at);
    startB(e.at);
  }

  const sorted = [...latencies].sort((p, q) => p - q);
  const violations = latencies.filter((l) => l > params.sloMs).length + (arrivedAt.length - latencies.length);
  return {
    controller: controller.name,
    requests: arrivedAt.length,
    p50Ms: quantile(sorted, 0.5),
    p95Ms: quantile(sorted, 0.95),
    sloViolations: violations,
    sloViolationRate: arrivedAt.length === 0 ? 0 : violations / arrivedAt.length,
    podSeconds: podMs / 1000,
    timeline,
  };
}

function validate(p: SimParams): void {
  if (p.phases.length === 0) throw new BadInputError('a trace needs at least one phase');
  for (const [name, v] of Object.entries({
    halfAMs: p.halfAMs,
    halfBMs: p.halfBMs,
    transferMs: p.transferMs,
    tickMs: p.tickMs,
    durationMs: p.durationMs,
  })) {
    if (!(v > 0) || !Number.isFinite(v)) throw new BadInputError(`${name} must be a positive number, got ${v}`);
  }
  for (const phase of p.phases) {
    if (!Number.isInteger(phase.bandwidth) || phase.bandwidth < 1)
      throw new BadInputError(`a bandwidth level is a sender-thread count ≥ 1, got ${phase.bandwidth}`);
  }
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

function pick<T>(random: Random, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)] as T;
}

/** A lognormal draw with the given mean and coefficient of variation (Box–Muller). */
function lognormal(random: Random, mean: number, cv: number): number {
  if (cv <= 0) return mean;
  const sigma2 = Math.log(1 + cv * cv);
  const mu = Math.log(mean) - sigma2 / 2;
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.exp(mu + Math.sqrt(sigma2) * z);
}

/** A binary min-heap of events by time, then by insertion order (so runs are deterministic). */
class EventHeap {
  private readonly items: Event[] = [];
  get size(): number {
    return this.items.length;
  }
  push(e: Event): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i] as Event, a[parent] as Event)) break;
      [a[i], a[parent]] = [a[parent] as Event, a[i] as Event];
      i = parent;
    }
  }
  pop(): Event {
    const a = this.items;
    const top = a[0] as Event;
    const last = a.pop() as Event;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l] as Event, a[m] as Event)) m = l;
        if (r < a.length && before(a[r] as Event, a[m] as Event)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Event, a[i] as Event];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Event, y: Event): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}
