// Nodes come from a file the user writes (name, labels, allocatable), read once at start and
// served as v1 Node objects; `edge-nodes.yaml` beside this file is the default, an example edge
// cluster (Xavier, TX2 and Nano boards).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../../functions/_shared/errors.js';

export const EXAMPLE_NODES = fileURLToPath(new URL('./edge-nodes.yaml', import.meta.url));

export interface KubeNode {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: {
    name: string;
    uid: string;
    labels: Record<string, string>;
    resourceVersion: string;
    creationTimestamp: string;
  };
  spec: Record<string, never>;
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    conditions: Array<{
      type: string;
      status: string;
      reason: string;
      message: string;
      lastHeartbeatTime: string;
      lastTransitionTime: string;
    }>;
    nodeInfo: Record<string, string>;
  };
}

const quantity = z.union([
  z.string().regex(/^[0-9.]+([KMGTPE]i?|m)?$/, 'must be a Kubernetes quantity like 4, 500m or 8Gi'),
  z.number().nonnegative().transform(String),
]);
const nodeFile = z.looseObject({
  nodes: z.array(
    z.looseObject({
      name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name'),
      labels: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
      allocatable: z.record(z.string(), quantity).default({}),
    }),
  ),
});

/** Reads and validates a node file; problems name the file and the field. */
export async function readNodes(path: string, startedAt: string): Promise<KubeNode[]> {
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw new ConfigError(`node file ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  });
  const r = nodeFile.safeParse(parse(text));
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ConfigError(
      `node file ${path}: ${first ? `${first.path.join('.')}: ${first.message}` : r.error.message}`,
    );
  }
  return r.data.nodes.map((n, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      uid: `node-${i}-${n.name}`,
      labels: { 'kubernetes.io/hostname': n.name, ...n.labels },
      resourceVersion: '1',
      creationTimestamp: startedAt,
    },
    spec: {},
    status: {
      capacity: n.allocatable,
      allocatable: n.allocatable,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'node from the local runtime node file',
          lastHeartbeatTime: startedAt,
          lastTransitionTime: startedAt,
        },
      ],
      nodeInfo: {
        architecture: n.labels['kubernetes.io/arch'] ?? 'amd64',
        operatingSystem: 'linux',
        kubeletVersion: 'v1.32.0-kaskade',
      },
    },
  }));
}
