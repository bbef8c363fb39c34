// The pod's Prometheus registry. One per process, created on first use: it is the only state a
// pod keeps for metrics, and every module records into it through the get-or-create helpers
// below (two modules asking for the same name share one metric; a clash of types is a bug and
// throws). Process and event-loop metrics come from prom-client's collectDefaultMetrics.
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Env } from '../config.js';

export { Counter, Gauge, Histogram, Registry };

let podRegistry: Registry | undefined;

/** Knative's revision labels, from the env Knative (and the local runtime) gives a pod. */
export function revisionLabels(env: Env = process.env): Record<string, string> {
  const labels: Record<string, string> = {};
  if (env.K_SERVICE) labels.service_name = env.K_SERVICE;
  if (env.K_CONFIGURATION) labels.configuration_name = env.K_CONFIGURATION;
  if (env.K_REVISION) labels.revision_name = env.K_REVISION;
  return labels;
}

/** A registry with process and event-loop metrics and the given labels on every series. */
export function createRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** This process's registry (what `/metrics` serves). */
export function metricsRegistry(): Registry {
  podRegistry ??= createRegistry(revisionLabels());
  return podRegistry;
}

interface MetricOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

function existing<T>(registry: Registry, name: string, kind: new (...args: never[]) => T): T | undefined {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return undefined;
  if (!(found instanceof kind)) throw new TypeError(`metric ${name} is already registered with another type`);
  return found;
}

export function counter<L extends string>(options: MetricOptions<L>, registry = metricsRegistry()): Counter<L> {
  return (
    existing<Counter<L>>(registry, options.name, Counter) ??
    new Counter<L>({ ...options, labelNames: options.labelNames ?? [], registers: [registry] })
  );
}

/** A gauge; with `collect`, its value is read at each scrape (the function sets it). */
export function gauge<L extends string>(
  options: MetricOptions<L> & { readonly collect?: (this: Gauge<L>) => void },
  registry = metricsRegistry(),
): Gauge<L> {
  return (
    existing<Gauge<L>>(registry, options.name, Gauge) ??
    new Gauge<L>({ ...options, labelNames: options.labelNames ?? [], registers: [registry] })
  );
}

export function histogram<L extends string>(
  options: MetricOptions<L> & { readonly buckets: readonly number[] },
  registry = metricsRegistry(),
): Histogram<L> {
  return (
    existing<Histogram<L>>(registry, options.name, Histogram) ??
    new Histogram<L>({
      ...options,
      buckets: [...options.buckets],
      labelNames: options.labelNames ?? [],
      registers: [registry],
    })
  );
}

/** What `countOf` reads: a prom-client Histogram, or a HotHistogram (hot-metrics.ts). */
export interface HistogramSource {
  get(): Promise<{
    name: string;
    values: ReadonlyArray<{ metricName?: string; labels: object; value: number }>;
  }>;
}

/**
 * A counter whose values are a histogram's `_count`, read at scrape time: where a count and a
 * latency histogram share their labels (Knative's `request_count` and `request_latencies`),
 * the hot path records one observation instead of two.
 */
export function countOf<L extends string>(
  options: MetricOptions<L> & { readonly histogram: HistogramSource },
  registry = metricsRegistry(),
): Counter<L> {
  const source = options.histogram;
  return (
    existing<Counter<L>>(registry, options.name, Counter) ??
    new Counter<L>({
      name: options.name,
      help: options.help,
      labelNames: options.labelNames ?? [],
      registers: [registry],
      async collect() {
        this.reset();
        const observed = await source.get();
        const countName = `${observed.name}_count`;
        for (const v of observed.values)
          if (v.metricName === countName) this.inc(v.labels as Partial<Record<L, string | number>>, v.value);
      },
    })
  );
}

/** Seconds buckets from 5 ms to 5 min: requests, event handling, rounds. */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Millisecond buckets Knative's request and dispatch latency histograms use. */
export const KNATIVE_MS_BUCKETS = [
  5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000, 5000, 10000,
  20000, 50000, 100000,
];

/** Knative's `response_code_class`: `2xx`, `4xx`, ... */
export function responseCodeClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Answers a scrape: the registry in the Prometheus text format. */
export async function answerMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
