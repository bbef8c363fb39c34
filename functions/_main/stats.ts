// The pod's own figures for soak tests, off unless KASKADE_DEBUG_STATS=1: `GET /.kaskade/stats`
// answers the process's RSS and heap, TF.js's live tensor count (when the function uses TF.js)
// and the event loop's delay (perf_hooks' histogram since the last `?reset=1`), in front of the
// function so it costs the function nothing. Never on in the manifests.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const STATS_PATH = '/.kaskade/stats';

export interface PodStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** tf.memory().numTensors; null when TF.js was never loaded in this process. */
  numTensors: number | null;
  /** Event-loop delay since the last reset, in milliseconds. */
  eventLoopDelayMs: { p50: number; p99: number; max: number; samples: number };
}

type Listener = (...args: unknown[]) => void;

/** Serves STATS_PATH before the server's current `request` listeners. */
export function serveStats(server: Server): void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  server.once('close', () => delay.disable());
  const listeners = server.listeners('request') as Listener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const [path, query] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' || path !== STATS_PATH) {
      for (const listener of listeners) Reflect.apply(listener, server, [req, res]);
      return;
    }
    {
      const tensors = numTensors();
      const memory = process.memoryUsage();
      const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
      const stats: PodStats = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        numTensors: tensors,
        eventLoopDelayMs: {
          p50: ms(delay.percentile(50)),
          p99: ms(delay.percentile(99)),
          max: ms(delay.max),
          samples: delay.count,
        },
      };
      if (new URLSearchParams(query ?? '').get('reset') === '1') delay.reset();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    }
  });
}

/** The live tensor count of TF.js if this process has loaded it (one engine per process). */
function numTensors(): number | null {
  // TF.js keeps its one engine on the global object; reading it loads nothing.
  const engine = (globalThis as { _tfengine?: { memory(): { numTensors: number } } })._tfengine;
  return engine ? engine.memory().numTensors : null;
}
