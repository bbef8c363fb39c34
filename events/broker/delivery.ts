// Delivery of one event to one trigger's subscriber, as Knative's DeliverySpec says: attempts
// with a per-attempt timeout, retries with backoff (honouring Retry-After), then the dead-letter
// sink (itself retried), else the event is dropped. At most `maxConcurrency` requests per
// subscriber URL at once. The broker (broker.ts) decides what to deliver and records completion.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../functions/_shared/log.js';
import { decodeHttp, STRUCTURED_CONTENT_TYPE, type WireEvent } from '../wire.js';
import { checkHeaderBytes } from './limits.js';
import {
  deadLetterEvent,
  isAccepted,
  isRetryable,
  retryDelayMs,
  type AttemptResult,
  type DeliveryPolicy,
  type HttpAnswer,
} from './policy.js';
import type { BrokerObserver } from './observer.js';
import type { Sender } from './sender.js';

export type Outcome =
  | { readonly kind: 'delivered'; readonly reply: WireEvent | undefined }
  | { readonly kind: 'dead-lettered' | 'dropped' | 'aborted' };

/** What delivery needs of a trigger. */
export interface DeliveryTarget {
  readonly name: string;
  /** The broker the trigger belongs to (for the observer's labels). */
  readonly broker?: string;
  readonly subscriberUri: string;
  readonly policy: DeliveryPolicy;
}

/** The broker's counters delivery updates. */
export interface DeliveryCounts {
  attempts: number;
  retries: number;
  deadLettered: number;
  dropped: number;
}

export interface DeliveryOptions {
  readonly sender: Sender;
  readonly logger: Logger;
  readonly counts: DeliveryCounts;
  /** Aborts every attempt and backoff wait (the broker is closing). */
  readonly signal: AbortSignal;
  readonly maxConcurrency: number;
  /** Replies larger than this were cut by the sender and are ignored. */
  readonly maxBodyBytes: number;
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly observer?: BrokerObserver;
}

/** A FIFO semaphore: at most `max` tasks run at once. */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

function looksLikeEvent(result: HttpAnswer): boolean {
  const h = result.headers;
  const contentType = h['content-type'];
  return (
    h['ce-specversion'] !== undefined ||
    h['ce-id'] !== undefined ||
    (typeof contentType === 'string' && contentType.startsWith(STRUCTURED_CONTENT_TYPE))
  );
}

export class Delivery {
  private readonly limiters = new Map<string, Limiter>();

  constructor(private readonly options: DeliveryOptions) {}

  /** Up to `retry + 1` attempts; then the dead-letter sink (itself retried), else dropped. */
  async deliver(trigger: DeliveryTarget, event: WireEvent): Promise<Outcome> {
    const outcome = await this.deliverOnce(trigger, event);
    if (outcome.kind !== 'aborted') this.options.observer?.outcome?.(trigger.broker ?? '', trigger.name, outcome.kind);
    return outcome;
  }

  private async deliverOnce(trigger: DeliveryTarget, event: WireEvent): Promise<Outcome> {
    const uri = trigger.subscriberUri;
    const last = await this.attempts(uri, event, trigger);
    if (last.kind === 'error' && last.aborted) return { kind: 'aborted' };
    if (isAccepted(last))
      return { kind: 'delivered', reply: last.kind === 'response' ? this.replyOf(last, trigger) : undefined };
    const why = last.kind === 'response' ? `answered ${last.status}` : last.message;
    const sink = trigger.policy.deadLetterUri;
    if (sink === undefined) {
      this.options.counts.dropped++;
      this.options.logger.warn(
        `trigger ${trigger.name}: event ${event.attributes.id} dropped (${why}; no dead-letter sink)`,
      );
      return { kind: 'dropped' };
    }
    const dead = await this.attempts(sink, deadLetterEvent(event, uri, last), trigger);
    if (dead.kind === 'error' && dead.aborted) return { kind: 'aborted' };
    if (isAccepted(dead)) {
      this.options.counts.deadLettered++;
      this.options.logger.warn(
        `trigger ${trigger.name}: event ${event.attributes.id} sent to the dead-letter sink (${why})`,
      );
      return { kind: 'dead-lettered' };
    }
    this.options.counts.dropped++;
    this.options.logger.error(
      `trigger ${trigger.name}: event ${event.attributes.id} dropped: subscriber ${why}, dead-letter sink ${dead.kind === 'response' ? `answered ${dead.status}` : dead.message}`,
    );
    return { kind: 'dropped' };
  }

  private limiterFor(uri: string): Limiter {
    let limiter = this.limiters.get(uri);
    if (limiter === undefined) {
      limiter = new Limiter(this.options.maxConcurrency);
      this.limiters.set(uri, limiter);
    }
    return limiter;
  }

  private async attempts(uri: string, event: WireEvent, trigger: DeliveryTarget): Promise<AttemptResult> {
    const { policy } = trigger;
    const limiter = this.limiterFor(uri);
    const { signal, observer } = this.options;
    for (let n = 0; ; n++) {
      const result = await limiter.run(async () => {
        const started = performance.now();
        const answer = await this.options.sender.send(uri, event, policy.timeoutMs, signal);
        const status = answer.kind === 'response' ? answer.status : 0;
        observer?.attempt?.(
          trigger.broker ?? '',
          trigger.name,
          event.attributes.type,
          status,
          performance.now() - started,
        );
        return answer;
      });
      this.options.counts.attempts++;
      if (isAccepted(result) || !isRetryable(result) || n >= policy.retry) return result;
      this.options.counts.retries++;
      observer?.retry?.(trigger.broker ?? '', trigger.name);
      try {
        const ms = retryDelayMs(policy, n + 1, result);
        await (this.options.wait ? this.options.wait(ms, signal) : sleep(ms, undefined, { signal }));
      } catch {
        return { kind: 'error', message: 'broker shutting down', aborted: true };
      }
    }
  }

  private replyOf(result: HttpAnswer, trigger: DeliveryTarget): WireEvent | undefined {
    if (!looksLikeEvent(result)) return undefined;
    if (result.truncated) {
      this.options.logger.warn(`trigger ${trigger.name}: reply larger than ${this.options.maxBodyBytes} bytes ignored`);
      return undefined;
    }
    try {
      const reply = decodeHttp(result.headers, result.body);
      checkHeaderBytes(reply);
      return reply;
    } catch (e) {
      this.options.logger.warn(`trigger ${trigger.name}: malformed reply ignored: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Closes the subscriber connections (after the broker has stopped delivering). */
  close(): void {
    this.options.sender.close();
  }
}
