// Browser side: one vega-lite chart whose rows change. The spec is compiled to vega once; each
// update replaces the `table` dataset and lets vega redraw (no re-embedding, so no flicker).
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type Row = Record<string, string | number | null>;

export class Chart {
  private view: View | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly container: HTMLElement,
    private readonly spec: TopLevelSpec,
  ) {
    container.hidden = true;
  }

  /**
   * Replaces the chart's rows; `data-points` on the container says how many it shows. An empty
   * chart would be only axes: it stays hidden, and is drawn at its first row (drawn hidden, it
   * would measure its container as 0 px wide).
   */
  set(rows: Row[]): void {
    this.container.dataset.points = String(rows.length);
    if (rows.length === 0 && this.view === undefined) return;
    this.container.hidden = false;
    const view = (this.view ??= new View(parse(compile(this.spec).spec), {
      renderer: 'svg',
      container: this.container,
      hover: true,
    }));
    this.queue = this.queue
      .then(() => view.data('table', rows).runAsync())
      .catch((e: unknown) => console.error('chart update failed', e));
  }

  finalize(): void {
    this.view?.finalize();
  }
}

const WIDTH = { width: 'container', autosize: { type: 'fit-x', contains: 'padding' } } as const;
const TIME = { field: 't', type: 'temporal', title: null, axis: { format: '%H:%M:%S', labelOverlap: true } } as const;

/** Pods per service: ready (solid) and the autoscaler's desired count (dashed). */
export function podsSpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: 160,
    data: { name: 'table' },
    transform: [{ fold: ['ready', 'desired'], as: ['metric', 'value'] }],
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: TIME,
      y: { field: 'value', type: 'quantitative', title: 'pods', axis: { tickMinStep: 1, format: 'd' } },
      color: { field: 'service', type: 'nominal', legend: { orient: 'bottom', columns: 2 } },
      strokeDash: {
        field: 'metric',
        type: 'nominal',
        legend: null,
        scale: {
          domain: ['ready', 'desired'],
          range: [
            [1, 0],
            [4, 3],
          ],
        },
      },
    },
  };
}

export function concurrencySpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: 120,
    data: { name: 'table' },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: TIME,
      y: { field: 'concurrency', type: 'quantitative', title: 'in flight' },
      color: { field: 'service', type: 'nominal', legend: null },
    },
  };
}

/** Held-out accuracy (left axis) and loss (right axis) per round. */
export function accuracySpec(): TopLevelSpec {
  const x = { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1 } } as const;
  return {
    ...WIDTH,
    height: 160,
    data: { name: 'table' },
    layer: [
      {
        mark: { type: 'line', point: true, color: '#1f77b4' },
        encoding: { x, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { zero: false } } },
      },
      {
        mark: { type: 'line', point: true, color: '#d62728', strokeDash: [4, 3] },
        encoding: { x, y: { field: 'loss', type: 'quantitative', title: 'loss (dashed)', axis: { orient: 'right' } } },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
}

/** One bar per shard per round: when its trainer pod held the shard.ready request. */
export function shardTimelineSpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: { step: 10 },
    data: { name: 'table' },
    mark: { type: 'bar', cornerRadius: 2 },
    encoding: {
      y: { field: 'lane', type: 'nominal', title: null, sort: null },
      x: { field: 'start', type: 'quantitative', title: 's since the job began' },
      x2: { field: 'end' },
      color: { field: 'pod', type: 'nominal', legend: { orient: 'bottom', columns: 3, title: 'trainer pod' } },
      tooltip: [
        { field: 'lane', type: 'nominal' },
        { field: 'pod', type: 'nominal' },
        { field: 'seconds', type: 'quantitative', format: '.1f' },
      ],
    },
  };
}

/** A layer pipeline's micro-batches per stage: forward and backward requests over time. */
export function pipelineSpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: { step: 18 },
    data: { name: 'table' },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'stage', type: 'nominal', title: null, sort: null },
      x: { field: 'start', type: 'quantitative', title: 's' },
      x2: { field: 'end' },
      color: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: ['forward', 'backward'], range: ['#2ca02c', '#ff7f0e'] },
        legend: { orient: 'bottom' },
      },
      tooltip: [
        { field: 'stage', type: 'nominal' },
        { field: 'kind', type: 'nominal' },
        { field: 'step', type: 'quantitative' },
        { field: 'microbatch', type: 'quantitative' },
      ],
    },
  };
}

/** Split halves: each request's latency, and the bytes sent into it. */
export function splitSpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: 140,
    data: { name: 'table' },
    mark: { type: 'point', filled: true },
    encoding: {
      x: TIME,
      y: { field: 'latencyMs', type: 'quantitative', title: 'latency (ms)' },
      color: { field: 'service', type: 'nominal', legend: { orient: 'bottom' } },
      size: { field: 'kib', type: 'quantitative', title: 'request KiB', legend: { orient: 'bottom' } },
    },
  };
}

/** Sessions per type over time against the admission's capacity (the dashed rule). */
export function edgeSpec(): TopLevelSpec {
  return {
    ...WIDTH,
    height: 120,
    data: { name: 'table' },
    layer: [
      {
        mark: { type: 'line', interpolate: 'step-after', point: true },
        encoding: {
          x: TIME,
          y: {
            field: 'sessions',
            type: 'quantitative',
            title: 'sessions',
            scale: { domainMin: 0 },
            axis: { tickMinStep: 1, format: 'd' },
          },
          color: { field: 'type', type: 'nominal', legend: { orient: 'bottom' } },
        },
      },
      {
        mark: { type: 'rule', strokeDash: [4, 3], color: '#666' },
        encoding: { y: { aggregate: 'max', field: 'capacity', type: 'quantitative' } },
      },
    ],
  };
}
