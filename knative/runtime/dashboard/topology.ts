// The topology graph the dashboard draws: one node per service, broker, PingSource and plain
// URI destination; one edge per trigger (labelled with its filter), per dead-letter sink, per
// PingSource and per service's K_SINK (the broker it emits into).
import type { Destination, RuntimeManifests } from '../manifests.js';
import type { Topology, TopologyEdge, TopologyNode } from './model.js';

export interface LiveService {
  namespace: string;
  name: string;
}

export function topologyOf(manifests: RuntimeManifests, live: readonly LiveService[]): Topology {
  const nodes = new Map<string, TopologyNode>();
  const edges: TopologyEdge[] = [];
  const add = (node: TopologyNode): string => {
    if (!nodes.has(node.id)) nodes.set(node.id, node);
    return node.id;
  };
  const destination = (d: Destination): string => {
    if (d.kind === 'uri') return add({ id: `uri:${d.uri}`, kind: 'uri', label: d.uri });
    if (d.kind === 'broker') return add({ id: brokerId(d.namespace, d.name), kind: 'broker', label: d.name });
    return add({ id: serviceId(d.namespace, d.name), kind: 'service', label: d.name });
  };

  for (const b of manifests.brokers)
    add({ id: brokerId(b.namespace, b.name), kind: 'broker', label: `broker ${b.name}` });
  for (const s of [...manifests.services, ...live]) {
    add({ id: serviceId(s.namespace, s.name), kind: 'service', label: s.name });
  }
  for (const s of manifests.services) {
    if (manifests.brokers.some((b) => b.namespace === s.broker.namespace && b.name === s.broker.name))
      edges.push({
        from: serviceId(s.namespace, s.name),
        to: brokerId(s.broker.namespace, s.broker.name),
        label: 'K_SINK',
        kind: 'sink',
      });
  }
  for (const t of manifests.triggers) {
    const from = brokerId(t.namespace, t.broker);
    edges.push({ from, to: destination(t.subscriber), label: `${t.name}: ${filterText(t)}`, kind: 'trigger' });
    const dls = t.delivery?.deadLetterSink;
    if (dls) edges.push({ from, to: destination(dls), label: `${t.name}: dead letters`, kind: 'dead-letter' });
  }
  for (const b of manifests.brokers) {
    const dls = b.delivery?.deadLetterSink;
    if (dls)
      edges.push({
        from: brokerId(b.namespace, b.name),
        to: destination(dls),
        label: 'dead letters',
        kind: 'dead-letter',
      });
  }
  for (const p of manifests.pingSources) {
    const id = add({ id: `source:${p.namespace}/${p.name}`, kind: 'source', label: `PingSource ${p.name}` });
    edges.push({ from: id, to: destination(p.sink), label: p.suspended ? 'suspended' : p.schedule, kind: 'source' });
  }
  return { nodes: [...nodes.values()], edges };
}

/** `type=dev.kaskade.shard.ready` style, or the SQL of `filters`, or `all events`. */
export function filterText(t: RuntimeManifests['triggers'][number]): string {
  const parts = Object.entries(t.filter?.attributes ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const f of t.filters ?? []) parts.push(JSON.stringify(f));
  return parts.length > 0 ? parts.join(', ') : 'all events';
}

function serviceId(ns: string, name: string): string {
  return `service:${ns}/${name}`;
}

function brokerId(ns: string, name: string): string {
  return `broker:${ns}/${name}`;
}
