// The local broker: Knative Eventing's data plane for one namespace on one machine.
// Ingress `POST /<namespace>/<broker>` (binary or structured CloudEvents; ingress.ts reads and
// checks it) → 202 once the event is journaled; every matching trigger then gets its own
// delivery (concurrent, independent; delivery.ts: retries with backoff, per-attempt timeout,
// dead-letter sink); a 2xx answer carrying a CloudEvent is a reply, put back into the broker.
import { once, setMaxListeners } from 'node:events';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BadInputError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnavailableError,
} from '../../functions/_shared/errors.js';
import { Authenticator, bearerHeaders, type AuthConfig } from '../../functions/_shared/auth.js';
import { errorResponse } from '../../functions/_shared/http.js';
import { createLogger, type Logger } from '../../functions/_shared/log.js';
import type { WireEvent } from '../wire.js';
import { answerError, brokerOf, readEvent } from './ingress.js';
import { Delivery } from './delivery.js';
import { compileTriggerFilter, type Predicate } from './filter.js';
import { Journal, type LiveEvent } from './journal.js';
import type { BrokerObserver } from './observer.js';
import { DEFAULT_DELIVERY, resolvePolicy, type DeliveryPolicy } from './policy.js';
import { Sender } from './sender.js';
import {
  brokerSchema,
  checkSpec,
  triggerSchema,
  type BrokerSpec,
  type DeliverySpec,
  type TriggerSpec,
} from './spec.js';

export interface StartBrokerOptions {
  readonly namespace: string;
  readonly brokers: readonly BrokerSpec[];
  readonly triggers: readonly TriggerSpec[];
  /** Folder for the journal; without it, accepted events live only in memory. */
  readonly stateDir?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly logger?: Logger;
  /** Used where neither Trigger nor Broker sets a field; Knative's broker defaults otherwise. */
  readonly defaultDelivery?: DeliverySpec;
  /** Deliveries in flight per subscriber URL (more wait their turn). */
  readonly maxConcurrencyPerSubscriber?: number;
  /** Largest accepted event body (and kept reply body). */
  readonly maxBodyBytes?: number;
  /** Beyond this many undelivered events, ingress answers 503. */
  readonly maxPendingEvents?: number;
  /** How long `close()` waits for in-flight deliveries before leaving them to the journal. */
  readonly drainTimeoutMs?: number;
  /** fdatasync every journal batch (survives power loss; slower). */
  readonly fsync?: boolean;
  readonly compactBytes?: number;
  /** How the broker waits `ms` between attempts (default: a timer); tests pass a clock of their own. */
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Bearer-token authentication of the ingress (401 otherwise); deliveries carry the shared token. */
  readonly auth?: AuthConfig;
  /** Told of every ingress answer and delivery attempt (the runtime's metrics). */
  readonly observer?: BrokerObserver;
}

export interface BrokerStats {
  readonly accepted: number;
  readonly rejected: number;
  readonly attempts: number;
  readonly retries: number;
  readonly delivered: number;
  readonly deadLettered: number;
  readonly dropped: number;
  readonly replies: number;
  readonly replayed: number;
  readonly pending: number;
  readonly inFlight: number;
  readonly journalBytes: number;
}

export interface LocalBroker {
  readonly port: number;
  /** `http://127.0.0.1:<port>/<namespace>/<broker>`: what K_SINK should be. */
  url(namespace: string, broker: string): string;
  /** Replaces the triggers (manifests changed); deliveries already under way finish as they were. */
  setTriggers(triggers: readonly TriggerSpec[]): void;
  stats(): BrokerStats;
  /**
   * Resolves once no delivery is under way (every accepted event, replies included, delivered,
   * dead-lettered or dropped) and the journal has written what it was given.
   */
  idle(): Promise<void>;
  /** Stops taking events, waits for in-flight deliveries (bounded), closes the journal. */
  close(): Promise<void>;
}

interface Trigger {
  readonly name: string;
  readonly broker: string;
  readonly subscriberUri: string;
  readonly matches: Predicate;
  readonly policy: DeliveryPolicy;
}

interface Pending {
  readonly seq: number;
  readonly broker: string;
  readonly event: WireEvent;
  readonly ttl: number;
  readonly remaining: Set<string>;
}

/** Reply hops an event may take before the broker drops it (Knative's broker TTL). */
const REPLY_TTL = 255;

class Broker implements LocalBroker {
  port = 0;
  private readonly server: http.Server;
  private readonly delivery: Delivery;
  private readonly logger: Logger;
  private readonly brokers: Map<string, DeliverySpec | undefined>;
  private readonly defaults: DeliverySpec;
  private readonly auth: Authenticator | undefined;
  private triggers: readonly Trigger[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private journal: Journal | undefined;
  /** Replayed events wait here until there are triggers to deliver them to. */
  private replayed: Pending[] = [];
  private seq = 0;
  private closing = false;
  private readonly counts = {
    accepted: 0,
    rejected: 0,
    attempts: 0,
    retries: 0,
    delivered: 0,
    deadLettered: 0,
    dropped: 0,
    replies: 0,
    replayed: 0,
  };

  constructor(private readonly options: StartBrokerOptions) {
    this.logger = options.logger ?? createLogger('broker');
    this.defaults = { ...DEFAULT_DELIVERY, ...options.defaultDelivery };
    this.auth = options.auth ? new Authenticator(options.auth) : undefined;
    this.brokers = new Map(
      options.brokers.map((b, i) => {
        const spec = checkSpec(brokerSchema, b, `broker ${b.name ?? `#${i}`}`);
        return [spec.name, spec.delivery];
      }),
    );
    this.setTriggers(options.triggers);
    this.delivery = new Delivery({
      sender: new Sender({
        maxResponseBytes: this.maxBodyBytes,
        maxSocketsPerOrigin: this.maxConcurrency * 2,
        headers: bearerHeaders(options.auth),
      }),
      logger: this.logger,
      counts: this.counts,
      signal: this.abort.signal,
      maxConcurrency: this.maxConcurrency,
      maxBodyBytes: this.maxBodyBytes,
      ...(options.wait ? { wait: options.wait } : {}),
      ...(options.observer ? { observer: options.observer } : {}),
    });
    this.server = http.createServer((req, res) => {
      this.ingress(req, res).catch((e: unknown) => this.logger.error(`ingress: ${String(e)}`));
    });
    this.server.keepAliveTimeout = 30_000;
    setMaxListeners(0, this.abort.signal); // every attempt in flight listens for shutdown
  }

  private get maxBodyBytes(): number {
    return this.options.maxBodyBytes ?? 64 * 1024 * 1024;
  }

  private get maxConcurrency(): number {
    return this.options.maxConcurrencyPerSubscriber ?? 64;
  }

  async start(): Promise<void> {
    if (this.options.stateDir !== undefined) await this.openJournal(this.options.stateDir);
    this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    if (this.triggers.length > 0) this.redeliver();
  }

  /**
   * Starts the journal's events once the triggers are known: at start when the broker was given
   * triggers, else at the first setTriggers (the runtime starts brokers before their triggers).
   * A trigger absent from that set was removed from the manifests: its deliveries are dropped.
   */
  private redeliver(): void {
    const replayed = this.replayed;
    this.replayed = [];
    for (const entry of replayed) this.dispatchAll(entry);
  }

  private async openJournal(stateDir: string): Promise<void> {
    const path = join(stateDir, `broker-${this.options.namespace}.journal`);
    const { journal, pending, lastSeq, tornBytes } = await Journal.open(path, {
      fsync: this.options.fsync ?? false,
      compactBytes: this.options.compactBytes ?? 64 * 1024 * 1024,
      pendingCount: () => this.pending.size,
      live: () => [...this.pending.values()].map((p) => this.liveEvent(p)),
      onError: (e) => this.logger.error(`journal ${path}: ${e.message}`),
    });
    this.journal = journal;
    this.seq = lastSeq;
    if (tornBytes > 0) this.logger.warn(`journal ${path}: ignored ${tornBytes} bytes of an incomplete last write`);
    for (const { record, data } of pending) {
      const entry: Pending = {
        seq: record.s,
        broker: record.b,
        event: { attributes: record.a, data },
        ttl: record.ttl,
        remaining: new Set(record.t),
      };
      this.pending.set(entry.seq, entry);
      this.replayed.push(entry);
      this.counts.replayed++;
    }
    if (pending.length > 0) this.logger.info(`journal ${path}: redelivering ${pending.length} accepted event(s)`);
  }

  private liveEvent(p: Pending): LiveEvent {
    return {
      record: { k: 'a', s: p.seq, b: p.broker, t: [...p.remaining], ttl: p.ttl, a: p.event.attributes },
      data: p.event.data,
    };
  }

  url(namespace: string, broker: string): string {
    return `http://127.0.0.1:${this.port}/${encodeURIComponent(namespace)}/${encodeURIComponent(broker)}`;
  }

  setTriggers(specs: readonly TriggerSpec[]): void {
    const triggers = specs.map((t, i) => {
      const where = `trigger ${t.name ?? `#${i}`}`;
      const spec = checkSpec(triggerSchema, t, where);
      if (!this.brokers.has(spec.broker))
        this.logger.warn(`${where}: broker "${spec.broker}" is not defined; it gets no events`);
      return {
        name: spec.name,
        broker: spec.broker,
        subscriberUri: spec.subscriberUri,
        matches: compileTriggerFilter(spec, where),
        policy: resolvePolicy(spec.delivery, this.brokers.get(spec.broker), this.defaults, where),
      };
    });
    this.triggers = triggers;
    if (this.port !== 0) this.redeliver();
  }

  stats(): BrokerStats {
    return {
      ...this.counts,
      pending: this.pending.size,
      inFlight: this.inFlight.size,
      journalBytes: this.journal?.bytes ?? 0,
    };
  }

  async idle(): Promise<void> {
    // A delivery whose reply is accepted starts the reply's deliveries before it ends itself.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.journal?.settled();
  }

  // --- ingress -------------------------------------------------------------------------------

  private async ingress(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const seen: { broker: string; type: string | undefined } = { broker: '', type: undefined };
    const observer = this.options.observer;
    if (observer?.ingress !== undefined) {
      const started = performance.now();
      res.once('finish', () => observer.ingress?.(seen.broker, seen.type, res.statusCode, performance.now() - started));
    }
    try {
      // Before anything else: a refused request is not read, and learns nothing about the brokers.
      if (this.auth && !Authenticator.isOpen(req.method, req.url)) await this.auth.check(req.headers);
      const broker = brokerOf(req.url ?? '/', this.options.namespace, this.brokers);
      seen.broker = broker;
      if (req.method !== 'POST')
        throw new MethodNotAllowedError(
          ['POST'],
          `method ${req.method ?? ''} not allowed; POST events to /${this.options.namespace}/${broker}`,
        );
      if (this.closing) throw new UnavailableError('broker is shutting down');
      const event = await readEvent(req, this.maxBodyBytes);
      seen.type = event.attributes.type;
      await this.accept(broker, event, REPLY_TTL);
      res.writeHead(202, { 'content-length': 0 }).end();
    } catch (e) {
      if (e instanceof BadInputError || e instanceof PayloadTooLargeError) this.counts.rejected++;
      if (errorResponse(e).status >= 500 && !(e instanceof UnavailableError))
        this.logger.error(`ingress ${req.method ?? ''} ${req.url ?? ''}: ${(e as Error).stack ?? String(e)}`);
      answerError(req, res, e);
    }
  }

  /** Journals the event for every trigger it matches, then starts those deliveries. */
  private async accept(broker: string, incoming: WireEvent, ttl: number): Promise<void> {
    if (this.pending.size >= (this.options.maxPendingEvents ?? 100_000)) {
      throw new UnavailableError(`broker has ${this.pending.size} undelivered events; try again later`);
    }
    const attributes =
      incoming.attributes.knativearrivaltime === undefined
        ? { ...incoming.attributes, knativearrivaltime: new Date().toISOString() }
        : incoming.attributes;
    const event: WireEvent = { attributes, data: incoming.data };
    const matched = this.triggers.filter((t) => t.broker === broker && t.matches(attributes));
    if (matched.length === 0) {
      this.counts.accepted++;
      return;
    }
    const entry: Pending = { seq: ++this.seq, broker, event, ttl, remaining: new Set(matched.map((t) => t.name)) };
    this.pending.set(entry.seq, entry);
    if (this.journal !== undefined) {
      try {
        await this.journal.append(this.liveEvent(entry).record, event.data);
      } catch (e) {
        this.pending.delete(entry.seq);
        throw new UnavailableError(`could not journal the event: ${(e as Error).message}`, { cause: e });
      }
    }
    this.counts.accepted++;
    this.dispatchAll(entry);
  }

  // --- delivery ------------------------------------------------------------------------------

  private dispatchAll(entry: Pending): void {
    for (const name of entry.remaining) {
      const trigger = this.triggers.find((t) => t.name === name && t.broker === entry.broker);
      if (trigger === undefined) {
        this.logger.warn(`event ${entry.event.attributes.id}: trigger ${name} no longer exists; not delivered`);
        this.complete(entry, name);
        continue;
      }
      const task = this.deliver(entry, trigger).finally(() => this.inFlight.delete(task));
      this.inFlight.add(task);
    }
  }

  private async deliver(entry: Pending, trigger: Trigger): Promise<void> {
    const outcome = await this.delivery.deliver(trigger, entry.event);
    if (outcome.kind === 'aborted') return; // stays in the journal for the next start
    if (outcome.kind === 'delivered') this.counts.delivered++;
    if (outcome.kind === 'delivered' && outcome.reply !== undefined) {
      if (entry.ttl <= 1) {
        this.logger.warn(
          `trigger ${trigger.name}: reply to ${entry.event.attributes.id} dropped: reply TTL exhausted (a reply loop?)`,
        );
      } else {
        try {
          await this.accept(entry.broker, outcome.reply, entry.ttl - 1);
          this.counts.replies++;
        } catch (e) {
          this.logger.error(
            `trigger ${trigger.name}: reply ${outcome.reply.attributes.id} not accepted: ${(e as Error).message}`,
          );
        }
      }
    }
    this.complete(entry, trigger.name);
  }

  private complete(entry: Pending, triggerName: string): void {
    entry.remaining.delete(triggerName);
    if (entry.remaining.size === 0) this.pending.delete(entry.seq);
    this.journal?.complete({ k: 'd', s: entry.seq, t: triggerName });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = new AbortController();
    const idle = async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    };
    const timeout = sleep(this.options.drainTimeoutMs ?? 10_000, undefined, { signal: timer.signal }).catch(
      () => undefined,
    );
    await Promise.race([idle(), timeout]);
    timer.abort();
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
    this.server.closeAllConnections();
    await stopped;
    this.delivery.close();
    await this.journal?.close();
  }
}

/** Starts the broker; resolves once it listens (and has re-queued what its journal held). */
export async function startBroker(options: StartBrokerOptions): Promise<LocalBroker> {
  const broker = new Broker(options);
  await broker.start();
  return broker;
}
