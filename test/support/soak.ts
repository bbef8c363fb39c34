// For the load suites (test/reliability/soak, burst): the shipped predictor manifest on the local
// runtime, with a model published in its data folder, autoscaling settings changed where a test
// needs them, and every pod answering GET /.kaskade/stats (KASKADE_DEBUG_STATS=1).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { STATS_PATH, type PodStats } from '../../functions/_main/stats.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { openStore, publishLatest } from '../../functions/_shared/store/index.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { barImage, mnistMetadata, tinyMnistModel, writeModelFolder } from './models.js';

const MANIFEST = join(import.meta.dirname, '..', '..', 'knative', 'base', 'predictor.yaml');

export interface PredictorRuntime {
  readonly runtime: Runtime;
  /** The predictor's URL through the runtime's ingress. */
  readonly url: string;
  /** Every worker's output, for a failure message. */
  readonly logs: string[];
  pods(): { phase: string; port: number }[];
  /** Stats of every ready pod. */
  stats(reset?: boolean): Promise<PodStats[]>;
  close(): Promise<void>;
}

export interface PredictorRuntimeOptions {
  /** Knative autoscaling annotations to set (without the `autoscaling.knative.dev/` prefix). */
  annotations?: Record<string, string>;
  containerConcurrency?: number;
  /** The KPA's time scale (0.05: a 60 s window is 3 s). */
  timeScale?: number;
}

/** A v2 inference body for the published model (28×28×1 digit). */
export const INFER_BODY = JSON.stringify({
  inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data: barImage() }],
});

export async function startPredictorRuntime(options: PredictorRuntimeOptions = {}): Promise<PredictorRuntime> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kaskade-soak-'));
  const data = pathToFileURL(join(stateDir, 'data')).href;
  const prefix = `${data}/models/mnist/`;
  const { tf } = await initEngine();
  const model = tinyMnistModel(tf, 7);
  const store = openStore({ roots: [data] });
  await writeModelFolder(store, prefix, 'job-soak/round-1', model, mnistMetadata({ jobId: 'job-soak', round: 1 }));
  await publishLatest(store, prefix, 'job-soak/round-1/');
  model.dispose();

  const manifest = parse(await readFile(MANIFEST, 'utf8')) as {
    spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containerConcurrency?: number } } };
  };
  for (const [k, v] of Object.entries(options.annotations ?? {}))
    manifest.spec.template.metadata.annotations[`autoscaling.knative.dev/${k}`] = v;
  if (options.containerConcurrency !== undefined)
    manifest.spec.template.spec.containerConcurrency = options.containerConcurrency;
  const manifestPath = join(stateDir, 'predictor.yaml');
  await writeFile(manifestPath, stringify(manifest));

  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    logs.push(chunk.toString());
    if (logs.length > 2000) logs.splice(0, 1000);
  });
  const runtime = await startRuntime({
    manifests: manifestPath,
    stateDir,
    port: 0,
    broker: null,
    kpa: { timeScale: options.timeScale ?? 0.05 },
    logSink: sink,
    env: { KASKADE_MODEL_POLL_S: '0', KASKADE_DEBUG_STATS: '1' },
  });
  const pods = (): { phase: string; port: number }[] =>
    runtime.status().services.find((s) => s.name === 'predictor')?.pods ?? [];
  return {
    runtime,
    url: runtime.url('predictor'),
    logs,
    pods,
    async stats(reset = false) {
      const ready = pods().filter((p) => p.phase === 'ready');
      return Promise.all(
        ready.map(async (p) => {
          const res = await fetch(`http://127.0.0.1:${p.port}${STATS_PATH}${reset ? '?reset=1' : ''}`, {
            signal: AbortSignal.timeout(30_000),
          });
          return (await res.json()) as PodStats;
        }),
      );
    },
    async close() {
      await runtime.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  logs: string[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
