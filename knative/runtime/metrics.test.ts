// System tier: the local runtime's /metrics, read with a Prometheus text parser while real
// traffic passes: requests through the ingress to a worker, events through the broker to a
// service, and to a subscriber that refuses them (retries, then the dead-letter sink). Every
// counter is checked against the traffic sent, under Knative's names and labels.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubscriber, type Subscriber } from '../../test/fakes/subscriber.js';
import { FIXTURE_FUNCTIONS } from '../../test/support/fixtures.js';
import { scrape, type Scrape } from '../../test/support/prometheus.js';
import { startRuntime, type Runtime } from './runtime.js';

const TYPE = 'dev.kaskade.test.sent';
let stateDir: string;
let runtime: Runtime;
let refusing: Subscriber;
let deadLetters: Subscriber;
const logs: string[] = [];

function manifests(refusingUrl: string, deadLetterUrl: string): string {
  return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: echo
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
    spec:
      containers:
        - image: kaskade
          env:
            - name: FUNCTION_TARGET
              value: echo
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-echo
spec:
  broker: default
  filter:
    attributes:
      type: ${TYPE}
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: echo
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: refused
spec:
  broker: default
  filter:
    attributes:
      type: ${TYPE}
  subscriber:
    uri: ${refusingUrl}
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.01S
    deadLetterSink:
      uri: ${deadLetterUrl}
`;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-metrics-'));
  refusing = await startSubscriber(() => ({ status: 503 }));
  deadLetters = await startSubscriber();
  const file = join(stateDir, 'observed.yaml');
  await writeFile(file, manifests(refusing.url, deadLetters.url));
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  runtime = await startRuntime({
    manifests: file,
    functionsDir: FIXTURE_FUNCTIONS,
    stateDir: join(stateDir, 'state'),
    allowZeroInitialScale: true,
    logSink: sink,
  });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await refusing?.close();
  await deadLetters?.close();
  await rm(stateDir, { recursive: true, force: true });
});

function post(body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(runtime.brokerUrl() ?? '', { method: 'POST', headers, body, signal: AbortSignal.timeout(60_000) });
}

/** Scrapes until `done` holds (the broker delivers after it answers), or fails after `ms`. */
async function scrapeUntil(what: string, done: (s: Scrape) => boolean, ms = 120_000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await scrape(`http://127.0.0.1:${runtime.port}/metrics`);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the runtime’s /metrics', () => {
  it('moves with requests and events under Knative’s names and labels', async () => {
    const before = await scrape(`http://127.0.0.1:${runtime.port}/metrics`);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${runtime.url('echo')}/hello`, { signal: AbortSignal.timeout(120_000) });
      expect(res.status).toBe(200);
    }
    for (const id of ['e1', 'e2']) {
      const res = await post('{}', {
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-source': '/metrics-test',
        'ce-type': TYPE,
        'content-type': 'application/json',
      });
      expect(res.status).toBe(202);
    }
    expect((await post('not an event', { 'content-type': 'text/plain' })).status).toBe(400);
    await deadLetters.waitFor(2, 120_000);

    const delivered = { namespace_name: 'default', broker_name: 'default', trigger_name: 'to-echo' };
    const refused = { ...delivered, trigger_name: 'refused' };
    const echo = { namespace_name: 'default', service_name: 'echo', configuration_name: 'echo' };
    const after = await scrapeUntil(
      'both triggers to finish both events',
      (s) =>
        s.value('kaskade_broker_deliveries_total', { ...delivered, outcome: 'delivered' }) === 2 &&
        s.value('kaskade_broker_deliveries_total', { ...refused, outcome: 'dead-lettered' }) === 2 &&
        s.value('activator_request_count', echo) - before.value('activator_request_count', echo) >= 5,
    );
    const moved = (name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);

    // The activator / queue-proxy view: 3 requests and 2 event deliveries reached echo.
    expect(moved('activator_request_count', { ...echo, response_code: '200', response_code_class: '2xx' })).toBe(5);
    expect(moved('revision_request_count', { ...echo, response_code: '200' })).toBe(5);
    expect(after.count('activator_request_latencies', echo) - before.count('activator_request_latencies', echo)).toBe(
      5,
    );
    expect(after.labelSets('activator_request_count').find((l) => l.service_name === 'echo')?.revision_name).toMatch(
      /^echo-/,
    );

    // The autoscaler's view of the revision, read at scrape time.
    expect(after.value('autoscaler_actual_pods', echo)).toBeGreaterThanOrEqual(1);
    expect(after.value('autoscaler_desired_pods', echo)).toBeGreaterThanOrEqual(1);
    expect(after.value('autoscaler_target_concurrency_per_pod', echo)).toBe(70); // 100 × 70 %
    expect([0, 1]).toContain(after.value('autoscaler_panic_mode', echo));
    expect(after.families.has('autoscaler_stable_request_concurrency')).toBe(true);
    expect(after.families.has('autoscaler_panic_request_concurrency')).toBe(true);

    // The broker: 2 events accepted and 1 refused at ingress; each trigger tried per its policy.
    const ingress = { namespace_name: 'default', broker_name: 'default' };
    expect(moved('mt_broker_ingress_event_count', { ...ingress, event_type: TYPE, response_code: '202' })).toBe(2);
    expect(moved('mt_broker_ingress_event_count', { ...ingress, response_code: '400' })).toBe(1);
    expect(moved('mt_broker_filter_event_count', { ...delivered, filter_type: TYPE, response_code: '200' })).toBe(2);
    expect(
      moved('mt_broker_filter_event_count', { ...refused, response_code: '503', response_code_class: '5xx' }),
    ).toBe(6);
    expect(moved('kaskade_broker_retries_total', refused)).toBe(4);
    expect(
      after.count('mt_broker_filter_event_dispatch_latencies', delivered) -
        before.count('mt_broker_filter_event_dispatch_latencies', delivered),
    ).toBe(2);
    expect(refusing.received).toHaveLength(6);
  }, 240_000);

  it('also answers at /_kaskade/metrics, with the runtime’s own process metrics', async () => {
    const s = await scrape(`http://127.0.0.1:${runtime.port}/_kaskade/metrics`);
    expect(s.families.has('process_resident_memory_bytes')).toBe(true);
    expect(s.families.has('autoscaler_desired_pods')).toBe(true);
  });
});
