// The OpenAPI v3 documents `kubectl apply` reads before writing: the services' schema (kept
// open, as Knative's CRD is; the runtime's own validation answers 422) and the write endpoints
// with their `fieldValidation` parameter, so kubectl leaves validation to the server.
import { createHash } from 'node:crypto';
import { SERVING_GROUP } from './discovery.js';

const GVK = [{ group: SERVING_GROUP, version: 'v1', kind: 'Service' }];
const SCHEMA_REF = { $ref: '#/components/schemas/dev.knative.serving.v1.Service' };
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

function operation(action: string, body: boolean): unknown {
  return {
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': GVK[0],
    parameters: body
      ? [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
          { name: 'dryRun', in: 'query', schema: { type: 'string' } },
        ]
      : [],
    ...(body ? { requestBody: { content: { 'application/json': { schema: SCHEMA_REF } } } } : {}),
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: SCHEMA_REF } } } },
  };
}

const SERVING_DOC = {
  openapi: '3.0.0',
  info: { title: 'Kaskade local runtime', version: 'v1.32.0-kaskade' },
  paths: {
    [`/apis/${SERVING_GROUP}/v1/namespaces/{namespace}/services`]: {
      get: operation('list', false),
      post: operation('post', true),
    },
    [`/apis/${SERVING_GROUP}/v1/namespaces/{namespace}/services/{name}`]: {
      get: operation('get', false),
      put: operation('put', true),
      patch: operation('patch', true),
      delete: operation('delete', false),
    },
  },
  components: {
    schemas: {
      'dev.knative.serving.v1.Service': {
        type: 'object',
        'x-kubernetes-group-version-kind': GVK,
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: open,
          spec: open,
          status: open,
        },
      },
    },
  },
};

const SERVING_PATH = `apis/${SERVING_GROUP}/v1`;
const HASH = createHash('sha256').update(JSON.stringify(SERVING_DOC)).digest('hex').slice(0, 32).toUpperCase();

/** The document at `path` (`/openapi/v3` or a group version under it), or undefined. */
export function openApiDocument(path: string): unknown {
  if (path === '/openapi/v3' || path === '/openapi/v3/')
    return { paths: { [SERVING_PATH]: { serverRelativeURL: `/openapi/v3/${SERVING_PATH}?hash=${HASH}` } } };
  if (path === `/openapi/v3/${SERVING_PATH}`) return SERVING_DOC;
  return undefined;
}
