// Unit tier: the request metrics' route labels and counts, recorded into a fresh registry.
import { describe, expect, it } from 'vitest';
import { parseScrape } from '../../../test/support/prometheus.js';
import { httpMetrics } from './http-metrics.js';
import { createRegistry } from './metrics.js';

describe('request metrics', () => {
  it('labels a request by its route template, the same whether the path was seen before or not', () => {
    const metrics = httpMetrics(createRegistry());
    expect(metrics.route('/v2/models/mnist-3/infer?x=1')).toBe('/v2/models/:id/infer');
    expect(metrics.route('/v2/models/mnist-3/infer')).toBe('/v2/models/:id/infer');
    expect(metrics.route('/v2/models/mnist-3/infer?y=2')).toBe('/v2/models/:id/infer');
    expect(metrics.route('/v2/models/mnist/ready')).toBe('/v2/models/mnist/ready');
  });

  it('folds every template past the bound into `other`, however often a path comes back', () => {
    const metrics = httpMetrics(createRegistry(), 2);
    expect(metrics.route('/a')).toBe('/a');
    expect(metrics.route('/b')).toBe('/b');
    expect(metrics.route('/c')).toBe('other');
    expect(metrics.route('/c')).toBe('other');
    expect(metrics.route('/a?again')).toBe('/a');
    // Many distinct paths (past the path cache's size) still land on the bounded label set.
    for (let i = 0; i < 3000; i++) expect(metrics.route(`/a/${i}`)).toBe('other');
  });

  it('counts each request once under its route, method and status', async () => {
    const registry = createRegistry();
    const metrics = httpMetrics(registry);
    const route = metrics.route('/v2/models/mnist/infer');
    for (let i = 0; i < 3; i++) metrics.observe('post', route, 200, 0.002);
    metrics.observe('POST', route, 400, 0.001);
    const scraped = parseScrape(await registry.metrics());
    const labels = { route: '/v2/models/mnist/infer', method: 'POST' };
    expect(scraped.value('kaskade_http_requests_total', { ...labels, status: '200' })).toBe(3);
    expect(scraped.value('kaskade_http_requests_total', { ...labels, status: '400' })).toBe(1);
    expect(scraped.value('kaskade_http_request_duration_seconds_count', { ...labels, status: '200' })).toBe(3);
  });
});
