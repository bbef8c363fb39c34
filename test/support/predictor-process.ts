// Test and benchmark support: measuring the predictor as clients see it: a published MNIST CNN in a temp store, the
// predictor started as its own process by the worker entry (what a pod and the local runtime
// run: the Functions Framework's server with the predictor's body limit in front), the time
// from process start to the first successful infer (scale from zero, model load included),
// then v2 infer latency and throughput over loopback with 1 and 8 concurrent clients.
import { MODEL_ONNX_FILE, exportOnnx } from '../../functions/_shared/serving/export-onnx.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { TimeoutError } from '../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import {
  MODEL_METADATA_FILE,
  encodeModelMetadata,
  type ModelMetadata,
} from '../../functions/_shared/models/metadata.js';
import { buildMnistCnn } from '../../functions/_shared/models/mnist-cnn.js';
import { openStore, publishLatest } from '../../functions/_shared/store/index.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const WORKER_MAIN = join(REPO_ROOT, 'functions', '_main', 'main.ts');

export interface BenchModel {
  /** Temp folder holding the store; remove with `cleanup()`. */
  dir: string;
  /** KASKADE_MODEL_URL for the predictor. */
  modelUrl: string;
  storageRoot: string;
  cleanup(): Promise<void>;
}

/** Publishes an (untrained) MNIST CNN, the project's real architecture, under a temp store. */
export async function publishBenchModel(): Promise<BenchModel> {
  const { tf } = await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'predictor-bench-'));
  const storageRoot = pathToFileURL(dir).href;
  const store = openStore({ roots: [storageRoot] });
  const modelUrl = `${storageRoot}/models/mnist/`;
  const folder = `${modelUrl}bench/round-1/`;
  const model = buildMnistCnn(tf);
  try {
    await model.save(store.modelHandler(folder));
    // As the aggregator publishes: model.onnx beside model.json (KASKADE_SERVING_ENGINE picks which runs).
    await store.write(`${folder}${MODEL_ONNX_FILE}`, exportOnnx(model));
  } finally {
    model.dispose();
  }
  const metadata: ModelMetadata = {
    format: 'kaskade.model/v1',
    model: 'mnist-cnn',
    dataset: 'mnist',
    jobId: 'bench',
    round: 1,
    rounds: 1,
    testAccuracy: null,
    testLoss: null,
    createdAt: new Date().toISOString(),
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    input: { kind: 'image', height: 28, width: 28, channels: 1, framing: 'digit' },
  };
  await store.write(`${folder}${MODEL_METADATA_FILE}`, encodeModelMetadata(metadata));
  await publishLatest(store, modelUrl, 'bench/round-1/');
  return { dir, modelUrl, storageRoot, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RunningPredictor {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `functions/predictor` in a new worker process on a free port; `env` adds to or overrides its environment. */
export async function spawnPredictor(model: BenchModel, env: Record<string, string> = {}): Promise<RunningPredictor> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      FUNCTION_TARGET: 'predictor',
      PORT: String(port),
      KASKADE_MODEL_URL: model.modelUrl,
      KASKADE_STORAGE_ROOTS: model.storageRoot,
      KASKADE_MODEL_POLL_S: '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (process.env.KASKADE_BENCH_LOGS) process.stderr.write(stderr);
    },
  };
}

/** One 28×28 image as a v2 infer body. */
export function inferBody(): string {
  const data = Array.from({ length: 784 }, (_, i) => ((i * 37) % 255) / 255);
  return JSON.stringify({ inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data }] });
}

/** Polls infer until it answers 200; the milliseconds since `startedAt`. */
export async function waitForFirstInfer(url: string, startedAt: number, timeoutMs = 120_000): Promise<number> {
  const body = inferBody();
  while (performance.now() - startedAt < timeoutMs) {
    try {
      const res = await fetchWithTimeout(
        `${url}/v2/models/mnist/infer`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body },
        10_000,
      );
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - startedAt;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new TimeoutError(`the predictor did not answer an infer within ${timeoutMs} ms`);
}

/** Process start → first successful infer, model load included. */
export async function measureColdStart(model: BenchModel): Promise<number> {
  const startedAt = performance.now();
  const running = await spawnPredictor(model);
  try {
    return await waitForFirstInfer(running.url, startedAt);
  } finally {
    await running.stop();
  }
}

export interface LoadResult {
  clients: number;
  requests: number;
  failures: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time the predictor process spent per answered request (ms; user + system, Linux only):
   * unlike req/s, this barely moves when other work shares the machine.
   */
  serverCpuMsPerRequest: number | null;
}

/**
 * `clients` loops of v2 infer requests for `durationMs` (after `warmupMs` unmeasured); with the
 * server's `pid`, also its CPU time per request.
 */
export async function measureLoad(
  url: string,
  clients: number,
  durationMs: number,
  warmupMs = 500,
  pid?: number,
): Promise<LoadResult> {
  const body = inferBody();
  const latencies: number[] = [];
  let failures = 0;
  let measuring = false;
  let stop = false;
  const client = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      const res = await fetchWithTimeout(
        `${url}/v2/models/mnist/infer`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body },
        30_000,
      );
      await res.arrayBuffer();
      if (!measuring) continue;
      if (res.status === 200) latencies.push(performance.now() - t0);
      else failures++;
    }
  };
  const running = Array.from({ length: clients }, () => client());
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const cpu0 = pid === undefined ? undefined : await processCpuMs(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = pid === undefined ? undefined : await processCpuMs(pid);
  stop = true;
  await Promise.all(running);
  latencies.sort((a, b) => a - b);
  return {
    clients,
    requests: latencies.length,
    failures,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    serverCpuMsPerRequest:
      cpu0 === undefined || cpu1 === undefined || latencies.length === 0 ? null : (cpu1 - cpu0) / latencies.length,
  };
}

/** User + system CPU time of a process so far (ms), from /proc; undefined where there is none. */
async function processCpuMs(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15, in 1/100 s.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
