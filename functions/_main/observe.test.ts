// Integration tier: the pod's observed server (the real Express app of app.ts behind
// observedListener) on an ephemeral port; /metrics is read with a Prometheus text parser and
// every counter checked against the traffic sent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScrape, scrape } from '../../test/support/prometheus.js';
import { BadInputError } from '../_shared/errors.js';
import { createLogger } from '../_shared/log.js';
import { routeTemplate } from '../_shared/observability/http-metrics.js';
import { createRegistry } from '../_shared/observability/metrics.js';
import { markEventOutcome } from '../_shared/observability/workload-metrics.js';
import { httpFunctionApp } from './app.js';
import { observedListener } from './observe.js';

const TYPE = 'dev.kaskade.shard.trained';

/** Answers events by their id: `dup` is a duplicate, `bad` is refused, `boom` fails. */
const fn: HttpFunction = (req, res) => {
  if (req.method === 'GET') {
    res.status(200).send('ok');
    return;
  }
  const id = req.header('ce-id') ?? (req.body as { id?: string }).id;
  if (id === 'bad') throw new BadInputError('not this one');
  if (id === 'boom') throw new Error('the handler failed');
  if (id === 'dup') markEventOutcome(res, 'duplicate');
  res.status(204).end();
};

let server: Server;
let base: string;

beforeAll(async () => {
  const app = httpFunctionApp(fn, createLogger('observed', new PassThrough()));
  server = createServer(observedListener(app, createRegistry({ service_name: 'observed' })));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((done) => server.close(() => done()));
});

function postBinary(id: string): Promise<Response> {
  return fetch(base, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': '/test',
      'ce-type': TYPE,
      'content-type': 'application/json',
    },
    body: '{}',
  });
}

describe('a pod’s /metrics', () => {
  it('counts requests by route template and status, and events by type and outcome', async () => {
    const before = await scrape(`${base}/metrics`);
    for (const path of ['/items/123', '/items/abc-9f', '/items/'])
      expect((await fetch(`${base}${path}`)).status).toBe(200);
    expect((await postBinary('first')).status).toBe(204);
    expect((await postBinary('dup')).status).toBe(204);
    expect((await postBinary('bad')).status).toBe(400);
    expect((await postBinary('boom')).status).toBe(500);
    const structured = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'structured', source: '/test', type: TYPE, data: {} }),
    });
    expect(structured.status).toBe(204);
    // A request is recorded when its answer closes, which may trail the client's read by a tick.
    let after = await scrape(`${base}/metrics`);
    for (
      let i = 0;
      i < 100 && after.value('kaskade_events_handled_total') - before.value('kaskade_events_handled_total') < 5;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
      after = await scrape(`${base}/metrics`);
    }

    const moved = (name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    expect(moved('kaskade_http_requests_total', { route: '/items/:id', method: 'GET', status: '200' })).toBe(2);
    expect(moved('kaskade_http_requests_total', { route: '/items', method: 'GET', status: '200' })).toBe(1);
    expect(moved('kaskade_http_requests_total', { route: '/', method: 'POST', status: '204' })).toBe(3);
    expect(moved('kaskade_http_requests_total', { route: '/', method: 'POST', status: '400' })).toBe(1);
    expect(moved('kaskade_http_requests_total', { route: '/', method: 'POST', status: '500' })).toBe(1);
    expect(
      after.count('kaskade_http_request_duration_seconds', { route: '/items/:id' }) -
        before.count('kaskade_http_request_duration_seconds', { route: '/items/:id' }),
    ).toBe(2);
    for (const [outcome, n] of [
      ['ok', 2],
      ['duplicate', 1],
      ['rejected', 1],
      ['failed', 1],
    ] as const)
      expect(moved('kaskade_events_handled_total', { event_type: TYPE, outcome }), outcome).toBe(n);
    // The scrape itself is not a request the function served.
    expect(after.labelSets('kaskade_http_requests_total').some((l) => l.route === '/metrics')).toBe(false);
    // The pod's labels on every series; process and event-loop metrics beside them.
    expect(after.labelSets('kaskade_events_handled_total').every((l) => l.service_name === 'observed')).toBe(true);
    expect(after.families.has('process_cpu_user_seconds_total')).toBe(true);
    expect(after.families.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('keeps the route label bounded whatever paths clients send', () => {
    expect(routeTemplate('/v2/models/mnist-3/infer?x=1')).toBe('/v2/models/:id/infer');
    expect(routeTemplate('/v2/models/mnist/ready')).toBe('/v2/models/mnist/ready');
    expect(routeTemplate('/jobs/job-42/check')).toBe('/jobs/:id/check');
    expect(routeTemplate('/a/b/c/d/e/f/g')).toBe('/a/b/c/d/e/…');
    expect(routeTemplate('/%2e%2e/x')).toBe('/:id/x');
  });

  it('is valid Prometheus text even with nothing recorded yet', () => {
    const empty = parseScrape('');
    expect(empty.value('kaskade_http_requests_total')).toBe(0);
  });
});
