// The dashboard's HTTP side, under the runtime's `/_kaskade/`: the page (`/_kaskade/`), its
// bundled script and stylesheet, a snapshot (`api/snapshot`), the same as server-sent events
// once a second (`api/stream`), and one training job's progress (`api/jobs/<id>`, what the CLI's
// progress bar reads). The page's TypeScript (page/main.ts) is bundled with esbuild on the first
// page view, once per runtime.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { bundleBrowserPage, type BrowserAssets } from '../../../functions/_shared/browser-bundle.js';
import { BadInputError, MethodNotAllowedError } from '../../../functions/_shared/errors.js';
import { errorHeaders, errorResponse } from '../../../functions/_shared/http.js';
import type { DashboardSnapshot } from './model.js';
import type { Recorder } from './recorder.js';

const PAGE_DIR = join(import.meta.dirname, 'page');
/** How often the stream sends a snapshot. */
export const STREAM_PERIOD_MS = 1_000;

export interface DashboardServer {
  /** Answers a `/_kaskade/...` path it knows and returns true; false for any other path. */
  handle(path: string, req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends every open stream (the runtime is closing). */
  close(): void;
}

type Assets = BrowserAssets;

export function createDashboardServer(recorder: Recorder, snapshot: () => DashboardSnapshot): DashboardServer {
  let assets: Promise<Assets> | undefined;
  const streams = new Set<ServerResponse>();
  const loadAssets = (): Promise<Assets> => {
    assets ??= bundleBrowserPage(PAGE_DIR, 'dashboard');
    // A failed bundle is retried on the next view instead of being kept.
    assets.catch(() => (assets = undefined));
    return assets;
  };
  const asset = (res: ServerResponse, type: string, pick: (a: Assets) => string): void => {
    loadAssets().then(
      (a) => send(res, 200, type, pick(a)),
      (e: unknown) => sendError(res, e),
    );
  };

  return {
    handle(path, req, res) {
      if (!isDashboardPath(path)) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        req.resume();
        sendError(
          res,
          new MethodNotAllowedError(['GET', 'HEAD'], `${req.method ?? ''} ${path}: the dashboard only reads`),
        );
        return true;
      }
      if (path === '/_kaskade/' || path === '/_kaskade/index.html') {
        asset(res, 'text/html; charset=utf-8', () => PAGE_HTML);
        return true;
      }
      if (path === '/_kaskade/dashboard.js') asset(res, 'text/javascript; charset=utf-8', (a) => a.script);
      else if (path === '/_kaskade/dashboard.css') asset(res, 'text/css; charset=utf-8', (a) => a.style);
      else if (path === '/_kaskade/api/snapshot') send(res, 200, 'application/json', JSON.stringify(snapshot()));
      else if (path === '/_kaskade/api/stream') stream(req, res, snapshot, streams);
      else if (path.startsWith('/_kaskade/api/jobs/')) {
        const id = jobIdOf(path);
        if (id === null) {
          sendError(res, new BadInputError(`${path}: not a job id (malformed percent-encoding)`));
          return true;
        }
        const job = recorder.trainingJob(id);
        if (job) send(res, 200, 'application/json', JSON.stringify(job));
        else send(res, 404, 'application/json', JSON.stringify({ error: `no training job ${id} seen by the broker` }));
      } else return false;
      return true;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}

const DASHBOARD_PATHS = new Set([
  '/_kaskade/',
  '/_kaskade/index.html',
  '/_kaskade/dashboard.js',
  '/_kaskade/dashboard.css',
  '/_kaskade/api/snapshot',
  '/_kaskade/api/stream',
]);

function isDashboardPath(path: string): boolean {
  return DASHBOARD_PATHS.has(path) || path.startsWith('/_kaskade/api/jobs/');
}

function jobIdOf(path: string): string | null {
  try {
    return decodeURIComponent(path.slice('/_kaskade/api/jobs/'.length));
  } catch {
    return null;
  }
}

function stream(
  req: IncomingMessage,
  res: ServerResponse,
  snapshot: () => DashboardSnapshot,
  streams: Set<ServerResponse>,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  const push = (): void => {
    res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
  };
  push();
  const timer = setInterval(push, STREAM_PERIOD_MS);
  streams.add(res);
  const stop = (): void => {
    clearInterval(timer);
    streams.delete(res);
  };
  req.once('close', stop);
  res.once('close', stop);
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...extra,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // vega compiles its expressions with Function(); everything else comes from this origin.
    'content-security-policy':
      "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  });
  res.end(body);
}

function sendError(res: ServerResponse, e: unknown): void {
  const { status, body } = errorResponse(e);
  send(res, status, 'application/json', JSON.stringify(body), errorHeaders(e));
}

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kaskade dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard.css">
</head>
<body>
<header>
  <h1>Kaskade</h1>
  <p id="status" aria-live="polite">Connecting…</p>
</header>
<main>
  <section id="topology-section"><h2>Topology</h2><div id="topology" role="img" aria-label="Services, brokers, triggers and sources"></div></section>
  <section><h2>Services</h2><div class="table-wrap"><table id="services"><thead><tr><th>service</th><th>ready</th><th>desired</th><th>in flight</th><th>mode</th></tr></thead><tbody></tbody></table></div>
    <h3>Pods (solid: ready, dashed: autoscaler's desired)</h3><div id="pods-chart" class="chart"></div>
    <h3>Request concurrency</h3><div id="concurrency-chart" class="chart"></div></section>
  <section><h2>Training jobs</h2><div id="jobs"><p class="empty">No training job seen by the broker yet.</p></div></section>
  <section><h2>Layer pipelines</h2><div id="layer-jobs"><p class="empty">No layer-pipeline job yet.</p></div></section>
  <section><h2>Split inference</h2><div id="split"><p class="empty">No request to a split half yet.</p></div></section>
  <section><h2>Edge admission</h2><div id="edge"><p class="empty">No admission request yet.</p></div></section>
  <section><h2>Dead letters</h2><ul id="dead-letters"><li class="empty">None.</li></ul></section>
  <section><h2>Events</h2><div class="table-wrap"><table id="events"><thead><tr><th>type</th><th>accepted</th></tr></thead><tbody></tbody></table></div></section>
</main>
<script src="dashboard.js"></script>
</body>
</html>
`;
