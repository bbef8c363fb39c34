// The predictor's HTTP surface: one handler routing the web page, the Open Inference Protocol
// v2, KServe v1 and the `model.aggregated` event to the modules beside it. Everything a
// request needs comes from the deps object or the request itself: no per-request module state.
import type { Request, Response } from '@google-cloud/functions-framework';
import { BadInputError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../_shared/errors.js';
import { withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import type { Batcher } from './batcher.js';
import type { PredictorConfig } from './config.js';
import { modelStatusV1, predictV1 } from './infer-v1.js';
import { inferV2, modelMetadataV2, serverMetadataV2 } from './infer-v2.js';
import { looksLikeCloudEvent, type ModelEventHandler } from './model-events.js';
import type { ServedModel } from './model-loader.js';
import type { Lease, ModelRegistry } from './model-registry.js';
import { renderPage, type PageAssets } from './page.js';

export const SERVER_VERSION = '0.1.0';

export interface PredictorDeps {
  config: PredictorConfig;
  registry: ModelRegistry<ServedModel>;
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
type RouteHandler = (req: Request, res: Response, params: Record<string, string>) => Promise<void> | void;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<Method, RouteHandler>>;
}

// `/v2/models/{name}[/versions/{version}]` prefix shared by the model routes.
const MODEL = String.raw`/v2/models/(?<name>[^/]+)(?:/versions/(?<version>[^/]+))?`;

export function createPredictorHandler(deps: PredictorDeps): Handler {
  const { config, registry, batcher } = deps;
  const page = deps.page.then((assets) => renderPage(assets, { modelName: config.modelName }));
  page.catch(() => undefined);

  const checkName = (params: Record<string, string>): void => {
    if (params.name !== config.modelName) throw new NotFoundError(`model "${params.name ?? ''}" not found; this server serves "${config.modelName}"`);
  };

  /**
   * Runs `fn` holding a lease on the served model (which the batcher may take over); 404 for
   * another name or version, 503 before the first load.
   */
  const withLease = async <T>(params: Record<string, string>, fn: (lease: Lease<ServedModel>) => Promise<T>): Promise<T> => {
    checkName(params);
    const lease = registry.acquire();
    try {
      const model = lease.model;
      if (params.version !== undefined && params.version !== model.version) {
        throw new NotFoundError(`version "${params.version}" of model "${config.modelName}" not found; serving version "${model.version}"`);
      }
      return await fn(lease);
    } finally {
      lease.release();
    }
  };
  const withModel = <T>(params: Record<string, string>, fn: (model: ServedModel) => Promise<T>): Promise<T> => withLease(params, (lease) => fn(lease.model));

  // Knative treats a non-empty reply that is not a CloudEvent as a failed delivery, so the
  // answer is 204 with the outcome in headers.
  const handleEvent: RouteHandler = async (req, res) => {
    checkSize(req, config.maxBodyBytes);
    const outcome = await deps.events.handle(req);
    res.status(204).set('X-Kaskade-Outcome', outcome.status);
    if (outcome.version !== undefined) res.set('X-Kaskade-Model-Version', outcome.version);
    res.end();
  };

  const routes: Route[] = [
    {
      pattern: /^\/$/,
      methods: {
        GET: async (_req, res) => {
          const { html, csp } = await page;
          res.status(200).set({ 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp, 'Cache-Control': 'no-store' }).send(html);
        },
        POST: async (req, res, params) => {
          if (!looksLikeCloudEvent(req.headers)) throw new BadInputError('POST / takes a CloudEvent (ce-* headers); inference is POST /v2/models/{name}/infer');
          await handleEvent(req, res, params);
        },
      },
    },
    { pattern: /^\/events\/?$/, methods: { POST: handleEvent } },
    { pattern: /^\/v2\/health\/live$/, methods: { GET: (_req, res) => void res.status(200).json({ live: true }) } },
    // The pod's readiness probe: ready once the first load attempt has finished, so a pod woken
    // from zero gets the requests that woke it only when it can answer them with the model.
    { pattern: /^\/v2\/health\/ready$/, methods: { GET: (_req, res) => void res.status(deps.started() ? 200 : 503).json({ ready: deps.started() }) } },
    { pattern: /^\/v2\/?$/, methods: { GET: (_req, res) => void res.status(200).json(serverMetadataV2(SERVER_VERSION)) } },
    {
      pattern: new RegExp(`^${MODEL}/?$`),
      methods: { GET: async (_req, res, params) => void res.status(200).json(await withModel(params, (m) => Promise.resolve(modelMetadataV2(config.modelName, m)))) },
    },
    {
      pattern: new RegExp(`^${MODEL}/ready$`),
      methods: {
        GET: (_req, res, params) => {
          checkName(params);
          const current = registry.current;
          const ready = current !== undefined && (params.version === undefined || params.version === current.version);
          res.status(ready ? 200 : 503).json({ name: config.modelName, ready });
        },
      },
    },
    {
      pattern: new RegExp(`^${MODEL}/infer$`),
      methods: {
        POST: async (req, res, params) => {
          const body = bodyJson(req, config.maxBodyBytes);
          const answer = await withLease(params, (lease) => inferV2(lease.model, config.modelName, body, config.maxBatch, (batch) => batcher.submit(lease, batch)));
          res.status(200).json(answer);
        },
      },
    },
    {
      pattern: /^\/v1\/models\/(?<name>[^/:]+)$/,
      methods: {
        GET: (_req, res, params) => {
          checkName(params);
          res.status(registry.ready ? 200 : 503).json(modelStatusV1(config.modelName, registry.ready));
        },
      },
    },
    {
      pattern: /^\/v1\/models\/(?<name>[^/:]+):predict$/,
      methods: {
        POST: async (req, res, params) => {
          const body = bodyJson(req, config.maxBodyBytes);
          const answer = await withLease(params, (lease) => predictV1(lease.model, body, config.maxBatch, (batch) => batcher.submit(lease, batch)));
          res.status(200).json(answer);
        },
      },
    },
  ];

  return withErrors(async (req, res) => {
    const path = req.path;
    for (const route of routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      const handler = route.methods[req.method as Method];
      if (!handler) {
        const allow = Object.keys(route.methods).join(', ');
        res.status(405).set('Allow', allow).json({ error: `${req.method} is not allowed on ${path}; use ${allow}`, code: 'method_not_allowed' });
        return;
      }
      try {
        await handler(req, res, decodeParams(match.groups));
      } catch (e) {
        // Before the first model loads, 503 is the expected answer, not a fault to log.
        if (!(e instanceof UnavailableError) || registry.ready) throw e;
        res.status(503).set('Retry-After', '1').json({ error: e.message, code: e.code });
      }
      return;
    }
    throw new NotFoundError(`no route for ${req.method} ${path}`);
  }, deps.logger);
}

function decodeParams(groups: Record<string, string | undefined> | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(groups ?? {})) {
    if (value === undefined) continue;
    try {
      params[key] = decodeURIComponent(value);
    } catch {
      throw new BadInputError(`malformed percent-encoding in the path: "${value}"`);
    }
  }
  return params;
}

function checkSize(req: Request, limit: number): void {
  const size = req.rawBody?.length ?? Number(req.headers['content-length'] ?? 0);
  if (size > limit) throw new PayloadTooLargeError(`the request body is ${size} bytes; the limit is ${limit}`);
}

/**
 * The body as JSON, whatever content type the client sent, parsed here from the raw bytes (the
 * body limit in front of the framework reads them; see body-limit.ts) so a body that is not JSON
 * is a JSON 400 naming the problem. Without that limit in front (the framework's own CLI),
 * `application/json` arrives parsed by the framework.
 */
function bodyJson(req: Request, limit: number): unknown {
  checkSize(req, limit);
  if (!req.rawBody || req.rawBody.length === 0) throw new BadInputError('the request body is empty; send a JSON object');
  if (req.is('application/x-www-form-urlencoded')) throw new BadInputError('the request body must be JSON, not a form');
  if (req.is('application/json') && req.body !== undefined) return req.body as unknown;
  try {
    return JSON.parse(req.rawBody.toString('utf8')) as unknown;
  } catch (cause) {
    throw new BadInputError(`the request body is not JSON: ${(cause as Error).message}`, { cause });
  }
}
