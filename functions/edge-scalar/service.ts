// The edge-scalar service: over a WebSocket (or HTTP as a fallback) a client sends windows of 40
// rows × 15 CAN-bus signals. On a WebSocket the first window is answered `Model ready` (the
// seed's handshake); every later one with `{driver, confidence, executionMs}`. A bad window
// closes the socket with 1007 and the reason; over HTTP it is a 400.
import type { IncomingMessage } from 'node:http';
import type { Request, Response } from '@google-cloud/functions-framework';
import type { RawData, WebSocket } from 'ws';
import { BadInputError, NotFoundError, PayloadTooLargeError } from '../_shared/errors.js';
import { checkClientId, closeFor, websocketUpgrade, type UpgradeHandler } from '../_shared/edge/websocket.js';
import type { LeaseRenewer } from '../_shared/edge/lease-renewer.js';
import type { ModelHolder } from '../_shared/edge/model-holder.js';
import { withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { DRIVERS, FEATURES, WINDOW_ROWS } from './driving-data.js';
import type { DriverClassifier } from './driver-model.js';
import { parseWindow } from './window.js';

export const MODEL_READY = 'Model ready';

export interface ScalarServiceDeps {
  model: ModelHolder<DriverClassifier>;
  renewer?: LeaseRenewer;
  maxWindowBytes: number;
  logger?: Logger;
}

export interface ScalarService {
  handler: Handler;
  upgrade: UpgradeHandler;
}

export function createScalarService(deps: ScalarServiceDeps): ScalarService {
  const handler = withErrors((req, res) => serveHttp(req, res, deps), deps.logger);

  const upgrade = websocketUpgrade({
    maxPayload: deps.maxWindowBytes,
    refuse: () =>
      deps.model.ready ? undefined : { status: 503, reason: 'the model is still loading; try again shortly' },
    onConnection: (ws, req) => serveConnection(ws, req, deps),
  });
  return { handler, upgrade };
}

/** The HTTP fallback: /ready and /predict take one window each; /healthz is 503 until the model is ready. */
async function serveHttp(req: Request, res: Response, deps: ScalarServiceDeps): Promise<void> {
  const path = req.path.replace(/\/+$/, '') || '/';
  if (req.method === 'GET' && path === '/healthz') {
    // The readiness probe: 503 until the model is loaded (answered, not thrown: nothing to log).
    res
      .status(deps.model.ready ? 200 : 503)
      .json(deps.model.ready ? { status: 'ok' } : { error: 'the model is still loading', code: 'unavailable' });
    return;
  }
  if (req.method === 'GET' && path === '/') {
    res.status(200).json({
      service: 'edge-scalar',
      ready: deps.model.ready,
      windowRows: WINDOW_ROWS,
      features: FEATURES,
      drivers: DRIVERS,
      websocket: 'connect to / and send one window per message',
    });
    return;
  }
  if (path !== '/ready' && path !== '/predict')
    throw new NotFoundError(`no route ${req.method} ${req.path}; POST /ready or /predict, or open a WebSocket`);
  if (req.method !== 'POST') {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({ error: `${req.method} is not allowed; POST a window`, code: 'method_not_allowed' });
    return;
  }
  const clientId = checkClientId(req.originalUrl);
  const window = parseWindow(bodyText(req, deps.maxWindowBytes));
  const classifier = deps.model.get();
  void deps.renewer?.touch(clientId);
  if (path === '/ready') res.status(200).json({ status: MODEL_READY });
  else res.status(200).json(await classifier.classify(window));
}

/** One client's stream: its own state (the handshake flag) lives here, per connection. */
function serveConnection(ws: WebSocket, req: IncomingMessage, deps: ScalarServiceDeps): void {
  let clientId: string | undefined;
  try {
    clientId = checkClientId(req.url);
  } catch (e) {
    closeFor(ws, e);
    return;
  }
  let handshaken = false;
  // Answers go out in the order windows came in.
  let chain = Promise.resolve();
  ws.on('message', (data: RawData, isBinary: boolean) => {
    chain = chain.then(async () => {
      if (ws.readyState !== ws.OPEN) return;
      try {
        const window = parseWindow(messageText(data, isBinary));
        const classifier = deps.model.get();
        void deps.renewer?.touch(clientId);
        if (!handshaken) {
          handshaken = true;
          ws.send(MODEL_READY);
          return;
        }
        ws.send(JSON.stringify(await classifier.classify(window)));
      } catch (e) {
        if (!(e instanceof BadInputError))
          deps.logger?.error(`window from ${clientId ?? 'a client'}: ${(e as Error).message}`);
        closeFor(ws, e);
      }
    });
  });
  ws.on('error', (e) => deps.logger?.warn(`connection of ${clientId ?? 'a client'}: ${e.message}`));
}

function messageText(data: RawData, isBinary: boolean): string {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  if (isBinary && buf.includes(0)) throw new BadInputError('a window is text (JSON or CSV), got binary data');
  return buf.toString('utf8');
}

function bodyText(req: Request, maxBytes: number): string {
  const raw: unknown = req.rawBody;
  const buf = Buffer.isBuffer(raw) ? raw : typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.alloc(0);
  if (buf.length > maxBytes)
    throw new PayloadTooLargeError(`a window body is at most ${maxBytes} bytes, got ${buf.length}`);
  return buf.toString('utf8');
}
