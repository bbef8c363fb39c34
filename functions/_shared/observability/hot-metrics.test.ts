import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from './hot-metrics.js';
import { countOf, KNATIVE_MS_BUCKETS } from './metrics.js';

const LABELS = ['broker_name', 'response_code'] as const;
const observations: Array<[string, string, number]> = [
  ['default', '202', 0.4],
  ['default', '202', 5],
  ['default', '202', 7.5],
  ['default', '400', 120],
  ['other', '202', 1e6],
  ['default', '202', 100000],
];

describe('hot metrics', () => {
  it("expose exactly what prom-client's Histogram and Counter expose for the same observations", async () => {
    const reference = new Registry();
    const hot = new Registry();
    const h = new Histogram({
      name: 'lat',
      help: 'h',
      labelNames: LABELS,
      buckets: KNATIVE_MS_BUCKETS,
      registers: [reference],
    });
    const c = new Counter({ name: 'n_total', help: 'c', labelNames: LABELS, registers: [reference] });
    const hh = new HotHistogram('lat', 'h', KNATIVE_MS_BUCKETS, hot);
    const hc = new HotCounter('n_total', 'c', hot);
    let made = 0;
    for (const [broker, code, ms] of observations) {
      h.observe({ broker_name: broker, response_code: code }, ms);
      c.inc({ broker_name: broker, response_code: code });
      const labels = () => {
        made += 1;
        return { broker_name: broker, response_code: code };
      };
      hh.observe(`${broker}\u0000${code}`, labels, ms);
      hc.inc(`${broker}\u0000${code}`, labels);
    }
    expect(await hot.metrics()).toBe(await reference.metrics());
    // Label objects are made once per new series (3 series × 2 metrics), not per observation.
    expect(made).toBe(6);
  });

  it('feed countOf like a prom-client Histogram', async () => {
    const registry = new Registry();
    const hh = new HotHistogram('lat', 'h', [1, 10], registry);
    countOf({ name: 'lat_events', help: 'n', labelNames: LABELS, histogram: hh }, registry);
    hh.observe('a', () => ({ broker_name: 'default', response_code: '202' }), 3);
    hh.observe('a', () => ({ broker_name: 'default', response_code: '202' }), 30);
    expect(await registry.getSingleMetricAsString('lat_events')).toContain(
      'lat_events{broker_name="default",response_code="202"} 2',
    );
  });
});
