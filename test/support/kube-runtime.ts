// A local runtime with its Kubernetes API, for tests that talk to it as a cluster client would:
// the admin kubeconfig it writes, and a kubeconfig per ServiceAccount (the one a worker gets).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../knative/runtime/runtime.js';
import { FIXTURE_FUNCTIONS, FIXTURE_MANIFESTS } from './fixtures.js';

export const KUBE_API_MANIFESTS = join(FIXTURE_MANIFESTS, 'kube-api.yaml');

export interface KubeRuntime {
  runtime: Runtime;
  stateDir: string;
  logs: string[];
  /** The admin's KubeConfig, read from the file the runtime wrote. */
  admin(): KubeConfig;
  /** A KubeConfig for ServiceAccount `name` of `default` (the runtime writes it as it would for a pod). */
  serviceAccount(name: string): Promise<KubeConfig>;
  /** Stops the runtime and starts it again on the same state folder. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startKubeRuntime(options: Partial<RuntimeOptions> = {}): Promise<KubeRuntime> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kaskade-kube-'));
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const start = (): Promise<Runtime> =>
    startRuntime({
      manifests: KUBE_API_MANIFESTS,
      functionsDir: FIXTURE_FUNCTIONS,
      stateDir,
      allowZeroInitialScale: true,
      kpa: { timeScale: 0.25 },
      logSink: sink,
      broker: null,
      ...options,
    });
  let runtime = await start();
  const self: KubeRuntime = {
    get runtime() {
      return runtime;
    },
    stateDir,
    logs,
    admin() {
      const kc = new KubeConfig();
      kc.loadFromFile(runtime.kubeApi.kubeconfig);
      return kc;
    },
    async serviceAccount(name) {
      const kc = new KubeConfig();
      kc.loadFromFile(await runtime.kubeApi.serviceAccountKubeconfig('default', name));
      return kc;
    },
    async restart() {
      await runtime.close();
      runtime = await start();
    },
    async close() {
      await runtime.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return self;
}
