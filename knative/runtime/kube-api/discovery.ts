// The discovery documents kubectl and client libraries read before anything else: the server
// version, the core and named API groups, and each group version's resource list.
export const SERVING_GROUP = 'serving.knative.dev';
export const SERVING_VERSION = `${SERVING_GROUP}/v1`;

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-kaskade',
  gitCommit: 'kaskade-local-runtime',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'none',
  compiler: 'node',
  platform: `${process.platform}/${process.arch}`,
};

const SERVICE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** GET paths answered with a fixed document (the server address goes into /api). */
export function discoveryDocument(path: string, serverAddress: string): unknown {
  switch (path) {
    case '/version':
      return VERSION_INFO;
    case '/api':
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [servingGroup()] };
    case `/apis/${SERVING_GROUP}`:
      return { kind: 'APIGroup', apiVersion: 'v1', ...servingGroup() };
    case '/api/v1':
      return {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: ['get', 'list'], shortNames: ['no'] }],
      };
    case `/apis/${SERVING_VERSION}`:
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: SERVING_VERSION,
        resources: [
          { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: SERVICE_VERBS, shortNames: ['kservice', 'ksvc'], categories: ['all', 'knative', 'serving'] },
        ],
      };
    default:
      return undefined;
  }
}

function servingGroup(): { name: string; versions: unknown[]; preferredVersion: unknown } {
  const version = { groupVersion: SERVING_VERSION, version: 'v1' };
  return { name: SERVING_GROUP, versions: [version], preferredVersion: version };
}
