// System tier: the local runtime runs the shipped manifests (knative/base); the layer
// controller, a worker with its own ServiceAccount, creates four layer services through the
// runtime's Kubernetes API, trains two epochs through them on a small IDX MNIST, publishes the
// chain, and deletes the services with the job.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeCluster } from '../../functions/_shared/cluster/kube.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { writeSmallMnist } from '../support/mnist-idx.js';

const NS = 'kaskade';
let stateDir: string;
let runtime: Runtime;
const logs: string[] = [];

const LAYERS = [
  { type: 'ConvLayer', config: { in_channels: 1, out_channels: 8, kernel_size: 3, padding: 0 } },
  { type: 'ConvLayer', config: { in_channels: 8, out_channels: 16, kernel_size: 3, padding: 0 } },
  { type: 'FcLayer', config: { in_features: 400, out_features: 64, activation: 'relu' } },
  { type: 'FcLayer', config: { in_features: 64, out_features: 10, activation: 'none' } },
];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-layers-'));
  await writeSmallMnist(join(stateDir, 'data', 'datasets', 'mnist'), 1000, 300);
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

describe('the layer pipeline on the local runtime', () => {
  it('runs a 4-layer job: services through the Kubernetes API, two epochs of pipelined training, a published model, deletion', async () => {
    const controller = runtime.url('layer-controller', NS);
    const response = await fetch(`${controller}/train`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jobId: 'system-layers',
        layers: LAYERS,
        dataset: `file://${join(stateDir, 'data', 'datasets', 'mnist')}`,
        epochs: 2,
        batchSize: 50,
        microbatches: 4,
        learningRate: 0.003,
        seed: 3,
        publishAs: 'mnist-layers',
      }),
      signal: AbortSignal.timeout(240_000),
    });
    const summary = (await response.json()) as {
      status: string;
      epochs: Array<{ testAccuracy: number }>;
      published: string;
      error?: string;
    };
    expect(response.status, `${JSON.stringify(summary)}\n${logs.join('').slice(-3000)}`).toBe(200);
    expect(summary.status).toBe('trained');
    expect(summary.epochs.at(-1)?.testAccuracy).toBeGreaterThan(0.7);
    expect(summary.published).toMatch(/models\/mnist-layers\/system-layers\/$/);

    const admin = new KubeConfig();
    admin.loadFromFile(runtime.kubeApi.kubeconfig);
    const cluster = kubeCluster(admin, NS);
    const services = await cluster.listServices('kaskade.dev/layer-job=system-layers');
    expect(services.map((s) => s.metadata.name).sort()).toEqual([
      'layer-system-layers-0',
      'layer-system-layers-1',
      'layer-system-layers-2',
      'layer-system-layers-3',
    ]);

    const deleted = await fetch(`${controller}/jobs/system-layers`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(60_000),
    });
    expect(deleted.status).toBe(200);
    expect(await cluster.listServices('kaskade.dev/layer-job=system-layers')).toEqual([]);
  }, 300_000);
});
