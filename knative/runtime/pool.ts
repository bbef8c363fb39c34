// The pods of one service and the requests waiting for them (the activator + queue-proxy roles):
// requests take a slot on the least-loaded ready worker, never more than containerConcurrency
// per worker; beyond that (or while the service scales from zero) they wait in a bounded FIFO
// queue; scaleTo(n) starts or drains workers to match the autoscaler's decision.
import { Agent } from 'node:http';
import { UnavailableError } from '../../functions/_shared/errors.js';
import type { Logger } from '../../functions/_shared/log.js';
import { ConcurrencySampler } from './concurrency.js';
import type { WorkerProcess } from './worker.js';

export interface PoolOptions {
  namespace: string;
  name: string;
  /** 0 = unlimited. */
  containerConcurrency: number;
  /** Starts one worker (the pool names pods `<name>-<n>`). */
  startWorker: (pod: string) => Promise<WorkerProcess>;
  /** Called when a request arrives while nothing is running (the activator's poke). */
  onDemand: () => void;
  /** Queue bound while no worker is ready (the activator's buffer). */
  activatorCapacity: number;
  /** SIGTERM → SIGKILL grace when a worker is drained. */
  drainGraceMs: number;
  samplerBucketMs: number;
  samplerRetainMs: number;
  logger: Logger;
  now?: () => number;
}

export interface Slot {
  readonly pod: string;
  readonly port: number;
  readonly agent: Agent;
  /** Gives the slot back; call exactly once. */
  release(): void;
}

interface Member {
  worker: WorkerProcess;
  agent: Agent;
  inFlight: number;
  /** Set when the pool itself stops this worker (scale-down, shutdown). */
  retiring: boolean;
}

interface Waiter {
  grant: (slot: Slot) => void;
  fail: (e: Error) => void;
}

export interface PoolStatus {
  ready: number;
  starting: number;
  draining: number;
  inFlight: number;
  queued: number;
  pods: Array<{ pod: string; phase: string; port: number; inFlight: number; pid: number | undefined }>;
}

export class ServicePool {
  readonly sampler: ConcurrencySampler;
  private readonly members = new Map<string, Member>();
  private readonly queue: Waiter[] = [];
  private podCounter = 0;
  /** Workers asked for whose process is not spawned yet. */
  private launching = 0;
  private closed = false;
  private startFailures = 0;
  private retryAfterMs = 0;
  private readonly now: () => number;

  constructor(private readonly options: PoolOptions) {
    this.now = options.now ?? Date.now;
    this.sampler = new ConcurrencySampler(options.samplerBucketMs, options.samplerRetainMs, this.now());
  }

  get key(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  readyCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.worker.phase === 'ready') n += 1;
    return n;
  }

  /** Workers that count toward the scale: starting or ready, not draining. */
  activeCount(): number {
    let n = this.launching;
    for (const m of this.members.values()) if (m.worker.phase === 'starting' || m.worker.phase === 'ready') n += 1;
    return n;
  }

  /**
   * Waits for a slot. Counts toward observed concurrency from now until the slot is released
   * (or the wait fails). `signal` aborts the wait (client gone, request timed out).
   */
  async acquire(signal?: AbortSignal): Promise<Slot> {
    if (this.closed) throw new UnavailableError(`service ${this.key} is shutting down`);
    this.sampler.begin(this.now());
    try {
      const direct = this.queue.length === 0 ? this.take() : undefined;
      if (direct) return direct;
      const limit = this.queueLimit();
      if (this.queue.length >= limit) throw new UnavailableError(`service ${this.key}: queue full (${limit} waiting)`);
      const slot = await new Promise<Slot>((grant, fail) => {
        const waiter: Waiter = { grant, fail };
        this.queue.push(waiter);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.queue.indexOf(waiter);
            if (i >= 0) this.queue.splice(i, 1);
            fail(signal.reason instanceof Error ? signal.reason : new UnavailableError('request aborted while queued'));
          },
          { once: true },
        );
        if (this.activeCount() === 0) this.options.onDemand();
      });
      return slot;
    } catch (e) {
      this.sampler.end(this.now());
      throw e;
    }
  }

  /** Knative's queue-proxy holds 10 × containerConcurrency per pod; the activator buffers more. */
  private queueLimit(): number {
    const ready = this.readyCount();
    if (ready === 0 || this.options.containerConcurrency === 0) return this.options.activatorCapacity;
    return Math.max(10 * this.options.containerConcurrency * ready, 1);
  }

  private take(): Slot | undefined {
    const cc = this.options.containerConcurrency;
    let best: Member | undefined;
    for (const m of this.members.values()) {
      if (m.worker.phase !== 'ready' || (cc > 0 && m.inFlight >= cc)) continue;
      if (!best || m.inFlight < best.inFlight) best = m;
    }
    if (!best) return undefined;
    const member = best;
    member.inFlight += 1;
    let released = false;
    return {
      pod: member.worker.pod,
      port: member.worker.port,
      agent: member.agent,
      release: () => {
        if (released) return;
        released = true;
        member.inFlight -= 1;
        this.sampler.end(this.now());
        this.pump();
      },
    };
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.take();
      if (!slot) return;
      this.queue.shift()?.grant(slot);
    }
  }

  /** Starts or drains workers until `desired` are starting or ready. */
  scaleTo(desired: number): void {
    if (this.closed) return;
    let active = this.activeCount();
    if (active < desired && this.now() < this.retryAfterMs) return;
    while (active < desired) {
      this.launch();
      active += 1;
    }
    if (active > desired) this.shrink(active - desired);
  }

  private launch(): void {
    this.podCounter += 1;
    const pod = `${this.options.name}-${this.podCounter}`;
    this.launching += 1;
    void this.options.startWorker(pod).then(
      (worker) => {
        this.launching -= 1;
        this.adopt(worker);
      },
      (e: unknown) => {
        this.launching -= 1;
        this.startFailed(pod, e);
      },
    );
  }

  private adopt(worker: WorkerProcess): void {
    const member: Member = {
      worker,
      agent: new Agent({ keepAlive: true, maxSockets: Infinity }),
      inFlight: 0,
      retiring: false,
    };
    this.members.set(worker.pod, member);
    if (this.closed) {
      void this.retire(member);
      return;
    }
    worker.ready.then(
      () => {
        if (member.retiring) return;
        this.startFailures = 0;
        this.options.logger.info(`${this.key}: pod ${worker.pod} ready on port ${worker.port}`);
        this.pump();
      },
      (e: unknown) => {
        if (member.retiring) return;
        this.members.delete(worker.pod);
        member.agent.destroy();
        this.startFailed(worker.pod, e);
      },
    );
    void worker.exited.then((code) => {
      if (member.retiring || !this.members.has(worker.pod)) return;
      this.members.delete(worker.pod);
      member.agent.destroy();
      this.options.logger.warn(`${this.key}: pod ${worker.pod} exited unexpectedly (code ${String(code)})`);
    });
  }

  /** Crash-loop back-off; with nothing left that could serve them, waiting requests fail. */
  private startFailed(pod: string, e: unknown): void {
    this.startFailures += 1;
    this.retryAfterMs = this.now() + Math.min(30_000, 500 * 2 ** (this.startFailures - 1));
    const message = e instanceof Error ? e.message : String(e);
    this.options.logger.error(`${this.key}: pod ${pod} failed to start: ${message}`);
    if (this.activeCount() === 0) {
      for (const w of this.queue.splice(0))
        w.fail(new UnavailableError(`service ${this.key} failed to start: ${message}`));
    }
  }

  /** Drains the extra workers: those still starting first, then the least busy ones. */
  private shrink(count: number): void {
    const candidates = [...this.members.values()]
      .filter((m) => !m.retiring && (m.worker.phase === 'starting' || m.worker.phase === 'ready'))
      .sort((a, b) => rank(a) - rank(b));
    for (const m of candidates.slice(0, count)) void this.retire(m);
  }

  private async retire(m: Member): Promise<void> {
    if (m.retiring) return m.worker.exited.then(() => undefined);
    m.retiring = true;
    const starting = m.worker.phase === 'starting';
    m.worker.phase = 'draining';
    if (starting) m.worker.kill();
    const code = await m.worker.stop(this.options.drainGraceMs);
    this.members.delete(m.worker.pod);
    m.agent.destroy();
    this.options.logger.info(`${this.key}: pod ${m.worker.pod} stopped (code ${String(code)})`);
  }

  status(): PoolStatus {
    const pods = [...this.members.values()].map((m) => ({
      pod: m.worker.pod,
      phase: m.worker.phase,
      port: m.worker.port,
      inFlight: m.inFlight,
      pid: m.worker.pid,
    }));
    const count = (phase: string): number => pods.filter((p) => p.phase === phase).length;
    return {
      ready: count('ready'),
      starting: count('starting'),
      draining: count('draining'),
      inFlight: pods.reduce((n, p) => n + p.inFlight, 0),
      queued: this.queue.length,
      pods,
    };
  }

  /** Fails waiting requests, drains every worker, resolves when all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) w.fail(new UnavailableError(`service ${this.key} is shutting down`));
    while (this.launching > 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([...this.members.values()].map((m) => this.retire(m)));
  }
}

function rank(m: Member): number {
  return m.worker.phase === 'starting' ? -1 : m.inFlight;
}
