// The lab's chart: pods over time under each controller, above the trace's arrival rate and
// bandwidth level, drawn by Vega-Lite and rendered to SVG headlessly (no browser, no canvas).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SimResult } from './simulate.js';

export async function labChartSvg(results: readonly SimResult[]): Promise<string> {
  const pods = results.flatMap((r) =>
    r.timeline.map((p) => ({ seconds: p.tMs / 1000, pods: p.pods, controller: r.controller })),
  );
  const trace = (results[0]?.timeline ?? []).flatMap((p) => [
    { seconds: p.tMs / 1000, value: p.ratePerSec, series: 'arrivals (req/s)' },
    { seconds: p.tMs / 1000, value: p.bandwidth, series: 'bandwidth level (sender threads)' },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Split model under a changing trace: pods by controller',
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      {
        width: 720,
        height: 260,
        data: { values: pods },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'time (s)' },
          y: { field: 'pods', type: 'quantitative', title: 'pods (A + B)' },
          color: { field: 'controller', type: 'nominal', legend: { orient: 'bottom', columns: 2, labelLimit: 360 } },
        },
      },
      {
        width: 720,
        height: 120,
        data: { values: trace },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'time (s)' },
          y: { field: 'value', type: 'quantitative', title: 'trace' },
          color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', labelLimit: 360 } },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
