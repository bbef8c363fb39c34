// `?watch=true`: a stream of newline-delimited {"type","object"} events. Without a
// resourceVersion (or with "0") it opens with an ADDED for each matching object; with one it
// replays the changes after it, or answers an ERROR event with a 410 Expired Status when those
// are no longer kept. `timeoutSeconds` ends the stream; so does the client going away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import type { ServiceStore, StoreEvent } from './store.js';

export interface WatchOptions {
  resourceVersion: string | null;
  timeoutSeconds: number | null;
  matches: (s: KnativeService) => boolean;
  /** How an object goes on the wire (plain, or as a one-row Table for kubectl). */
  render: (s: KnativeService) => unknown;
}

export function watchServices(store: ServiceStore, req: IncomingMessage, res: ServerResponse, o: WatchOptions): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const send = (type: string, object: unknown): void => void res.write(`${JSON.stringify({ type, object })}\n`);
  const forward = (e: StoreEvent): void => {
    if (o.matches(e.object)) send(e.type, o.render(e.object));
  };

  const from =
    o.resourceVersion === null || o.resourceVersion === '' || o.resourceVersion === '0'
      ? null
      : Number(o.resourceVersion);
  const replay = from === null ? [] : Number.isInteger(from) ? store.since(from) : null;
  if (replay === null) {
    send('ERROR', {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `too old resource version: ${o.resourceVersion ?? ''} (${store.resourceVersion})`,
      reason: 'Expired',
      code: 410,
    });
    res.end();
    return;
  }
  // Replay and subscribe in one synchronous step: no change can fall between the two.
  if (from === null) for (const s of store.list()) if (o.matches(s)) send('ADDED', o.render(s));
  for (const e of replay) forward(e);
  const unsubscribe = store.subscribe(forward);
  const end = (): void => {
    unsubscribe();
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer =
    o.timeoutSeconds !== null && o.timeoutSeconds > 0 ? setTimeout(end, o.timeoutSeconds * 1000) : undefined;
  timer?.unref();
  req.on('close', end);
  res.on('close', end);
}
