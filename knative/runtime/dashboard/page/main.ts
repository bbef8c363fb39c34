// Browser side: the dashboard page. Follows the runtime's server-sent snapshots
// (`api/stream`, one a second; the browser reconnects by itself) and redraws each section:
// topology, services and pods, training jobs, layer pipelines, split halves, edge admission,
// dead letters and event counts.
import type { DashboardSnapshot, EdgeSample, LayerJobView, SplitSample, TrainingJobView } from '../model.js';
import {
  accuracySpec,
  Chart,
  concurrencySpec,
  edgeSpec,
  pipelineSpec,
  podsSpec,
  shardTimelineSpec,
  splitSpec,
  type Row,
} from './chart.js';
import type { TopLevelSpec } from 'vega-lite';
import { clock, element, make, seconds } from './dom.js';
import { TopologyGraph } from './graph.js';

const graph = new TopologyGraph(element('topology', HTMLDivElement));
const podsChart = new Chart(element('pods-chart', HTMLDivElement), podsSpec());
const concurrencyChart = new Chart(element('concurrency-chart', HTMLDivElement), concurrencySpec());
/** Charts of sections that come and go (a job, a pipeline, an admission service), by key. */
const charts = new Map<string, Chart>();

function chartIn(parent: HTMLElement, key: string, className: string, spec: () => TopLevelSpec): Chart {
  let chart = charts.get(key);
  if (!chart || !chart.container.isConnected) {
    chart?.finalize();
    const box = make('div', `chart ${className}`);
    parent.append(box);
    chart = new Chart(box, spec());
    charts.set(key, chart);
  }
  return chart;
}

/** The child of `parent` with that data-key, made by `create` when missing. */
function keyed(parent: HTMLElement, key: string, create: () => HTMLElement): HTMLElement {
  for (const child of Array.from(parent.children))
    if (child instanceof HTMLElement && child.dataset.key === key) return child;
  const made = create();
  made.dataset.key = key;
  parent.querySelector(':scope > .empty')?.remove();
  parent.append(made);
  return made;
}

function render(s: DashboardSnapshot): void {
  element('status', HTMLElement).textContent =
    `Live · runtime up ${seconds(s.now - s.startedAt)} · ${s.services.length} services · updated ${clock(s.now)}`;
  graph.show(s.topology);
  renderServices(s);
  podsChart.set(s.pods.map((p) => ({ t: p.t, service: p.service, ready: p.ready, desired: p.desired })));
  concurrencyChart.set(s.pods.map((p) => ({ t: p.t, service: p.service, concurrency: p.concurrency })));
  const jobs = element('jobs', HTMLDivElement);
  for (const job of [...s.jobs].reverse()) renderJob(jobs, job);
  const layers = element('layer-jobs', HTMLDivElement);
  for (const job of [...s.layerJobs].reverse()) renderLayerJob(layers, job);
  renderSplit(s.split);
  renderEdge(s.edge);
  renderDeadLetters(s);
  renderEvents(s);
}

function renderServices(s: DashboardSnapshot): void {
  const body = element('services', HTMLTableElement).tBodies[0];
  if (!body) return;
  body.replaceChildren(
    ...s.services.map((svc) => {
      const row = make('tr');
      row.dataset.service = svc.name;
      const name = make('td');
      const link = make('a', '', svc.name);
      link.href = `${svc.url}/`;
      link.title = `${svc.namespace}/${svc.name} (${svc.functionTarget})`;
      name.append(link);
      row.append(
        name,
        make('td', 'ready', String(svc.ready)),
        make('td', 'desired', String(svc.desired)),
        make('td', 'concurrency', svc.concurrency.toFixed(0)),
        make('td', 'mode', svc.mode),
      );
      if (svc.starting > 0) row.cells[1]?.append(make('span', 'starting', ` +${svc.starting} starting`));
      return row;
    }),
  );
}

function renderJob(parent: HTMLElement, job: TrainingJobView): void {
  const box = keyed(parent, job.jobId, () => {
    const article = make('article', 'job');
    article.dataset.job = job.jobId;
    article.append(make('h3', '', job.jobId), make('p', 'summary'), make('p', 'reason'));
    return article;
  });
  box.dataset.status = job.status;
  const last = job.results.at(-1);
  const what = [job.model, job.dataset].filter((x) => x !== null).join(' on ');
  const summary = box.querySelector('.summary');
  if (summary)
    summary.textContent =
      `${job.status} · ${what || 'job'} · ${job.shards} shards · round ${job.currentRound}/${job.rounds || '?'}` +
      ` (${job.shardsDone}/${job.shards} shards trained)` +
      (last ? ` · accuracy ${last.accuracy.toFixed(4)}, loss ${last.loss.toFixed(4)}` : '');
  const reason = box.querySelector('.reason');
  if (reason) reason.textContent = job.reason ?? '';
  chartIn(box, `acc:${job.jobId}`, 'acc', accuracySpec).set(
    job.results.map((r) => ({ round: r.round, accuracy: r.accuracy, loss: r.loss })),
  );
  const rows: Row[] = job.shardRuns.map((r) => {
    const start = r.startMs ?? r.readyAt;
    const end = r.endMs ?? r.trainedAt ?? Date.now();
    return {
      lane: `round ${r.round} · shard ${r.shard}`,
      pod: r.pod ?? 'waiting',
      start: (start - job.startedAt) / 1000,
      end: (end - job.startedAt) / 1000,
      seconds: (end - start) / 1000,
    };
  });
  chartIn(box, `shards:${job.jobId}`, 'shards', shardTimelineSpec).set(rows);
}

function renderLayerJob(parent: HTMLElement, job: LayerJobView): void {
  const box = keyed(parent, job.jobId, () => {
    const article = make('article', 'layer-job');
    article.append(make('h3', '', job.jobId), make('p', 'summary'));
    return article;
  });
  const first = Math.min(...job.runs.map((r) => r.startMs));
  const summary = box.querySelector('.summary');
  if (summary)
    summary.textContent = `${job.stages} stages · last ${job.runs.length} micro-batch requests (forward and backward)`;
  chartIn(box, `layers:${job.jobId}`, 'pipeline', pipelineSpec).set(
    job.runs.map((r) => ({
      stage: `stage ${r.stage}`,
      kind: r.kind,
      step: r.step,
      microbatch: r.microbatch,
      start: (r.startMs - first) / 1000,
      end: (r.endMs - first) / 1000,
    })),
  );
}

function renderSplit(samples: SplitSample[]): void {
  if (samples.length === 0) return;
  const parent = element('split', HTMLDivElement);
  const box = keyed(parent, 'split', () => {
    const div = make('div');
    div.append(make('p', 'summary'));
    return div;
  });
  const byService = new Map<string, SplitSample[]>();
  for (const s of samples) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  const summary = box.querySelector('.summary');
  if (summary)
    summary.textContent = [...byService]
      .map(([name, list]) => {
        const mean = list.reduce((a, s) => a + s.latencyMs, 0) / list.length;
        const kib = list.reduce((a, s) => a + s.bytes, 0) / list.length / 1024;
        return `${name}: ${mean.toFixed(0)} ms mean latency, ${kib.toFixed(0)} KiB in per request`;
      })
      .join(' · ');
  chartIn(box, 'split', 'split', splitSpec).set(
    samples.map((s) => ({ t: s.t, service: s.service, latencyMs: s.latencyMs, kib: s.bytes / 1024 })),
  );
}

function renderEdge(samples: EdgeSample[]): void {
  const parent = element('edge', HTMLDivElement);
  const services = [...new Set(samples.map((s) => s.service))];
  for (const service of services) {
    const list = samples.filter((s) => s.service === service);
    const latest = list.at(-1);
    if (!latest) continue;
    const box = keyed(parent, service, () => {
      const article = make('article', 'edge-admission');
      article.append(make('h3', '', service), make('p', 'summary'));
      return article;
    });
    const summary = box.querySelector('.summary');
    const sessions = Object.entries(latest.sessions)
      .map(([type, n]) => `${type} ${n}`)
      .join(', ');
    if (summary)
      summary.textContent =
        latest.capacity === null
          ? `centre (no capacity rule): ${latest.admissions} offloaded clients taken · sessions ${sessions}`
          : `sessions ${sessions} of capacity ${latest.capacity} · ${latest.admissions} admission requests`;
    chartIn(box, `edge:${service}`, 'edge', edgeSpec).set(
      list.flatMap((s) =>
        Object.entries(s.sessions).map(([type, n]) => ({ t: s.t, type, sessions: n, capacity: s.capacity })),
      ),
    );
  }
}

function renderDeadLetters(s: DashboardSnapshot): void {
  const list = element('dead-letters', HTMLUListElement);
  if (s.deadLetters.length === 0) return;
  list.replaceChildren(
    ...s.deadLetters.map((d) => {
      const item = make('li');
      item.dataset.id = d.id;
      item.append(
        make('time', '', clock(d.at)),
        make('span', `outcome ${d.outcome}`, d.outcome),
        make('code', '', d.type.replace('dev.kaskade.', '')),
        make('span', '', ` ${d.id}${d.jobId ? ` (job ${d.jobId})` : ''} via ${d.trigger}: `),
        make('span', 'reason', d.reason),
      );
      return item;
    }),
  );
}

function renderEvents(s: DashboardSnapshot): void {
  const body = element('events', HTMLTableElement).tBodies[0];
  body?.replaceChildren(
    ...s.events.map((e) => {
      const row = make('tr');
      row.append(make('td', '', e.type), make('td', '', String(e.count)));
      return row;
    }),
  );
}

const source = new EventSource('api/stream');
source.addEventListener('snapshot', (e) => {
  try {
    render(JSON.parse((e as MessageEvent<string>).data) as DashboardSnapshot);
  } catch (err) {
    element('status', HTMLElement).textContent = `Could not draw the snapshot: ${String(err)}`;
  }
});
source.addEventListener('error', () => {
  element('status', HTMLElement).textContent = 'Disconnected from the runtime; retrying…';
});
