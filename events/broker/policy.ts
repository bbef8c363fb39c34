// Delivery policy as Knative defines it, as plain functions: which answers count as accepted,
// which are retried, how long to wait before retry n, and the dead-letter event's extensions.
import type { WireEvent } from '../wire.js';
import { parseDuration } from './duration.js';
import type { DeliverySpec } from './spec.js';

export interface DeliveryPolicy {
  /** Retries after the first attempt: `retry + 1` attempts in all. */
  readonly retry: number;
  readonly backoffPolicy: 'linear' | 'exponential';
  readonly backoffDelayMs: number;
  readonly backoffMaxMs: number | undefined;
  readonly retryAfterMaxMs: number;
  /** Per attempt. */
  readonly timeoutMs: number;
  readonly deadLetterUri: string | undefined;
}

/** Knative's default broker delivery (config-br-defaults): 10 retries, exponential from 0.2 s. */
export const DEFAULT_DELIVERY: DeliverySpec = { retry: 10, backoffPolicy: 'exponential', backoffDelay: 'PT0.2S' };
/** Without `timeout`, an attempt may take as long as a Knative revision's default timeout. */
export const DEFAULT_TIMEOUT_MS = 300_000;
export const DEFAULT_RETRY_AFTER_MAX_MS = 30_000;

/**
 * The effective policy: each field from the Trigger's `delivery`, else the Broker's, else the
 * defaults. Durations are parsed here, so a bad one fails at load naming `where`.
 */
export function resolvePolicy(
  trigger: DeliverySpec | undefined,
  broker: DeliverySpec | undefined,
  defaults: DeliverySpec,
  where: string,
): DeliveryPolicy {
  const pick = <K extends keyof DeliverySpec>(key: K): DeliverySpec[K] =>
    trigger?.[key] ?? broker?.[key] ?? defaults[key];
  const ms = (key: 'backoffDelay' | 'backoffMax' | 'retryAfterMax' | 'timeout'): number | undefined => {
    const text = pick(key);
    return text === undefined ? undefined : parseDuration(text, `${where}: delivery.${key}`);
  };
  return {
    retry: pick('retry') ?? 0,
    backoffPolicy: pick('backoffPolicy') ?? 'exponential',
    backoffDelayMs: ms('backoffDelay') ?? 0,
    backoffMaxMs: ms('backoffMax'),
    retryAfterMaxMs: ms('retryAfterMax') ?? DEFAULT_RETRY_AFTER_MAX_MS,
    timeoutMs: ms('timeout') ?? DEFAULT_TIMEOUT_MS,
    deadLetterUri: pick('deadLetterSink')?.uri,
  };
}

/** What one attempt came back with: an HTTP answer, or no answer (network error, timeout). */
export type AttemptResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
      /** The answer's first bytes, up to the sender's bound; `truncated` when there were more. */
      readonly body: Buffer;
      readonly truncated: boolean;
    }
  | { readonly kind: 'error'; readonly message: string; readonly aborted: boolean };

export type HttpAnswer = Extract<AttemptResult, { kind: 'response' }>;

export function isAccepted(result: AttemptResult): boolean {
  return result.kind === 'response' && result.status >= 200 && result.status < 300;
}

/** 404, 409, 429, 5xx and no answer at all are retried; 400 and every other status are final. */
export function isRetryable(result: AttemptResult): boolean {
  if (result.kind === 'error') return !result.aborted;
  const { status } = result;
  return status === 404 || status === 409 || status === 429 || status >= 500;
}

/** Knative's backoff before retry `n` (1-based): linear delay × n, exponential delay × 2^n. */
export function backoffMs(policy: DeliveryPolicy, n: number): number {
  const raw = policy.backoffPolicy === 'linear' ? policy.backoffDelayMs * n : policy.backoffDelayMs * 2 ** n;
  return policy.backoffMaxMs === undefined ? raw : Math.min(raw, policy.backoffMaxMs);
}

/** `Retry-After` in ms (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before retry `n`: the backoff, or a 429/503's `Retry-After` when that is longer,
 * capped at `retryAfterMax` (Knative's retry-after semantics).
 */
export function retryDelayMs(policy: DeliveryPolicy, n: number, result: AttemptResult, now = Date.now()): number {
  const backoff = backoffMs(policy, n);
  if (result.kind !== 'response' || (result.status !== 429 && result.status !== 503)) return backoff;
  const asked = parseRetryAfter(result.headers['retry-after'], now);
  return asked === undefined ? backoff : Math.max(backoff, Math.min(asked, policy.retryAfterMaxMs));
}

/** Bytes of the last answer carried (base64) in `knativeerrordata`. */
export const ERROR_DATA_MAX_BYTES = 1024;

/**
 * The event as sent to the dead-letter sink: unchanged, plus `knativeerrordest` (the
 * subscriber), `knativeerrorcode` (its last status, absent when it never answered) and
 * `knativeerrordata` (base64 of the start of its answer, or of the network error).
 */
export function deadLetterEvent(event: WireEvent, subscriberUri: string, last: AttemptResult): WireEvent {
  const attributes: Record<string, string> = { ...event.attributes, knativeerrordest: subscriberUri };
  const detail =
    last.kind === 'response'
      ? last.body.subarray(0, ERROR_DATA_MAX_BYTES)
      : Buffer.from(last.message.slice(0, ERROR_DATA_MAX_BYTES));
  if (last.kind === 'response') attributes.knativeerrorcode = String(last.status);
  if (detail.byteLength > 0) attributes.knativeerrordata = detail.toString('base64');
  return { attributes, data: event.data };
}
