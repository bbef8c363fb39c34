// System tier: the split component with its traffic-shaping proxy (knative/components/split and
// split-proxy, rendered by kustomize) on the local runtime, on the small ResNet: a PNG goes in at
// half A, through the proxy to half B, and a class comes out. Then B's pod is killed while it
// holds a request (frozen with SIGSTOP until the runtime counts the request on it, then
// SIGKILL): A answers a clear 503 within its timeout, and once the runtime has B back, the next
// request succeeds. Every wait is on an event or on the runtime's status, with generous deadlines.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { renderComposed } from '../support/kustomize.js';

const NS = 'kaskade';
/** How long A waits for B (SPLIT_TIMEOUT_MS): generous, so a loaded machine never reaches it by accident. */
const A_TIMEOUT_MS = 30_000;

let dir: string;
let runtime: Runtime;
let png: Uint8Array<ArrayBuffer>;
const logs: string[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pods(service: string): { phase: string; pid: number | undefined; inFlight: number }[] {
  return runtime.status().services.find((s) => s.name === service)?.pods ?? [];
}

function predict(): Promise<Response> {
  return fetch(`${runtime.url('split-half-a', NS)}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: png,
    signal: AbortSignal.timeout(4 * A_TIMEOUT_MS),
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaskade-split-'));
  const docs = [
    ...renderComposed(
      [],
      [join(REPO_ROOT, 'knative', 'components', 'split'), join(REPO_ROOT, 'knative', 'components', 'split-proxy')],
      NS,
    ),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kaskade-function', namespace: NS } },
  ];
  const manifests = join(dir, 'split.yaml');
  await writeFile(manifests, docs.map((d) => stringify(d)).join('---\n'));
  png = new Uint8Array(
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 20, g: 140, b: 220 } } })
      .png()
      .toBuffer(),
  );
  const port = await freePort();
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  runtime = await startRuntime({
    manifests,
    namespace: NS,
    stateDir: dir,
    port,
    broker: null,
    logSink: sink,
    readinessTimeoutMs: 240_000,
    // Locally, the cluster's service names become the runtime's own routes.
    env: {
      MODEL_URI: 'resnet-small',
      SPLIT_CUT: 'v2',
      SPLIT_NEXT_URL: `http://127.0.0.1:${port}/${NS}/split-proxy`,
      PROXY_TARGET_URL: `http://127.0.0.1:${port}/${NS}/split-half-b`,
      SPLIT_TIMEOUT_MS: String(A_TIMEOUT_MS),
    },
  });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('split inference on the local runtime', () => {
  it('an image in at A comes out of B as a class; B killed mid-request is a 503 from A; B back, the next succeeds', async () => {
    const first = await predict();
    expect(first.status).toBe(200);
    const answer = (await first.json()) as Record<string, unknown>;
    expect(answer.class_name).toMatch(/^class \d$/);
    expect(answer.class_id).toBe(Number(String(answer.class_name).slice('class '.length)));
    expect(answer.inference_time_a).toBeGreaterThan(0);
    expect(answer.inference_time_b).toBeGreaterThan(0);
    const described = (await (await fetch(`${runtime.url('split-half-b', NS)}/`)).json()) as { engine: string };
    expect(described.engine).toBe('onnxruntime');

    // Freeze B, send a request, and kill B once the runtime has handed the request to it.
    const victim = pods('split-half-b').find((p) => p.phase === 'ready');
    expect(victim?.pid).toBeDefined();
    const pid = victim!.pid!;
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    const pending = predict();
    await until(
      'the request to reach B',
      () => pods('split-half-b').some((p) => p.pid === pid && p.inFlight > 0),
      60_000,
    );
    process.kill(pid, 'SIGKILL');
    const failed = await pending;
    const elapsed = Date.now() - started;
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).toMatch(/half B/);
    expect(elapsed).toBeLessThan(A_TIMEOUT_MS);

    // The runtime brings B back (min-scale 1); the next request is answered.
    await until('a new B pod', () => pods('split-half-b').some((p) => p.pid !== pid && p.phase === 'ready'), 240_000);
    const next = await predict();
    expect(next.status).toBe(200);
    expect(((await next.json()) as { class_name: string }).class_name).toBe(answer.class_name);
  }, 600_000);
});
