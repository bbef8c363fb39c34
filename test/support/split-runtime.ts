// The split component and its traffic-shaping proxy (knative/components/split and split-proxy,
// rendered by kustomize) on the local runtime, on the small ResNet, for the system and
// reliability tests; plus the runtime's view of a service's pods and a wait on it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { REPO_ROOT } from './fixtures.js';
import { renderComposed } from './kustomize.js';

export const SPLIT_NS = 'kaskade';

export interface SplitRuntime {
  runtime: Runtime;
  logs: string[];
  /** The runtime's pods of a service: phase, process id, requests in flight. */
  pods(service: string): { phase: string; pid: number | undefined; inFlight: number }[];
  /** Polls `check` until it holds; fails after `timeoutMs` with the tail of the workers' logs. */
  until(what: string, check: () => boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts A, the proxy and B from the manifests; `env` adds to (or replaces) their settings. */
export async function startSplitRuntime(env: Readonly<Record<string, string>> = {}): Promise<SplitRuntime> {
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-split-'));
  const docs = [
    ...renderComposed(
      [],
      [join(REPO_ROOT, 'knative', 'components', 'split'), join(REPO_ROOT, 'knative', 'components', 'split-proxy')],
      SPLIT_NS,
    ),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kaskade-function', namespace: SPLIT_NS } },
  ];
  const manifests = join(dir, 'split.yaml');
  await writeFile(manifests, docs.map((d) => stringify(d)).join('---\n'));
  const port = await freePort();
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const runtime = await startRuntime({
    manifests,
    namespace: SPLIT_NS,
    stateDir: dir,
    port,
    broker: null,
    logSink: sink,
    readinessTimeoutMs: 240_000,
    // Locally, the cluster's service names become the runtime's own routes.
    env: {
      MODEL_URI: 'resnet-small',
      SPLIT_CUT: 'v2',
      SPLIT_NEXT_URL: `http://127.0.0.1:${port}/${SPLIT_NS}/split-proxy`,
      PROXY_TARGET_URL: `http://127.0.0.1:${port}/${SPLIT_NS}/split-half-b`,
      ...env,
    },
  });
  const pods: SplitRuntime['pods'] = (service) => runtime.status().services.find((s) => s.name === service)?.pods ?? [];
  const until: SplitRuntime['until'] = async (what, check, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('').slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    runtime,
    logs,
    pods,
    until,
    close: async () => {
      await runtime.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
