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

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

/**
 * Every named group version and its resources. Brokers, Triggers and PingSources are run from
 * the manifests (as a cluster with Knative Eventing installed would) but not served by this
 * API: they are listed with no verbs, so a client sees the types exist and asks nothing of them.
 */
const GROUP_VERSIONS: Record<string, ApiResource[]> = {
  [SERVING_VERSION]: [
    {
      name: 'services',
      singularName: 'service',
      namespaced: true,
      kind: 'Service',
      verbs: SERVICE_VERBS,
      shortNames: ['kservice', 'ksvc'],
      categories: ['all', 'knative', 'serving'],
    },
  ],
  'eventing.knative.dev/v1': [
    {
      name: 'brokers',
      singularName: 'broker',
      namespaced: true,
      kind: 'Broker',
      verbs: [],
      categories: ['all', 'knative', 'eventing'],
    },
    {
      name: 'triggers',
      singularName: 'trigger',
      namespaced: true,
      kind: 'Trigger',
      verbs: [],
      categories: ['all', 'knative', 'eventing'],
    },
  ],
  'sources.knative.dev/v1': [
    {
      name: 'pingsources',
      singularName: 'pingsource',
      namespaced: true,
      kind: 'PingSource',
      verbs: [],
      categories: ['all', 'knative', 'sources'],
    },
  ],
};

const CORE_RESOURCES: ApiResource[] = [
  { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: ['get', 'list'], shortNames: ['no'] },
  {
    name: 'configmaps',
    singularName: 'configmap',
    namespaced: true,
    kind: 'ConfigMap',
    verbs: ['get'],
    shortNames: ['cm'],
  },
];

/**
 * GET paths answered with a fixed document (the server address goes into /api). `hidden` names
 * resources (`brokers.eventing.knative.dev`, `configmaps`) left out of discovery, as on a cluster
 * where that CRD is not installed; a group left with no resources disappears too.
 */
export function discoveryDocument(
  path: string,
  serverAddress: string,
  hidden: ReadonlySet<string> = new Set(),
): unknown {
  const visible = (groupVersion: string, list: readonly ApiResource[]): ApiResource[] => {
    const group = groupVersion.includes('/') ? groupVersion.slice(0, groupVersion.indexOf('/')) : '';
    return list.filter((r) => !hidden.has(group === '' ? r.name : `${r.name}.${group}`));
  };
  const groupVersions = Object.entries(GROUP_VERSIONS).filter(([gv, list]) => visible(gv, list).length > 0);
  if (path === '/version') return VERSION_INFO;
  if (path === '/api')
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  if (path === '/apis')
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupVersions.map(([gv]) => groupOf(gv)) };
  if (path === '/api/v1')
    return { kind: 'APIResourceList', groupVersion: 'v1', resources: visible('v1', CORE_RESOURCES) };
  for (const [gv, list] of groupVersions) {
    if (path === `/apis/${gv}`)
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: visible(gv, list) };
    const group = groupOf(gv);
    if (path === `/apis/${group.name}`) return { kind: 'APIGroup', apiVersion: 'v1', ...group };
  }
  return undefined;
}

function groupOf(groupVersion: string): { name: string; versions: unknown[]; preferredVersion: unknown } {
  const [name = '', version = ''] = groupVersion.split('/');
  const v = { groupVersion, version };
  return { name, versions: [v], preferredVersion: v };
}
