// What a pod's server adds around the function it serves: `GET /metrics` (the pod's Prometheus
// registry), a span per request continued from its trace context, and the request and event
// metrics recorded when the answer ends. A handler says an event was a duplicate with
// `markEventOutcome(res, 'duplicate')`; otherwise the status decides (2xx/3xx ok, 4xx rejected,
// 5xx failed).
import type { IncomingMessage, RequestListener } from 'node:http';
import { SpanStatusCode } from '@opentelemetry/api';
import { httpMetrics } from '../_shared/observability/http-metrics.js';
import { answerMetrics, metricsRegistry, type Registry } from '../_shared/observability/metrics.js';
import { carrierOfHeaders, tracingRecords, withSpan } from '../_shared/observability/tracing.js';
import {
  boundedLabel,
  eventMetrics,
  markedOutcome,
  outcomeOfStatus,
} from '../_shared/observability/workload-metrics.js';

/** The CloudEvent type of a request: the binary-mode header, else a parsed structured body's. */
function eventTypeOf(req: IncomingMessage): string | undefined {
  const header = req.headers['ce-type'];
  if (typeof header === 'string') return header;
  if (!('body' in req) || typeof req.body !== 'object' || req.body === null) return undefined;
  const type: unknown = (req.body as Record<string, unknown>).type;
  return typeof type === 'string' && (req.headers['content-type'] ?? '').startsWith('application/cloudevents')
    ? type
    : undefined;
}

const NO_ATTRIBUTES = Object.freeze({});

export function observedListener(app: RequestListener, registry: Registry = metricsRegistry()): RequestListener {
  const requests = httpMetrics(registry);
  const events = eventMetrics(registry);
  return (req, res) => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    if ((url === '/metrics' || url.startsWith('/metrics?')) && method === 'GET') {
      answerMetrics(res, registry).catch((e: unknown) => {
        res.destroy(e instanceof Error ? e : new Error(String(e)));
      });
      return;
    }
    const started = performance.now();
    const route = requests.route(url);
    // Without an exporter the span is OpenTelemetry's non-recording one: it only carries the
    // trace context on, so its name and attributes are not built.
    const recorded = tracingRecords();
    withSpan(
      carrierOfHeaders(req.headers),
      recorded ? `${method} ${route}` : '',
      recorded ? { 'http.request.method': method, 'url.path': url.split('?')[0] ?? url } : NO_ATTRIBUTES,
      (span) => {
        res.once('close', () => {
          const seconds = (performance.now() - started) / 1000;
          const status = res.statusCode;
          requests.observe(method, route, status, seconds);
          const type = eventTypeOf(req);
          if (type !== undefined) {
            const labels = { event_type: boundedLabel(type), outcome: markedOutcome(res) ?? outcomeOfStatus(status) };
            events.duration.observe(labels, seconds);
            span.setAttribute('cloudevents.event_type', type);
          }
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        });
        app(req, res);
      },
    );
  };
}
