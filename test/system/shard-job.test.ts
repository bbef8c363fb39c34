// System tier: the local runtime runs the shipped manifests (knative/base) as real worker
// processes, a 2-shard 2-round federated job goes through the broker end to end on a small
// IDX dataset, and the predictor — hot-reloaded by model.aggregated — answers v2 inference.
// Every worker exports its spans to a fake OTLP collector: the job reads as one trace, from the
// traceparent of training.requested to model.aggregated, and an inference as its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainingJob } from '../../events/training-client.js';
import { startTracing, traceIdOf, withSpan } from '../../functions/_shared/observability/tracing.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { startCollector, type Collector } from '../fakes/otlp-collector.js';
import { writeSmallMnist } from '../support/mnist-idx.js';

const NS = 'kaskade';
let stateDir: string;
let runtime: Runtime;
const logs: string[] = [];
let testImage: number[];
let collector: Collector;
const JOB_TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const INFER_TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-system-'));
  testImage = await writeSmallMnist(join(stateDir, 'data', 'datasets', 'mnist'));
  const sink = new PassThrough();
  sink.pipe(
    new Writable({
      write: (chunk: Buffer, _enc, done) => {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  collector = await startCollector();
  startTracing({ serviceName: 'shard-job-test', exporter: 'none' });
  runtime = await startRuntime({
    manifests: 'knative/base',
    stateDir,
    port: 0,
    logSink: sink,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await collector?.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('the shard workload on the local runtime', () => {
  it('trains 2 shards × 2 rounds through the broker and serves the result over v2', async () => {
    const brokerUrl = runtime.brokerUrl(NS, 'default');
    expect(brokerUrl).not.toBeNull();
    const progress: string[] = [];
    // training.requested is emitted inside a span of a known trace: every event after it continues it.
    const { job } = await withSpan({ traceparent: JOB_TRACE }, 'kaskade train', {}, (span) =>
      runTrainingJob({
        brokerUrl: brokerUrl ?? '',
        aggregatorUrl: runtime.url('aggregator', NS),
        out: new Writable({
          write: (c: Buffer, _e, done) => {
            progress.push(c.toString());
            done();
          },
        }),
        request: {
          jobId: 'system-2x2',
          dataset: `file://${join(stateDir, 'data', 'datasets', 'mnist')}`,
          model: 'mnist-cnn',
          shards: 2,
          strategy: 'iid',
          rounds: 2,
          localEpochs: 1,
          batchSize: 32,
          learningRate: 0.003,
          seed: 7,
        },
        timeoutMs: 150_000,
      }).finally(() => span.end()),
    );
    expect(job.status, logs.join('').slice(-4000)).toBe('done');
    expect(job.results.map((r) => r.round)).toEqual([1, 2]);
    for (const r of job.results) expect(r.participants.sort()).toEqual([0, 1]);
    // 600 training digits, 2 epochs in all: far above chance (0.1), though not MNIST-grade.
    expect(job.results.at(-1)?.testAccuracy).toBeGreaterThan(0.5);
    expect(progress.join('')).toMatch(/round 2\/2: test accuracy/);

    const predictor = runtime.url('predictor', NS);
    await waitFor(
      'the predictor to load the published model',
      async () => (await fetch(`${predictor}/v2/models/mnist/ready`)).status === 200,
      60_000,
    );
    const meta = (await (await fetch(`${predictor}/v2/models/mnist`)).json()) as {
      name: string;
      inputs: { shape: number[] }[];
    };
    expect(meta.name).toBe('mnist');

    const infer = await fetch(`${predictor}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: INFER_TRACE },
      body: JSON.stringify({ inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data: testImage }] }),
    });
    expect(infer.status).toBe(200);
    const answer = (await infer.json()) as { model_name: string; outputs: { shape: number[]; data: number[] }[] };
    expect(answer.model_name).toBe('mnist');
    expect(answer.outputs[0]?.shape).toEqual([1, 10]);
    const sum = (answer.outputs[0]?.data ?? []).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 4);

    const bad = await fetch(`${predictor}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'image', shape: [1, 27, 28, 1], datatype: 'FP32', data: testImage.slice(0, 27 * 28) }],
      }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/shape/);

    // One trace from training.requested to model.aggregated, across every service it crossed.
    const handled = (type: string) =>
      collector.spans.filter((s) => s.attributes['cloudevents.event_type'] === `dev.kaskade.${type}`);
    await waitFor(
      'the predictor to export its spans',
      () =>
        Promise.resolve(
          handled('model.aggregated').length > 0 &&
            collector.spans.some((s) => s.name === 'POST /v2/models/mnist/infer'),
        ),
      60_000,
    );
    const jobTrace = traceIdOf(JOB_TRACE);
    for (const type of ['training.requested', 'shard.ready', 'shard.trained', 'model.aggregated']) {
      expect(handled(type).length, type).toBeGreaterThan(0);
      expect(new Set(handled(type).map((s) => s.traceId)), type).toEqual(new Set([jobTrace]));
    }
    const services = new Set(collector.spans.filter((s) => s.traceId === jobTrace).map((s) => s.service));
    for (const name of ['splitter', 'shard-trainer', 'aggregator', 'predictor']) expect(services).toContain(name);
    // The inference continued the client's trace in the predictor.
    const inferSpan = collector.spans.find(
      (s) => s.name === 'POST /v2/models/mnist/infer' && s.attributes['http.response.status_code'] === '200',
    );
    expect(inferSpan?.traceId).toBe(traceIdOf(INFER_TRACE));
  }, 240_000);
});
