// The verbs on serving.knative.dev/v1 Services: list and watch (namespaced or across
// namespaces), get, create, replace, patch and delete. Every write is admitted by the runtime
// (the same validation as a manifest) before it reaches the store.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadInputError, InvalidFieldError, NotFoundError } from '../../../functions/_shared/errors.js';
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import { readBody } from './body.js';
import { SERVING_GROUP, SERVING_VERSION } from './discovery.js';
import { APPLY_PATCH, applyPatch } from './patch.js';
import { fieldMatcher, labelMatcher } from './selectors.js';
import { sendJson } from './status.js';
import type { ServiceStore } from './store.js';
import { serviceTable, wantsTable } from './tables.js';
import { watchServices } from './watch.js';

/** Checks a Service the way the runtime would run it; throws InvalidFieldError naming the field. */
export type Admit = (service: KnativeService, namespace: string) => void;

export interface ServiceRequest {
  verb: string;
  namespace: string | undefined;
  name: string | undefined;
  query: URLSearchParams;
  req: IncomingMessage;
  res: ServerResponse;
}

export async function handleServices(store: ServiceStore, admit: Admit, r: ServiceRequest): Promise<void> {
  const { namespace, name, query, req, res } = r;
  const table = wantsTable(req.headers.accept);
  switch (r.verb) {
    case 'list': {
      const labels = labelMatcher(query.get('labelSelector'));
      const fields = fieldMatcher(query.get('fieldSelector'));
      const items = store.list(namespace).filter((s) => labels(s.metadata.labels ?? {}) && fields(s));
      if (table) return sendJson(res, 200, serviceTable(items, store.resourceVersion));
      return sendJson(res, 200, {
        apiVersion: SERVING_VERSION,
        kind: 'ServiceList',
        metadata: { resourceVersion: store.resourceVersion },
        items,
      });
    }
    case 'watch': {
      const labels = labelMatcher(query.get('labelSelector'));
      const fields = fieldMatcher(query.get('fieldSelector'));
      const timeout = query.get('timeoutSeconds');
      return watchServices(store, req, res, {
        resourceVersion: query.get('resourceVersion'),
        timeoutSeconds: timeout === null ? null : Number(timeout),
        matches: (s) =>
          (namespace === undefined || s.metadata.namespace === namespace) &&
          labels(s.metadata.labels ?? {}) &&
          fields(s),
        render: (s) => (table ? serviceTable([s], s.metadata.resourceVersion ?? '') : s),
      });
    }
    case 'get':
      return sendJson(res, 200, found(store, namespace ?? '', name ?? ''));
    case 'create': {
      const ns = namespace ?? '';
      const service = checkObject(await readBody(req), ns);
      if (service.metadata.name === '' && typeof service.metadata.generateName === 'string')
        service.metadata.name = `${service.metadata.generateName}${Math.random().toString(36).slice(2, 7)}`;
      admit(service, ns);
      return sendJson(res, 201, await store.create(ns, fresh(service), 'api'));
    }
    case 'update': {
      const ns = namespace ?? '';
      const service = checkObject(await readBody(req), ns);
      if (service.metadata.name !== name)
        throw new BadInputError(
          `the name of the object (${service.metadata.name}) does not match the name on the URL (${name ?? ''})`,
        );
      found(store, ns, name);
      // As for every custom resource: a replace states which version it replaces.
      if (!service.metadata.resourceVersion)
        throw new InvalidFieldError(
          'metadata.resourceVersion',
          'metadata.resourceVersion: Invalid value: must be specified for an update',
        );
      admit(service, ns);
      return sendJson(res, 200, await store.update(ns, service, 'api'));
    }
    case 'patch': {
      const ns = namespace ?? '';
      const type = req.headers['content-type'] ?? '';
      const patch = await readBody(req);
      const current = store.get(ns, name ?? '');
      if (!current && type.startsWith(APPLY_PATCH)) {
        // Server-side apply of something new creates it.
        const service = checkObject(patch, ns);
        admit(service, ns);
        return sendJson(res, 201, await store.create(ns, fresh(service), 'api'));
      }
      const base = found(store, ns, name ?? '');
      const service = checkObject(applyPatch(base, patch, type), ns);
      if (service.metadata.name !== name)
        throw new InvalidFieldError('metadata.name', 'metadata.name: a patch may not change the name');
      admit(service, ns);
      return sendJson(res, 200, await store.update(ns, service, 'api'));
    }
    case 'delete': {
      const gone = await store.delete(namespace ?? '', name ?? '');
      return sendJson(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: gone.metadata.name, group: SERVING_GROUP, kind: 'services', uid: gone.metadata.uid },
      });
    }
    default:
      throw new BadInputError(`verb ${r.verb} is not supported on services`);
  }
}

function found(store: ServiceStore, namespace: string, name: string): KnativeService {
  const s = store.get(namespace, name);
  if (!s) throw new NotFoundError(`services.${SERVING_GROUP} "${name}" not found`);
  return s;
}

/** The body must be a serving.knative.dev/v1 Service with a name, in the URL's namespace. */
function checkObject(body: unknown, namespace: string): KnativeService & { metadata: { generateName?: string } } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadInputError('the body must be a JSON object (a serving.knative.dev/v1 Service)');
  const o = body as Record<string, unknown>;
  if (o.apiVersion !== SERVING_VERSION)
    throw new InvalidFieldError(
      'apiVersion',
      `apiVersion: must be ${SERVING_VERSION}, got ${JSON.stringify(o.apiVersion ?? null)}`,
    );
  if (o.kind !== 'Service')
    throw new InvalidFieldError('kind', `kind: must be Service, got ${JSON.stringify(o.kind ?? null)}`);
  const meta = o.metadata;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw new InvalidFieldError('metadata', 'metadata: Required value');
  const m = meta as Record<string, unknown>;
  if (m.name === undefined && typeof m.generateName === 'string') m.name = '';
  if (typeof m.name !== 'string')
    throw new InvalidFieldError('metadata.name', 'metadata.name: Required value: name or generateName is required');
  if (m.namespace !== undefined && m.namespace !== namespace)
    throw new BadInputError(
      `the namespace of the provided object (${JSON.stringify(m.namespace)}) does not match the namespace sent on the request (${namespace})`,
    );
  if (typeof o.spec !== 'object' || o.spec === null) throw new InvalidFieldError('spec', 'spec: Required value');
  return { ...(o as unknown as KnativeService), metadata: { ...(m as KnativeService['metadata']), namespace } };
}

/** A new object keeps only what a client may set. */
function fresh(s: KnativeService): KnativeService {
  const { name, labels, annotations } = s.metadata;
  return {
    apiVersion: s.apiVersion,
    kind: s.kind,
    metadata: { name, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec: s.spec,
  };
}
