// The edge-image service: an image in (bytes, or base64 as text), its top-5 classes out. Over
// HTTP: POST /classify; over a WebSocket: one image per message (binary = bytes, text = base64),
// one JSON answer each. Bytes that are not an image are a 400 or a 1007 close with the reason.
import type { IncomingMessage } from 'node:http';
import type { Request, Response } from '@google-cloud/functions-framework';
import type { RawData, WebSocket } from 'ws';
import { BadInputError, NotFoundError, PayloadTooLargeError } from '../_shared/errors.js';
import type { LeaseRenewer } from '../_shared/edge/lease-renewer.js';
import type { ModelHolder } from '../_shared/edge/model-holder.js';
import { checkClientId, closeFor, websocketUpgrade, type UpgradeHandler } from '../_shared/edge/websocket.js';
import { withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { decodeImage, imageBytesFromText } from './decode.js';
import { classify, type Classification, type ImageModel } from './image-model.js';

export interface ImageServiceDeps {
  model: ModelHolder<ImageModel>;
  renewer?: LeaseRenewer;
  maxImageBytes: number;
  logger?: Logger;
}

export interface ImageService {
  handler: Handler;
  upgrade: UpgradeHandler;
}

export function createImageService(deps: ImageServiceDeps): ImageService {
  const handler = withErrors((req, res) => serveHttp(req, res, deps), deps.logger);
  const upgrade = websocketUpgrade({
    maxPayload: deps.maxImageBytes,
    refuse: () =>
      deps.model.ready ? undefined : { status: 503, reason: 'the model is still loading; try again shortly' },
    onConnection: (ws, req) => serveConnection(ws, req, deps),
  });
  return { handler, upgrade };
}

/** Decodes and classifies one image's bytes. */
async function classifyBytes(bytes: Uint8Array, deps: ImageServiceDeps): Promise<Classification> {
  const model = deps.model.get();
  return classify(model, await decodeImage(bytes, model.metadata.inputSize));
}

async function serveHttp(req: Request, res: Response, deps: ImageServiceDeps): Promise<void> {
  const path = req.path.replace(/\/+$/, '') || '/';
  if (req.method === 'GET' && path === '/healthz') {
    // The readiness probe: 503 until the model is loaded (answered, not thrown: nothing to log).
    res
      .status(deps.model.ready ? 200 : 503)
      .json(deps.model.ready ? { status: 'ok' } : { error: 'the model is still loading', code: 'unavailable' });
    return;
  }
  if (req.method === 'GET' && path === '/') {
    const meta = deps.model.ready ? deps.model.get().metadata : undefined;
    res.status(200).json({
      service: 'edge-image',
      ready: deps.model.ready,
      engine: deps.model.ready ? deps.model.get().engine : undefined,
      labels: meta?.labels,
      inputSize: meta?.inputSize,
      websocket: 'connect to / and send one image per message',
    });
    return;
  }
  if (path !== '/classify')
    throw new NotFoundError(`no route ${req.method} ${req.path}; POST /classify, or open a WebSocket`);
  if (req.method !== 'POST') {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({ error: `${req.method} is not allowed; POST an image`, code: 'method_not_allowed' });
    return;
  }
  const clientId = checkClientId(req.originalUrl);
  const body = rawBody(req, deps.maxImageBytes);
  const type = (req.header('content-type') ?? '').toLowerCase();
  const textual =
    type.startsWith('text/') ||
    type.startsWith('application/json') ||
    type.startsWith('application/x-www-form-urlencoded');
  const bytes = textual ? imageBytesFromText(body.toString('utf8')) : body;
  const answer = await classifyBytes(bytes, deps);
  void deps.renewer?.touch(clientId);
  res.status(200).json(answer);
}

function serveConnection(ws: WebSocket, req: IncomingMessage, deps: ImageServiceDeps): void {
  let clientId: string | undefined;
  try {
    clientId = checkClientId(req.url);
  } catch (e) {
    closeFor(ws, e);
    return;
  }
  // Answers go out in the order images came in, even when decoding takes longer for some.
  let chain = Promise.resolve();
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    chain = chain.then(async () => {
      if (ws.readyState !== ws.OPEN) return;
      try {
        const bytes = isBinary ? buf : imageBytesFromText(buf.toString('utf8'));
        const answer = await classifyBytes(bytes, deps);
        void deps.renewer?.touch(clientId);
        ws.send(JSON.stringify(answer));
      } catch (e) {
        if (!(e instanceof BadInputError))
          deps.logger?.error(`image from ${clientId ?? 'a client'}: ${(e as Error).message}`);
        closeFor(ws, e);
      }
    });
  });
  ws.on('error', (e) => deps.logger?.warn(`connection of ${clientId ?? 'a client'}: ${e.message}`));
}

function rawBody(req: Request, maxBytes: number): Buffer {
  const raw: unknown = req.rawBody;
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  if (buf.length > maxBytes)
    throw new PayloadTooLargeError(`an image body is at most ${maxBytes} bytes, got ${buf.length}`);
  return buf;
}
