// The HTTPS server of the local Kubernetes API: bearer-token authentication, RBAC on every
// resource request, discovery, Nodes and Knative Services, errors as Status objects.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, ForbiddenError, NotFoundError } from '../../../functions/_shared/errors.js';
import type { Logger } from '../../../functions/_shared/log.js';
import { discoveryDocument, SERVING_GROUP } from './discovery.js';
import type { KubeNode } from './nodes.js';
import { openApiDocument } from './openapi.js';
import type { Authorizer, Identity } from './rbac.js';
import { handleServices, type Admit } from './services-api.js';
import { labelMatcher } from './selectors.js';
import { sendJson, sendStatus, statusOf } from './status.js';
import type { ServiceStore } from './store.js';
import { nodeTable, wantsTable } from './tables.js';
import type { TokenBook } from './tokens.js';
import type { ApiTls } from './tls.js';

export interface ApiServerOptions {
  host: string;
  port: number;
  tls: ApiTls;
  store: ServiceStore;
  nodes: readonly KubeNode[];
  tokens: TokenBook;
  authorizer: Authorizer;
  admit: Admit;
  logger: Logger;
  /** ConfigMaps of the manifests, served read-only (what `kubectl get cm` and preflight checks read). */
  configMaps: readonly ConfigMapDoc[];
  /** Resources left out of discovery (`brokers.eventing.knative.dev`, `configmaps`), as if not installed. */
  hidden: ReadonlySet<string>;
}

export interface ConfigMapDoc {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; [k: string]: unknown };
  data?: Record<string, string>;
}

export interface ApiServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** A resource request, as RBAC sees it. */
interface Target {
  apiGroup: string;
  resource: 'services' | 'nodes' | 'configmaps';
  namespace?: string;
  name?: string;
}

const SERVICES = new RegExp(
  `^/apis/${SERVING_GROUP.replace(/\./g, '\\.')}/v1(?:/namespaces/([^/]+))?/services(?:/([^/]+))?/?$`,
);
const NODES = /^\/api\/v1\/nodes(?:\/([^/]+))?\/?$/;
const CONFIGMAP = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)\/?$/;

export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const server: Server = createServer({ key: o.tls.key, cert: o.tls.cert }, (req, res) => {
    handle(o, req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = statusOf(e);
      if (status.code >= 500) o.logger.error(`kube-api ${req.method ?? ''} ${req.url ?? ''}: ${status.message}`);
      sendStatus(res, status);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ConfigError(
              `port ${o.port} of the Kubernetes API is in use: pick another with --api-port or KASKADE_API_PORT (0 picks a free one)`,
              { cause: e },
            )
          : e,
      ),
    );
    server.listen(o.port, o.host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        // Watches stay open until their clients leave: end them with the server.
        server.closeAllConnections();
      }),
  };
}

async function handle(o: ApiServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://kube-api');
  const path = url.pathname;
  const who = authenticate(o.tokens, req);
  if (!who) {
    sendJson(res, 401, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    return;
  }
  const method = req.method ?? 'GET';
  if (method === 'GET') {
    const doc = discoveryDocument(
      path,
      req.socket.localAddress ? `${req.socket.localAddress}:${req.socket.localPort ?? 0}` : '127.0.0.1',
      o.hidden,
    );
    if (doc !== undefined) return sendJson(res, 200, doc);
    const spec = openApiDocument(path);
    if (spec !== undefined) return sendJson(res, 200, spec);
  }
  const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';

  const svc = SERVICES.exec(path);
  if (svc) {
    const namespace = svc[1] === undefined ? undefined : decodeURIComponent(svc[1]);
    const name = svc[2] === undefined ? undefined : decodeURIComponent(svc[2]);
    const verb = verbOf(method, name !== undefined, watch);
    if (namespace === undefined && (name !== undefined || (verb !== 'list' && verb !== 'watch')))
      throw new NotFoundError(`${method} ${path}: services are namespaced`);
    const target: Target = {
      apiGroup: SERVING_GROUP,
      resource: 'services',
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
    };
    authorize(o.authorizer, who, verb, target);
    return handleServices(o.store, o.admit, { verb, namespace, name, query: url.searchParams, req, res });
  }

  const nodes = NODES.exec(path);
  if (nodes && method === 'GET') {
    const name = nodes[1] === undefined ? undefined : decodeURIComponent(nodes[1]);
    const verb = verbOf(method, name !== undefined, watch);
    authorize(o.authorizer, who, verb, { apiGroup: '', resource: 'nodes', ...(name !== undefined ? { name } : {}) });
    return serveNodes(o.nodes, verb, name, url.searchParams, req, res);
  }
  const cm = CONFIGMAP.exec(path);
  if (cm?.[1] !== undefined && cm[2] !== undefined && method === 'GET' && !watch && !o.hidden.has('configmaps')) {
    const namespace = decodeURIComponent(cm[1]);
    const name = decodeURIComponent(cm[2]);
    authorize(o.authorizer, who, 'get', { apiGroup: '', resource: 'configmaps', namespace, name });
    const found = o.configMaps.find((c) => c.metadata.namespace === namespace && c.metadata.name === name);
    if (!found) throw new NotFoundError(`configmaps "${name}" not found`);
    return sendJson(res, 200, found);
  }
  throw new NotFoundError(`the server could not find the requested resource (${method} ${path})`);
}

function authenticate(tokens: TokenBook, req: IncomingMessage): Identity | undefined {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1] === undefined ? undefined : tokens.identify(m[1]);
}

function verbOf(method: string, named: boolean, watch: boolean): string {
  if (method === 'GET') return watch ? 'watch' : named ? 'get' : 'list';
  if (method === 'POST') return 'create';
  if (method === 'PUT') return 'update';
  if (method === 'PATCH') return 'patch';
  if (method === 'DELETE') return 'delete';
  return method.toLowerCase();
}

function authorize(authorizer: Authorizer, who: Identity, verb: string, t: Target): void {
  if (authorizer.allows(who, { verb, ...t })) return;
  const resource = t.apiGroup === '' ? t.resource : `${t.resource}.${t.apiGroup}`;
  const subject = t.name !== undefined ? `${resource} "${t.name}"` : resource;
  const scope = t.namespace !== undefined ? ` in the namespace "${t.namespace}"` : ' at the cluster scope';
  throw new ForbiddenError(
    `${subject} is forbidden: User "${who.user}" cannot ${verb} resource "${t.resource}" in API group "${t.apiGroup}"${scope}`,
  );
}

function serveNodes(
  nodes: readonly KubeNode[],
  verb: string,
  name: string | undefined,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const table = wantsTable(req.headers.accept);
  if (verb === 'get') {
    const node = nodes.find((n) => n.metadata.name === name);
    if (!node) throw new NotFoundError(`nodes "${name ?? ''}" not found`);
    return sendJson(res, 200, table ? nodeTable([node], '1') : node);
  }
  const labels = labelMatcher(query.get('labelSelector'));
  const items = nodes.filter((n) => labels(n.metadata.labels));
  if (verb === 'list')
    return sendJson(
      res,
      200,
      table ? nodeTable(items, '1') : { apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: '1' }, items },
    );
  // Nodes never change while the runtime runs: a watch is their ADDED events, then silence.
  res.writeHead(200, { 'content-type': 'application/json' });
  for (const n of items) res.write(`${JSON.stringify({ type: 'ADDED', object: table ? nodeTable([n], '1') : n })}\n`);
  const end = (): void => void (res.writableEnded || res.end());
  req.on('close', end);
  const timeout = Number(query.get('timeoutSeconds') ?? 0);
  if (timeout > 0) setTimeout(end, timeout * 1000).unref();
}
