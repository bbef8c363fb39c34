// Metrics for paths that run for every event (the runtime's broker): a histogram and a counter
// that keep one series per label set under a key the caller makes cheaply (the label values
// joined), and build the label object only the first time a key is seen. prom-client's own
// `observe`/`inc` validate and hash the label object on every call, which on the broker cost
// more than the 5 % that observability may add. Both register with a prom-client Registry as
// custom metrics (`get()` in prom-client's shape), so `/metrics` text and `countOf` read them
// as they read prom-client's.
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface HotValue {
  readonly metricName: string;
  readonly labels: Labels;
  readonly value: number;
}

export interface HotMetricData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram' | 'counter';
  readonly aggregator: 'sum';
  readonly values: HotValue[];
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly buckets: number[];
  count: number;
  sum: number;
}

/** A histogram with prom-client's exposition (`_bucket` with `le`, `_sum`, `_count`). */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();
  private readonly bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
    registry: Registry,
  ) {
    this.bounds = [...bounds].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  /** Adds `value` to the series of `key`; `labels` is called once per new key. */
  observe(key: string, labels: () => Labels, value: number): void {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: labels(), buckets: new Array<number>(this.bounds.length).fill(0), count: 0, sum: 0 };
      this.series.set(key, s);
    }
    s.count += 1;
    s.sum += value;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i += 1) {
      if (value <= bounds[i]!) {
        s.buckets[i]! += 1;
        break;
      }
    }
  }

  get(): Promise<HotMetricData> {
    const values: HotValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: String(le), ...s.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
  }
}

/** A counter with prom-client's exposition. */
export class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { readonly labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  inc(key: string, labels: () => Labels, by = 1): void {
    const s = this.series.get(key);
    if (s === undefined) this.series.set(key, { labels: labels(), value: by });
    else s.value += by;
  }

  get(): Promise<HotMetricData> {
    const values = [...this.series.values()].map((s) => ({ metricName: this.name, labels: s.labels, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
  }
}
