// Runtime measurements for `npm run bench -- runtime`: scale-from-zero latency of the echo
// service through the ingress (request sent at zero → answer), and the ingress's overhead
// against calling the same warm worker directly. Real processes on loopback.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import type { WorkerMode } from '../../../knative/runtime/build.js';
import { startRuntime, type Runtime } from '../../../knative/runtime/runtime.js';
import { FIXTURE_FUNCTIONS } from '../../../test/support/fixtures.js';

export interface ColdStartResult {
  samplesMs: number[];
  p50Ms: number;
  p95Ms: number;
}

export interface OverheadResult {
  directP50Ms: number;
  ingressP50Ms: number;
  overheadP50Ms: number;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** A runtime with one echo service (default target, starts at zero, 1 s window, 100 ms tick). */
async function echoRuntime(workerMode: WorkerMode): Promise<{ runtime: Runtime; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-bench-runtime-'));
  const manifest = join(dir, 'echo.yaml');
  await writeFile(
    manifest,
    stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'echo' },
      spec: {
        template: {
          metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '0' } },
          spec: { containers: [{ image: 'kaskade', env: [{ name: 'FUNCTION_TARGET', value: 'echo' }] }] },
        },
      },
    }),
  );
  const sink = new PassThrough();
  sink.resume();
  const runtime = await startRuntime({
    manifests: manifest,
    functionsDir: FIXTURE_FUNCTIONS,
    stateDir: dir,
    workerMode,
    allowZeroInitialScale: true,
    kpa: { stableWindowMs: 1_000, tickMs: 100 },
    logSink: sink,
  });
  return {
    runtime,
    cleanup: async () => {
      await runtime.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolveGet, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.once('end', () =>
        res.statusCode === 200
          ? resolveGet(performance.now() - t0)
          : reject(new Error(`GET ${path} answered ${res.statusCode ?? 0}`)),
      );
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.once('error', reject);
    req.end();
  });
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `samples` times: wait until echo is at zero, send one request, time it until the answer. */
export async function measureColdStart(
  samples: number,
  workerMode: WorkerMode = 'bundle',
  onSample?: (ms: number) => void,
): Promise<ColdStartResult> {
  const { runtime, cleanup } = await echoRuntime(workerMode);
  const agent = new Agent({ keepAlive: false });
  const echo = (): { pods: unknown[] } => runtime.status().services[0] ?? { pods: [] };
  try {
    const samplesMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      await waitFor(() => echo().pods.length === 0, 30_000, 'echo to scale to zero');
      const ms = await get(agent, runtime.port, '/default/echo/');
      samplesMs.push(ms);
      onSample?.(ms);
    }
    return { samplesMs, p50Ms: percentile(samplesMs, 50), p95Ms: percentile(samplesMs, 95) };
  } finally {
    agent.destroy();
    await cleanup();
  }
}

/** p50 of `requests` GETs to a warm worker, directly and through the ingress, interleaved. */
export async function measureIngressOverhead(requests: number): Promise<OverheadResult> {
  const { runtime, cleanup } = await echoRuntime('bundle');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await get(agent, runtime.port, '/default/echo/');
    const pod = runtime.status().services[0]?.pods[0];
    if (!pod) throw new Error('echo has no pod after a request');
    const direct: number[] = [];
    const viaIngress: number[] = [];
    for (let i = 0; i < 200; i++) await get(agent, pod.port, '/');
    for (let i = 0; i < 200; i++) await get(agent, runtime.port, '/default/echo/');
    for (let i = 0; i < requests; i++) {
      direct.push(await get(agent, pod.port, '/'));
      viaIngress.push(await get(agent, runtime.port, '/default/echo/'));
    }
    const directP50Ms = percentile(direct, 50);
    const ingressP50Ms = percentile(viaIngress, 50);
    return { directP50Ms, ingressP50Ms, overheadP50Ms: ingressP50Ms - directP50Ms };
  } finally {
    agent.destroy();
    await cleanup();
  }
}
