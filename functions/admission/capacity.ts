// Edge capacity as plain arithmetic over node labels: how many sessions of one ML type the edge
// cluster can hold, and how many are still free once the sessions of that type are counted.
import type { ClusterNode } from '../_shared/cluster/types.js';
import { ConfigError } from '../_shared/errors.js';

/** The ML workloads an edge client can ask for. */
export const EDGE_TYPES = ['scalar', 'image'] as const;
export type EdgeType = (typeof EDGE_TYPES)[number];

export function isEdgeType(value: unknown): value is EdgeType {
  return typeof value === 'string' && (EDGE_TYPES as readonly string[]).includes(value);
}

/** Sessions each machine class holds, by the value of the node label (`machine=xavier` → 2). */
export type NodeWeights = Readonly<Record<string, number>>;

/** Seed 003's edge: a Xavier holds two sessions, a TX2 one, a Nano none (it is excluded). */
export const DEFAULT_NODE_WEIGHTS: NodeWeights = { xavier: 2, tx2: 1, nano: 0 };

/**
 * Parses `xavier=2,tx2=1,nano=0`. Each weight is a non-negative integer; a machine class not
 * listed counts 0, so an unknown board never takes work by accident.
 */
export function parseNodeWeights(raw: string, variable = 'EDGE_NODE_WEIGHTS'): NodeWeights {
  const weights: Record<string, number> = {};
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const match = /^([A-Za-z0-9._-]+)=(\d+)$/.exec(part);
    if (!match) throw new ConfigError(`${variable} must be a list like xavier=2,tx2=1,nano=0, got "${raw}"`);
    weights[match[1]!] = Number(match[2]);
  }
  if (Object.keys(weights).length === 0) throw new ConfigError(`${variable} names no machine class`);
  return weights;
}

/** Sessions of one type the nodes can hold: the sum of each node's weight by its label value. */
export function nodeCapacity(nodes: readonly ClusterNode[], weights: NodeWeights, label = 'machine'): number {
  let total = 0;
  for (const node of nodes) {
    const machine = node.labels[label];
    if (machine !== undefined && Object.hasOwn(weights, machine)) total += weights[machine]!;
  }
  return total;
}

/** Sessions of the asked type that can still be admitted (never below zero). */
export function freeSlots(capacity: number, sessionsOfType: number): number {
  return Math.max(0, capacity - sessionsOfType);
}
