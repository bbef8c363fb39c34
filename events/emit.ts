// Building and sending events. `createEvent` validates data against the catalog and builds an
// SDK CloudEvent with source `/kaskade/<function>`; an `Emit` sends one: over HTTP to the
// broker (`K_SINK`, else `KASKADE_BROKER_URL`) in binary mode by default, or into memory in
// tests. Tensor payloads are Uint8Array data sent as the raw HTTP body, never JSON numbers.
import { CloudEvent, HTTP } from 'cloudevents';
import { envInt, envString, type Env } from '../functions/_shared/config.js';
import { BadInputError, ConfigError, UnavailableError } from '../functions/_shared/errors.js';
import { fetchWithTimeout } from '../functions/_shared/http.js';
import { outgoingTraceContext } from '../functions/_shared/observability/tracing.js';
import { SAFETENSORS_CONTENT_TYPE, validateEventData, type EventData, type EventType } from './catalog.js';
import { percentEncode } from './wire.js';

/** Sends one event; resolves once the receiver (the broker) has accepted it. */
export type Emit = (event: CloudEvent<unknown>) => Promise<void>;

export type Mode = 'binary' | 'structured';

export interface EmitConfig {
  readonly sinkUrl: string;
  readonly timeoutMs: number;
  readonly mode: Mode;
}

/** `K_SINK` (set by Knative SinkBinding / the local runtime) wins over `KASKADE_BROKER_URL`. */
export function loadEmitConfig(env: Env = process.env): EmitConfig {
  const sinkUrl = env.K_SINK !== undefined && env.K_SINK !== '' ? env.K_SINK : envString(env, 'KASKADE_BROKER_URL', '');
  if (sinkUrl === '')
    throw new ConfigError('K_SINK or KASKADE_BROKER_URL is required: the broker URL events are posted to');
  if (!/^https?:\/\//.test(sinkUrl))
    throw new ConfigError(`K_SINK / KASKADE_BROKER_URL must be an http(s) URL, got "${sinkUrl}"`);
  const timeoutMs = envInt(env, 'KASKADE_EMIT_TIMEOUT_MS', 10_000, { min: 1, max: 600_000 });
  const mode = envString(env, 'KASKADE_EMIT_MODE', 'binary');
  if (mode !== 'binary' && mode !== 'structured')
    throw new ConfigError(`KASKADE_EMIT_MODE must be binary or structured, got "${mode}"`);
  return { sinkUrl, timeoutMs, mode };
}

/** The CloudEvents `source` of everything a function emits. */
export function sourceFor(functionName: string): string {
  return `/kaskade/${functionName}`;
}

export interface EventOptions {
  /** Usually `sourceFor('<function>')`. */
  readonly source: string;
  /** Defaults to a random UUID. Derive it from the input event to make re-emission idempotent. */
  readonly id?: string;
  readonly subject?: string;
  /** Extension attributes: lowercase names, string values. */
  readonly extensions?: Readonly<Record<string, string>>;
}

function attributesOf(type: string, options: EventOptions): Record<string, string> {
  const attributes: Record<string, string> = {
    ...options.extensions,
    type,
    source: options.source,
    specversion: '1.0',
  };
  if (options.id !== undefined) attributes.id = options.id;
  if (options.subject !== undefined) attributes.subject = options.subject;
  return attributes;
}

/** A catalog event with JSON data, checked against its schema (BadInputError if it does not fit). */
export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  options: EventOptions,
): CloudEvent<EventData<T>> {
  const checked = validateEventData(type, data);
  return new CloudEvent<EventData<T>>({
    ...attributesOf(type, options),
    datacontenttype: 'application/json',
    data: checked,
  });
}

/** An event whose data is bytes (tensors in safetensors by default), sent as the raw body. */
export function createBinaryEvent(
  type: string,
  data: Uint8Array,
  options: EventOptions & { readonly contentType?: string },
): CloudEvent<Uint8Array> {
  return new CloudEvent<Uint8Array>({
    ...attributesOf(type, options),
    datacontenttype: options.contentType ?? SAFETENSORS_CONTENT_TYPE,
    data,
  });
}

export interface HttpEventMessage {
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array;
}

/**
 * One event as an HTTP message (the SDK's binding, with header values percent-encoded). An event
 * without a `traceparent` gets the active span's (or a new trace's): the CloudEvents
 * distributed-tracing extension, so every event continues the trace it was emitted in.
 */
export function toHttpMessage(event: CloudEvent<unknown>, mode: Mode = 'binary'): HttpEventMessage {
  const trace = typeof event.traceparent === 'string' ? undefined : outgoingTraceContext();
  // Binary mode adds two headers; structured mode re-encodes the JSON (no copy of byte data).
  const traced = trace !== undefined && mode === 'structured' ? event.cloneWith(trace) : event;
  const message = mode === 'binary' ? HTTP.binary(traced) : HTTP.structured(traced);
  const headers: Record<string, string> = {};
  if (trace !== undefined && mode === 'binary')
    for (const [name, value] of Object.entries(trace)) headers[`ce-${name}`] = value;
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : String(value);
    headers[name] = name.startsWith('ce-') ? percentEncode(text) : text;
  }
  const { body } = message;
  if (body === undefined || body === null) return { headers, body: '' };
  if (typeof body === 'string' || body instanceof Uint8Array) return { headers, body };
  throw new BadInputError(`event ${event.id}: data must be JSON or a Uint8Array`);
}

/** Posts to the broker (or any sink) with a timeout; a non-2xx answer fails the call. */
export function httpEmit(config: Pick<EmitConfig, 'sinkUrl'> & Partial<EmitConfig>): Emit {
  const { sinkUrl, timeoutMs = 10_000, mode = 'binary' } = config;
  return async (event) => {
    const { headers, body } = toHttpMessage(event, mode);
    const response = await fetchWithTimeout(
      sinkUrl,
      { method: 'POST', headers, body: typeof body === 'string' ? body : exactBytes(body) },
      timeoutMs,
    );
    const text = await response.text();
    if (!response.ok) {
      throw new UnavailableError(
        `POST ${sinkUrl} answered ${response.status} for event ${event.type} ${event.id}: ${text.slice(0, 300)}`,
      );
    }
  };
}

/** The same bytes as a view on a plain ArrayBuffer (what fetch takes); copies only shared memory. */
function exactBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
}

/** Keeps emitted events in order, for tests and in-process wiring. */
export function memoryEmit(): { readonly emit: Emit; readonly events: CloudEvent<unknown>[] } {
  const events: CloudEvent<unknown>[] = [];
  return {
    events,
    emit: (event) => {
      events.push(event);
      return Promise.resolve();
    },
  };
}
