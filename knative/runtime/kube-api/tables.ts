// `kubectl get` asks for a Table (Accept: ...;as=Table;g=meta.k8s.io): the columns Knative's
// CRD prints for services (URL, latest revisions, Ready, reason) and the kubelet's for nodes.
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import type { KubeNode } from './nodes.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description: string;
}

/** True when the client accepts a meta.k8s.io Table. */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

export function serviceTable(items: KnativeService[], resourceVersion: string): unknown {
  const columns: Column[] = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name of the service' },
    { name: 'URL', type: 'string', description: 'status.url' },
    { name: 'LatestCreated', type: 'string', description: 'status.latestCreatedRevisionName' },
    { name: 'LatestReady', type: 'string', description: 'status.latestReadyRevisionName' },
    { name: 'Ready', type: 'string', description: 'Ready condition status' },
    { name: 'Reason', type: 'string', description: 'Ready condition reason' },
  ];
  return table(
    columns,
    resourceVersion,
    items.map((s) => {
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
      return {
        cells: [
          s.metadata.name,
          s.status?.url ?? '',
          s.status?.latestCreatedRevisionName ?? '',
          s.status?.latestReadyRevisionName ?? '',
          ready?.status ?? 'Unknown',
          ready?.reason ?? '',
        ],
        object: partial(s.metadata),
      };
    }),
  );
}

export function nodeTable(items: KubeNode[], resourceVersion: string): unknown {
  const columns: Column[] = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name of the node' },
    { name: 'Status', type: 'string', description: 'Ready condition' },
    { name: 'Roles', type: 'string', description: 'node-role labels' },
    { name: 'Age', type: 'string', description: 'since the runtime started' },
    { name: 'Version', type: 'string', description: 'kubelet version' },
  ];
  return table(
    columns,
    resourceVersion,
    items.map((n) => ({
      cells: [
        n.metadata.name,
        n.status.conditions.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady',
        Object.keys(n.metadata.labels)
          .filter((k) => k.startsWith('node-role.'))
          .map((k) => k.split('/')[1] ?? '')
          .join(',') || '<none>',
        age(n.metadata.creationTimestamp),
        n.status.nodeInfo.kubeletVersion ?? '',
      ],
      object: partial(n.metadata),
    })),
  );
}

function table(
  columnDefinitions: Column[],
  resourceVersion: string,
  rows: Array<{ cells: unknown[]; object: unknown }>,
): unknown {
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions, rows };
}

function partial(metadata: object): unknown {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}

function age(since: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
