// The predictor's HTTP surface: one handler routing the web page, the Open Inference Protocol
// v2 (with its model repository extension), KServe v1 and the `model.aggregated` event to the
// modules beside it. Everything a request needs comes from the deps object or the request
// itself: no per-request module state.
import type { Request, Response } from '@google-cloud/functions-framework';
import { BadInputError, MethodNotAllowedError, NotFoundError } from '../_shared/errors.js';
import { withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import type { Batcher } from './batcher.js';
import type { PredictorConfig } from './config.js';
import { modelStatusV1, predictRawV1, predictV1 } from './infer-v1.js';
import { inferV2, isRecord, modelMetadataV2, serverMetadataV2 } from './infer-v2.js';
import { looksLikeCloudEvent, type ModelEventHandler } from './model-events.js';
import type { ServedModel } from './model-loader.js';
import type { Lease } from './model-registry.js';
import type { ModelRepository } from './model-repository.js';
import { renderPage, type Page, type PageAssets } from './page.js';
import { bodyJson, checkSize, decodeParams } from './request.js';

export const SERVER_VERSION = '0.1.0';

export interface PredictorDeps {
  config: PredictorConfig;
  repository: ModelRepository;
  /** Every inference goes through it: concurrent requests share model calls. */
  batcher: Batcher<ServedModel>;
  events: ModelEventHandler;
  logger: Logger;
  /** The page's bundled script and stylesheet (made at start). */
  page: Promise<PageAssets>;
  /** True once start-up has finished: the first model load attempt (loaded, or nothing published yet). */
  started: () => boolean;
}

type Method = 'GET' | 'POST';
type Params = Record<string, string>;
type RouteHandler = (req: Request, res: Response, params: Params) => Promise<void> | void;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<Method, RouteHandler>>;
}

// `/v2/models/{name}[/versions/{version}]` prefix shared by the model routes.
const MODEL = String.raw`/v2/models/(?<name>[^/]+)(?:/versions/(?<version>[^/]+))?`;

export function createPredictorHandler(deps: PredictorDeps): Handler {
  const page = deps.page.then(renderPage);
  page.catch(() => undefined);
  const routes = [
    ...pageRoutes(deps, page),
    ...healthRoutes(deps),
    ...repositoryRoutes(deps),
    ...modelRoutes(deps),
    ...v1Routes(deps),
  ];
  return withErrors((req, res) => dispatch(routes, req, res), deps.logger);
}

async function dispatch(routes: readonly Route[], req: Request, res: Response): Promise<void> {
  const path = req.path;
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const handler = route.methods[req.method as Method];
    if (!handler) {
      const allow = Object.keys(route.methods);
      throw new MethodNotAllowedError(allow, `${req.method} is not allowed on ${path}; use ${allow.join(', ')}`);
    }
    await handler(req, res, decodeParams(match.groups));
    return;
  }
  throw new NotFoundError(`no route for ${req.method} ${path}`);
}

/**
 * Runs `fn` holding a lease on the named model (which the batcher may take over), loading the
 * model on its first use; 404 for a name that is not published or another version.
 */
async function withLease<T>(
  deps: PredictorDeps,
  params: Params,
  fn: (lease: Lease<ServedModel>) => Promise<T>,
): Promise<T> {
  const name = params.name ?? '';
  const lease = await deps.repository.acquire(name);
  try {
    const model = lease.model;
    if (params.version !== undefined && params.version !== model.version) {
      throw new NotFoundError(
        `version "${params.version}" of model "${name}" not found; serving version "${model.version}"`,
      );
    }
    return await fn(lease);
  } finally {
    lease.release();
  }
}

function pageRoutes(deps: PredictorDeps, page: Promise<Page>): Route[] {
  // Knative treats a non-empty reply that is not a CloudEvent as a failed delivery, so the
  // answer is 204 with the outcome in headers.
  const handleEvent: RouteHandler = async (req, res) => {
    checkSize(req, deps.config.maxBodyBytes);
    const outcome = await deps.events.handle(req);
    res.status(204).set('X-Kaskade-Outcome', outcome.status);
    if (outcome.versions !== undefined) res.set('X-Kaskade-Model-Version', outcome.versions.join(', '));
    res.end();
  };
  return [
    {
      pattern: /^\/$/,
      methods: {
        GET: async (_req, res) => {
          const { html, csp } = await page;
          res
            .status(200)
            .set({
              'Content-Type': 'text/html; charset=utf-8',
              'Content-Security-Policy': csp,
              'Cache-Control': 'no-store',
            })
            .send(html);
        },
        POST: async (req, res, params) => {
          if (!looksLikeCloudEvent(req.headers))
            throw new BadInputError(
              'POST / takes a CloudEvent (ce-* headers); inference is POST /v2/models/{name}/infer',
            );
          await handleEvent(req, res, params);
        },
      },
    },
    { pattern: /^\/events\/?$/, methods: { POST: handleEvent } },
  ];
}

function healthRoutes(deps: PredictorDeps): Route[] {
  return [
    { pattern: /^\/v2\/health\/live$/, methods: { GET: (_req, res) => void res.status(200).json({ live: true }) } },
    // The pod's readiness probe: ready once the first load attempt has finished, so a pod woken
    // from zero gets the requests that woke it only when it can answer them with the model.
    {
      pattern: /^\/v2\/health\/ready$/,
      methods: { GET: (_req, res) => void res.status(deps.started() ? 200 : 503).json({ ready: deps.started() }) },
    },
    {
      pattern: /^\/v2\/?$/,
      methods: { GET: (_req, res) => void res.status(200).json(serverMetadataV2(SERVER_VERSION)) },
    },
  ];
}

/** The Open Inference Protocol's model repository extension: index, load, unload. */
function repositoryRoutes(deps: PredictorDeps): Route[] {
  const { repository, config } = deps;
  return [
    {
      pattern: /^\/v2\/repository\/index$/,
      methods: {
        POST: async (req, res) => {
          const body = bodyJson(req, config.maxBodyBytes, { optional: true });
          if (!isRecord(body) || (body.ready !== undefined && typeof body.ready !== 'boolean'))
            throw new BadInputError('the body must be {} or {"ready": true|false}');
          const index = await repository.index();
          res.status(200).json(body.ready === true ? index.filter((m) => m.state === 'READY') : index);
        },
      },
    },
    {
      pattern: /^\/v2\/repository\/models\/(?<name>[^/]+)\/load$/,
      methods: {
        POST: async (_req, res, params) => {
          await repository.load(params.name ?? '');
          res.status(200).json({});
        },
      },
    },
    {
      pattern: /^\/v2\/repository\/models\/(?<name>[^/]+)\/unload$/,
      methods: {
        POST: async (_req, res, params) => {
          const name = params.name ?? '';
          if (!repository.unload(name) && !(await repository.index()).some((m) => m.name === name))
            throw new NotFoundError(`model "${name}" not found`);
          res.status(200).json({});
        },
      },
    },
  ];
}

function modelRoutes(deps: PredictorDeps): Route[] {
  const { repository, config, batcher } = deps;
  return [
    {
      pattern: new RegExp(`^${MODEL}/?$`),
      methods: {
        GET: async (_req, res, params) =>
          void res
            .status(200)
            .json(await withLease(deps, params, (l) => Promise.resolve(modelMetadataV2(params.name ?? '', l.model)))),
      },
    },
    {
      pattern: new RegExp(`^${MODEL}/ready$`),
      methods: {
        GET: async (_req, res, params) => {
          const name = params.name ?? '';
          const current = repository.current(name);
          if (!current && !(await repository.index()).some((m) => m.name === name))
            throw new NotFoundError(`model "${name}" not found`);
          const ready = current !== undefined && (params.version === undefined || params.version === current.version);
          res.status(ready ? 200 : 503).json({ name, ready });
        },
      },
    },
    {
      pattern: new RegExp(`^${MODEL}/infer$`),
      methods: {
        POST: async (req, res, params) => {
          const body = bodyJson(req, config.maxBodyBytes);
          const answer = await withLease(deps, params, (lease) =>
            inferV2(lease.model, params.name ?? '', body, config.maxBatch, (batch) => batcher.submit(lease, batch)),
          );
          res.status(200).json(answer);
        },
      },
    },
  ];
}

function v1Routes(deps: PredictorDeps): Route[] {
  const { repository, config, batcher } = deps;
  return [
    {
      pattern: /^\/v1\/models\/(?<name>[^/:]+)$/,
      methods: {
        GET: async (_req, res, params) => {
          const name = params.name ?? '';
          const ready = repository.current(name) !== undefined;
          if (!ready && !(await repository.index()).some((m) => m.name === name))
            throw new NotFoundError(`model "${name}" not found`);
          res.status(ready ? 200 : 503).json(modelStatusV1(name, ready));
        },
      },
    },
    {
      pattern: /^\/v1\/models\/(?<name>[^/:]+):predict$/,
      methods: {
        POST: async (req, res, params) => {
          const body = bodyJson(req, config.maxBodyBytes);
          const answer = await withLease(deps, params, (lease) =>
            lease.model.raw
              ? predictRawV1(lease.model, body, config.maxBatch)
              : predictV1(lease.model, body, config.maxBatch, (batch) => batcher.submit(lease, batch)),
          );
          res.status(200).json(answer);
        },
      },
    },
  ];
}
