// System tier: the local runtime runs the shipped manifests (knative/base) as real worker
// processes, a 2-shard 2-round federated job goes through the broker end to end on a small
// IDX dataset, and the predictor — hot-reloaded by model.aggregated — answers v2 inference.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainingJob } from '../../events/training-client.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { writeSmallMnist } from '../support/mnist-idx.js';

const NS = 'kaskade';
let stateDir: string;
let runtime: Runtime;
const logs: string[] = [];
let testImage: number[];

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
  runtime = await startRuntime({ manifests: 'knative/base', stateDir, port: 0, logSink: sink });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('the shard workload on the local runtime', () => {
  it('trains 2 shards × 2 rounds through the broker and serves the result over v2', async () => {
    const brokerUrl = runtime.brokerUrl(NS, 'default');
    expect(brokerUrl).not.toBeNull();
    const progress: string[] = [];
    const { job } = await runTrainingJob({
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
    });
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
      headers: { 'content-type': 'application/json' },
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
  }, 240_000);
});
