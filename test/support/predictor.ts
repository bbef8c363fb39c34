// Test support: a predictor over a temp-folder store, served by the Functions Framework's own
// HTTP stack on an ephemeral port, with helpers to publish models and post events to it. It
// serves every model under `<temp>/models/` (KASKADE_MODELS_URL) unless the env names one.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { http } from '@google-cloud/functions-framework';
import type { LayersModel } from '@tensorflow/tfjs';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { initEngine, type Engine } from '../../functions/_shared/engine/index.js';
import { createLogger } from '../../functions/_shared/log.js';
import type { ModelMetadata } from '../../functions/_shared/models/metadata.js';
import { openStore, type Store } from '../../functions/_shared/store/index.js';
import { reviewTextEncoder } from '../../functions/predictor/text-encoder.js';
import { Authenticator, type AuthConfig } from '../../functions/_shared/auth.js';
import { guardServer } from '../../functions/_shared/auth-guard.js';
import { loadServingConfig } from '../../functions/_shared/serving/config.js';
import { loadConfig } from '../../functions/predictor/config.js';
import { startPredictor, type Predictor } from '../../functions/predictor/service.js';
import { mnistMetadata, publishModel, publishNamed, tinyMnistModel } from './models.js';

export interface Harness {
  readonly url: string;
  readonly engine: Engine;
  readonly store: Store;
  /** `<temp>/models/mnist/`: where `publish` and `publishModel` put models. */
  readonly prefix: string;
  /** `<temp>/models/`: every model published under it is served. */
  readonly modelsUrl: string;
  readonly predictor: Predictor;
  /** Trains nothing: writes a random tiny MNIST model as `<job>/round-<round>` and points LATEST at it. */
  publish(metadata: Partial<ModelMetadata>, seed?: number): Promise<string>;
  /** Writes a given model as `<job>/round-<round>` and points LATEST at it. */
  publishModel(model: LayersModel, metadata: ModelMetadata): Promise<string>;
  /** The same under `models/<name>/`, with a vocabulary file beside it when `words` are given. */
  publishAs(name: string, model: LayersModel, metadata: ModelMetadata, words?: readonly string[]): Promise<string>;
  /** POSTs JSON to a path of the predictor. */
  post(path: string, body: unknown): Promise<Response>;
  /** POSTs a binary-mode `model.aggregated` CloudEvent. */
  postAggregated(data: Record<string, unknown>, options?: { id?: string; path?: string }): Promise<Response>;
  close(): Promise<void>;
}

let registered = 0;

export interface HarnessOptions {
  /** Publish a tiny MNIST model as `mnist` before the predictor starts (default true). */
  publishFirst?: boolean;
  /** Runs before the predictor starts, e.g. to publish more models. */
  before?: (store: Store, modelsUrl: string, engine: Engine) => Promise<void>;
  /** Bearer-token auth in front of the predictor, as the worker entry installs it. */
  auth?: AuthConfig;
}

export async function startHarness(env: Record<string, string> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const engine = await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'predictor-'));
  const store = openStore({ roots: [pathToFileURL(dir).href] });
  const modelsUrl = `${pathToFileURL(dir).href}/models/`;
  const prefix = `${modelsUrl}mnist/`;
  const publish = async (metadata: Partial<ModelMetadata>, seed = 1): Promise<string> => {
    const meta = mnistMetadata(metadata);
    const model = tinyMnistModel(engine.tf, seed);
    try {
      return await publishModel(store, prefix, `${meta.jobId}/round-${meta.round}`, model, meta);
    } finally {
      model.dispose();
    }
  };
  if (options.publishFirst !== false) await publish({});
  await options.before?.(store, modelsUrl, engine);
  const where = env.KASKADE_MODEL_URL === undefined ? { KASKADE_MODELS_URL: modelsUrl } : {};
  const config = loadConfig({ ...where, KASKADE_MODEL_POLL_S: '0', KASKADE_MODEL_RETRY_MS: '50', ...env });
  const quiet = createLogger('predictor', new Writable({ write: (_chunk, _encoding, done) => done() }));
  const logger = process.env.KASKADE_TEST_LOGS ? createLogger('predictor') : quiet;
  const serving = loadServingConfig(env);
  const predictor = startPredictor({
    config,
    store,
    engine,
    logger,
    serving,
    load: { textEncoder: reviewTextEncoder },
  });
  await predictor.startUp;
  const name = `predictor-test-${++registered}`;
  http(name, predictor.handler);
  const server: Server = getTestServer(name);
  predictor.prepareServer(server);
  if (options.auth) guardServer(server, new Authenticator(options.auth));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    engine,
    store,
    prefix,
    modelsUrl,
    predictor,
    publish,
    publishModel: (model, metadata) =>
      publishModel(store, prefix, `${metadata.jobId}/round-${metadata.round}`, model, metadata),
    publishAs: (name, model, metadata, words) => publishNamed(store, modelsUrl, name, model, metadata, words),
    post: (path, body) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      }),
    postAggregated: (data, o = {}) =>
      fetch(`${url}${o.path ?? '/events'}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-specversion': '1.0',
          'ce-type': 'dev.kaskade.model.aggregated',
          'ce-source': '/kaskade/aggregator',
          'ce-id': o.id ?? randomUUID(),
        },
        body: JSON.stringify(data),
        signal: AbortSignal.timeout(30_000),
      }),
    close: async () => {
      predictor.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A valid `model.aggregated` payload for a job. */
export function aggregated(jobId: string, round: number, rounds: number, final: boolean): Record<string, unknown> {
  return {
    jobId,
    round,
    rounds,
    modelUrl: `file:///tmp/${jobId}/round-${round}/`,
    testAccuracy: 0.95,
    testLoss: 0.2,
    participants: 3,
    final,
  };
}
