// Requests a function serves, by route, method and status, with a latency histogram. A route is
// the path folded into a template: a segment of letters (or `v1`, `v2`) stays, anything else
// (ids, hashes, numbers, percent-escapes) becomes `:id`, and past a bounded number of distinct
// templates every new one is `other`, so no client can grow the label space without limit.
import { countOf, histogram, metricsRegistry, SECONDS_BUCKETS, type Registry } from './metrics.js';

const KEPT_SEGMENT = /^(?:[a-z_]{1,40}|v\d)$/i;
const MAX_SEGMENTS = 5;

/** `/v2/models/mnist-3/infer?x` → `/v2/models/:id/infer`. */
export function routeTemplate(url: string): string {
  const path = url.split('?')[0] ?? '/';
  const segments = path.split('/').filter((s) => s !== '');
  const folded = segments.slice(0, MAX_SEGMENTS).map((s) => (KEPT_SEGMENT.test(s) ? s : ':id'));
  if (segments.length > MAX_SEGMENTS) folded.push('…');
  return `/${folded.join('/')}`;
}

export interface HttpMetrics {
  /** The route label of a request URL: its template, or `other` past the bound. */
  route(url: string): string;
  /** Records one finished request under `route` (from `route(url)`). */
  observe(method: string, route: string, status: number, seconds: number): void;
}

/** Entries kept by each of the per-pod caches below before they start over. */
const MAX_CACHED = 1000;

export function httpMetrics(registry: Registry = metricsRegistry(), maxRoutes = 100): HttpMetrics {
  const labelNames = ['route', 'method', 'status'] as const;
  const duration = histogram(
    {
      name: 'kaskade_http_request_duration_seconds',
      help: 'Time from request to the end of the answer, by route template, method and status.',
      labelNames,
      buckets: SECONDS_BUCKETS,
    },
    registry,
  );
  countOf(
    {
      name: 'kaskade_http_requests_total',
      help: 'HTTP requests served, by route template, method and status.',
      labelNames,
      histogram: duration,
    },
    registry,
  );
  const routes = new Set<string>();
  const known = (template: string): string => {
    if (routes.has(template)) return template;
    if (routes.size >= maxRoutes) return 'other';
    routes.add(template);
    return template;
  };
  // A function serves a handful of paths over and over: each path is templated once, and each
  // label set is one object, so recording a request allocates nothing.
  const routeOfPath = new Map<string, string>();
  const labelSets = new Map<string, Record<(typeof labelNames)[number], string>>();
  return {
    route(url) {
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      let route = routeOfPath.get(path);
      if (route === undefined) {
        route = known(routeTemplate(path));
        if (routeOfPath.size >= MAX_CACHED) routeOfPath.clear();
        routeOfPath.set(path, route);
      }
      return route;
    },
    observe(method, route, status, seconds) {
      const key = `${route} ${method} ${status}`;
      let labels = labelSets.get(key);
      if (labels === undefined) {
        labels = { route, method: method.toUpperCase().slice(0, 10), status: String(status) };
        if (labelSets.size >= MAX_CACHED) labelSets.clear();
        labelSets.set(key, labels);
      }
      duration.observe(labels, seconds);
    },
  };
}
