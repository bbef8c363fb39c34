// Browser side: the topology drawn by cytoscape (layout, shapes, edge routing and labels are
// the library's): brokers as diamonds, services as rounded boxes, sources as triangles, and an
// edge per trigger (labelled with its filter), dead-letter route and PingSource; a dashed
// unlabelled edge is a service's K_SINK (the broker it emits into).
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import type { Topology } from '../model.js';

const COLORS: Record<string, string> = {
  trigger: '#1f77b4',
  sink: '#999999',
  'dead-letter': '#d62728',
  source: '#9467bd',
};

export class TopologyGraph {
  private cy: Core | undefined;
  private drawn = '';

  constructor(private readonly container: HTMLElement) {}

  /** Redraws only when the topology changed (a new service, say). */
  show(topology: Topology): void {
    const key = JSON.stringify(topology);
    if (key === this.drawn) return;
    this.drawn = key;
    this.cy?.destroy();
    this.cy = cytoscape({
      container: this.container,
      elements: elements(topology),
      // Brokers in the middle, what they deliver to around them: a hub fits a phone's width
      // as well as a desktop's.
      layout: {
        name: 'concentric',
        concentric: (node) => (node.data('kind') === 'broker' ? 3 : node.data('kind') === 'source' ? 1 : 2),
        levelWidth: () => 1,
        minNodeSpacing: 12,
        padding: 8,
        avoidOverlap: true,
      },
      userZoomingEnabled: false,
      boxSelectionEnabled: false,
      style: [
        {
          selector: 'node',
          style: {
            label: 'data(label)',
            'font-size': 11,
            'text-valign': 'center',
            'text-halign': 'center',
            'text-wrap': 'wrap',
            'text-max-width': '90px',
            width: 96,
            height: 30,
            shape: 'round-rectangle',
            'background-color': '#e8f0fb',
            'border-color': '#1f77b4',
            'border-width': 1,
          },
        },
        {
          selector: 'node[kind = "broker"]',
          style: { shape: 'diamond', width: 110, height: 44, 'background-color': '#fff3d6', 'border-color': '#b8860b' },
        },
        {
          selector: 'node[kind = "source"]',
          style: { shape: 'round-triangle', 'background-color': '#efe6f7', 'border-color': '#9467bd' },
        },
        { selector: 'node[kind = "uri"]', style: { shape: 'ellipse', 'background-color': '#f4f4f4' } },
        {
          selector: 'edge',
          style: {
            width: 1.5,
            'curve-style': 'bezier',
            'target-arrow-shape': 'triangle',
            'line-color': 'data(color)',
            'target-arrow-color': 'data(color)',
            label: 'data(label)',
            'font-size': 9,
            color: '#333',
            'text-rotation': 'autorotate',
            'text-background-color': '#ffffff',
            'text-background-opacity': 0.8,
            'text-background-padding': '1px',
          },
        },
        { selector: 'edge[kind = "sink"]', style: { 'line-style': 'dashed', label: '' } },
      ],
    });
    this.cy.fit(undefined, 8);
  }
}

function elements(t: Topology): ElementDefinition[] {
  return [
    ...t.nodes.map((n) => ({ group: 'nodes' as const, data: { id: n.id, label: n.label, kind: n.kind } })),
    ...t.edges.map((e, i) => ({
      group: 'edges' as const,
      data: {
        id: `e${i}`,
        source: e.from,
        target: e.to,
        label: shortLabel(e.label),
        kind: e.kind,
        color: COLORS[e.kind] ?? '#999999',
      },
    })),
  ];
}

/** Drops the common `dev.kaskade.` prefix so a trigger's filter fits on its edge. */
function shortLabel(label: string): string {
  return label.replaceAll('dev.kaskade.', '').replace(/^[^:]*: /, '');
}
