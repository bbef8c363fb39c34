// System tier: the shipped predictor manifest on the local runtime, woken from zero by a request
// while its model is still loading. The request must wait (the activator holds it while no pod
// is ready) and be answered by the model, not with 503 "no model is loaded yet" (kserve#2882).
// After the first pod has scaled to zero, the model's weights file becomes a named pipe, so the
// woken pod's load is held for as long as the test wants: it is released once the runtime has
// either reported the pod ready (the defect) or the pod's own readiness probe has answered 503
// while loading (the fix).
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { openStore, publishLatest } from '../../functions/_shared/store/index.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { barImage, mnistMetadata, tinyMnistModel, writeModelFolder } from '../support/models.js';

const MANIFEST = join(import.meta.dirname, '..', '..', 'knative', 'base', 'predictor.yaml');

let stateDir: string;
let runtime: Runtime;
const logs: string[] = [];

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function predictorPods(): { phase: string; port: number }[] {
  return runtime.status().services.find((s) => s.name === 'predictor')?.pods ?? [];
}

/** The pod answers its readiness probe (the manifest's path) with "not ready". */
async function podSaysNotReady(): Promise<boolean> {
  const path = runtime.manifests.services.find((s) => s.name === 'predictor')?.readinessPath;
  const pod = predictorPods()[0];
  if (!pod || !path) return false;
  try {
    const res = await fetch(`http://127.0.0.1:${pod.port}${path}`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 503;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-wake-'));
  const prefix = `${pathToFileURL(join(stateDir, 'data')).href}/models/mnist/`;
  const { tf } = await initEngine();
  const model = tinyMnistModel(tf, 5);
  const store = openStore({ roots: [pathToFileURL(join(stateDir, 'data')).href] });
  await writeModelFolder(store, prefix, 'job-wake/round-3', model, mnistMetadata({ jobId: 'job-wake' }));
  await publishLatest(store, prefix, 'job-wake/round-3/');
  model.dispose();
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  runtime = await startRuntime({
    manifests: MANIFEST,
    stateDir,
    port: 0,
    broker: null,
    // The 60 s stable window becomes 3 s, so the first pod scales to zero within seconds.
    kpa: { timeScale: 0.05 },
    logSink: sink,
    env: { KASKADE_MODEL_POLL_S: '0' },
  });
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('a predictor woken from zero', () => {
  it('answers the request that woke it with the model, after the model has loaded', async () => {
    // The first pod (initial scale 1) loads the model at start, then scales to zero without traffic.
    await until('the predictor at zero', () => predictorPods().length === 0, 30_000);
    // The weights file becomes the pipe (the loader checks that model.json exists as a file
    // before it reads it, so model.json itself stays).
    const folder = join(stateDir, 'data', 'models', 'mnist', 'job-wake', 'round-3');
    const manifest = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
    };
    const weights = join(folder, manifest.weightsManifest[0]?.paths[0] ?? 'missing');
    const saved = `${weights}.saved`;
    await rename(weights, saved);
    execFileSync('mkfifo', [weights]);

    const url = runtime.url('predictor');
    const first = fetch(`${url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data: barImage() }] }),
      signal: AbortSignal.timeout(60_000),
    });
    const health = fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(60_000) });
    const metadata = fetch(`${url}/v2/models/mnist`, { signal: AbortSignal.timeout(60_000) });

    // The pod is up and its model load waits on the pipe: either the runtime already routes to
    // it, or the pod tells its probe it is not ready.
    await until(
      'the woken pod to be routed to or to report itself not ready',
      async () => predictorPods()[0]?.phase === 'ready' || (await podSaysNotReady()),
      30_000,
    );

    // Release the load: the weights are written into the pipe and the saved file takes its place.
    const pipe = await open(weights, 'w');
    await rename(saved, weights);
    await pipe.write(await readFile(weights));
    await pipe.close();

    const [inferred, ready, described] = await Promise.all([first, health, metadata]);
    expect({ infer: inferred.status, ready: ready.status, metadata: described.status }).toEqual({
      infer: 200,
      ready: 200,
      metadata: 200,
    });
    const answer = (await inferred.json()) as { model_version: string; outputs: { data: number[] }[] };
    expect(answer.model_version).toBe('job-wake-r3');
    expect(answer.outputs[0]?.data).toHaveLength(10);
  }, 90_000);
});
