// W3C trace context with OpenTelemetry. A worker starts one tracer provider (startTracing);
// every request it serves becomes a span continued from the request's `traceparent` (or the
// CloudEvent's, `ce-traceparent` in binary mode), and every event it emits carries the active
// span's context as the CloudEvents distributed-tracing extension. Spans are exported over
// OTLP/HTTP only when configured (OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint set);
// otherwise nothing leaves the process and the trace ids still travel with the events.
import { randomFillSync } from 'node:crypto';
import {
  context,
  INVALID_SPAN_CONTEXT,
  INVALID_SPANID,
  INVALID_TRACEID,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { envString, type Env } from '../config.js';
import { ConfigError } from '../errors.js';

/** The W3C limit for tracestate; a longer one is dropped rather than carried in event headers. */
export const MAX_TRACESTATE_CHARS = 512;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export interface TracingConfig {
  readonly serviceName: string;
  /** `otlp`: spans go to OTEL_EXPORTER_OTLP(_TRACES)_ENDPOINT; `none`: nothing is exported. */
  readonly exporter: 'otlp' | 'none';
  /** False with OTEL_SDK_DISABLED=true: no spans at all (events still carry a traceparent). */
  readonly enabled?: boolean;
}

export function loadTracingConfig(env: Env = process.env, serviceName = 'kaskade'): TracingConfig {
  const endpoint = envString(
    env,
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    envString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', ''),
  );
  const chosen = envString(env, 'OTEL_TRACES_EXPORTER', endpoint === '' ? 'none' : 'otlp');
  if (chosen !== 'otlp' && chosen !== 'none')
    throw new ConfigError(`OTEL_TRACES_EXPORTER must be otlp or none, got "${chosen}"`);
  const enabled = envString(env, 'OTEL_SDK_DISABLED', 'false').toLowerCase() !== 'true';
  return { serviceName: envString(env, 'OTEL_SERVICE_NAME', serviceName), exporter: chosen, enabled };
}

export interface Tracing {
  /** Sends what is still buffered (with OTLP) and stops. */
  shutdown(): Promise<void>;
}

let started: Tracing | undefined;
/** Whether spans are recorded (an exporter is configured): else trace context only travels. */
let recording = false;

/**
 * Sets up tracing for this process, once. With an OTLP exporter: OpenTelemetry's Node SDK, a
 * recorded span per request, exported in batches. Without one (the default) no SDK runs: spans
 * are OpenTelemetry's non-recording ones, which carry the incoming trace context on, so events
 * still continue their request's trace at almost no cost. Unless `asyncContext` is false, the
 * AsyncLocalStorage context manager is registered: it is what lets an event emitted after
 * awaits continue the request's trace, and on Node 20 it costs every promise of the process an
 * async hook, so a function that emits nothing while serving (the predictor) goes without it.
 */
export function startTracing(config: TracingConfig, options: { asyncContext?: boolean } = {}): Tracing {
  if (started) return started;
  if (config.enabled === false || config.exporter === 'none') {
    if (config.enabled !== false && options.asyncContext !== false)
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    started = { shutdown: () => Promise.resolve() };
    return started;
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register({
    propagator: new W3CTraceContextPropagator(),
    ...(options.asyncContext === false ? { contextManager: null } : {}),
  });
  recording = true;
  started = { shutdown: () => provider.shutdown() };
  return started;
}

/** A trace context as it travels: the two W3C fields. */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => (key === 'traceparent' || key === 'tracestate' ? carrier[key] : undefined),
};
const setter: TextMapSetter<TraceCarrier> = {
  set: (carrier, key, value) => {
    if (key === 'traceparent' || key === 'tracestate') carrier[key] = value;
  },
};

function header(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

/** The trace context of an HTTP request: `traceparent`, else the binary-mode event's `ce-traceparent`. */
export function carrierOfHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): TraceCarrier {
  const plain = header(headers.traceparent);
  if (plain !== undefined) return { traceparent: plain, tracestate: header(headers.tracestate) };
  return { traceparent: header(headers['ce-traceparent']), tracestate: header(headers['ce-tracestate']) };
}

/** Whether spans are recorded and exported: if not, a span's name and attributes are never read. */
export function tracingRecords(): boolean {
  return recording;
}

function parentOf(carrier: TraceCarrier): Context {
  const active = trace.getSpanContext(context.active());
  // The common case without an SDK: no incoming context and no span around: a new trace at once.
  if (carrier.traceparent === undefined && active === undefined && !recording) return newRootContext();
  const incoming = propagator.extract(ROOT_CONTEXT, carrier, getter);
  const theirs = trace.getSpanContext(incoming);
  // Already inside a span of the same trace (the request's, for the event it carried): nest.
  if (active !== undefined && (theirs === undefined || theirs.traceId === active.traceId)) return context.active();
  if (theirs !== undefined || recording) return incoming;
  // No trace yet and no SDK to start one: a new trace, so that every event this request emits
  // shares it (a non-recording span carries its parent's context on).
  return newRootContext();
}

function newRootContext(): Context {
  const [traceId, spanId] = newIds();
  return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 });
}

/**
 * Runs `fn` inside a new span continued from `carrier` (or from the active span when it belongs
 * to the same trace). The caller ends the span; the span is active for everything `fn` starts.
 */
export function withSpan<T>(
  carrier: TraceCarrier,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => T,
  kind: SpanKind = SpanKind.SERVER,
): T {
  const parent = parentOf(carrier);
  // Without an SDK the tracer is OpenTelemetry's no-op one, which wraps the parent's context in
  // a non-recording span: done here directly, without a proxy tracer per request.
  const span = recording
    ? trace.getTracer('kaskade').startSpan(name, { kind, attributes }, parent)
    : trace.wrapSpanContext(validOr(trace.getSpanContext(parent)));
  return context.with(trace.setSpan(parent, span), () => fn(span));
}

function validOr(spanContext: SpanContext | undefined): SpanContext {
  return spanContext !== undefined && isSpanContextValid(spanContext) ? spanContext : INVALID_SPAN_CONTEXT;
}

/**
 * The trace context an outgoing event or request carries: the active span's, or a new root
 * when nothing is active (the first event of a job starts its trace).
 */
export function outgoingTraceContext(): { traceparent: string; tracestate?: string } {
  const carrier: TraceCarrier = {};
  propagator.inject(context.active(), carrier, setter);
  if (carrier.traceparent === undefined || !TRACEPARENT.test(carrier.traceparent))
    return { traceparent: newTraceparent() };
  const { tracestate } = carrier;
  return tracestate !== undefined && tracestate !== '' && tracestate.length <= MAX_TRACESTATE_CHARS
    ? { traceparent: carrier.traceparent, tracestate }
    : { traceparent: carrier.traceparent };
}

/** A sampled root context with random ids. */
export function newTraceparent(): string {
  const [traceId, spanId] = newIds();
  return `00-${traceId}-${spanId}-01`;
}

// Random ids come from a pool filled 256 ids at a time: one randomFillSync per id pair costs
// more than the rest of a request's tracing together (it is a call into the OS entropy source).
const ID_BYTES = 24;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idOffset = idPool.length;

/** A random trace id (32 hex) and span id (16 hex), never the all-zero invalid ones. */
function newIds(): [string, string] {
  for (;;) {
    if (idOffset + ID_BYTES > idPool.length) {
      randomFillSync(idPool);
      idOffset = 0;
    }
    const at = idOffset;
    idOffset += ID_BYTES;
    const traceId = idPool.toString('hex', at, at + 16);
    const spanId = idPool.toString('hex', at + 16, at + ID_BYTES);
    if (traceId !== INVALID_TRACEID && spanId !== INVALID_SPANID) return [traceId, spanId];
  }
}

/** The trace id of a `traceparent` value, or undefined when it is not one. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent !== undefined && TRACEPARENT.test(traceparent) ? traceparent.slice(3, 35) : undefined;
}
