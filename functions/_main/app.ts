// The Express app a pod serves one HTTP function with. The Functions Framework publishes two
// ways to serve a registered function: its CLI (no drain on SIGTERM, no hook before its body
// parsers) and `getTestServer` (a testing helper). Neither fits a pod, so the app is built
// here from the same public parts and with the framework's request handling for HTTP
// functions: the same body parsers (keeping `req.rawBody`), trust proxy, no `X-Powered-By` or
// ETag, 404 for /favicon.ico and /robots.txt; a throw or rejection becomes one JSON error.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import bodyParser from 'body-parser';
import express, { type NextFunction, type Response } from 'express';
import { errorHeaders, errorResponse } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';

/**
 * The body limit when none is given: the predictor's. The framework's own parsers take up to
 * 1 GB; here every parser refuses a larger body with 413 before parsing it (a declared
 * Content-Length at once, a chunked body as soon as it passes the limit).
 */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

function keepRawBody(req: IncomingMessage, _res: ServerResponse, buf: Buffer): void {
  (req as Request).rawBody = buf;
}

export function httpFunctionApp(
  fn: HttpFunction,
  logger: Logger,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
): express.Express {
  const app = express();
  const saving = { limit: maxBodyBytes, verify: keepRawBody };
  app.use(bodyParser.json({ ...saving, type: 'application/cloudevents+json' }));
  app.use(bodyParser.json(saving));
  app.use(bodyParser.text(saving));
  app.use(bodyParser.urlencoded({ ...saving, extended: true }));
  // Matches every content type, so it comes last: a body no parser above took stays raw bytes.
  app.use(bodyParser.raw({ ...saving, type: '*/*' }));
  app.enable('trust proxy');
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(['/favicon.ico', '/robots.txt'], (_req, res) => void res.status(404).end());
  app.all('/{*path}', (req, res, next: NextFunction) => {
    Promise.resolve()
      .then((): unknown => fn(req as Request, res))
      .catch(next);
  });
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = errorResponse(e);
    if (status >= 500)
      logger.error(`${req.method} ${req.path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (res.headersSent) res.end();
    else {
      // A body left unread (a 413, a refusal before parsing) is not drained: the connection closes.
      if (!req.complete) res.set('Connection', 'close');
      res.status(status).set(errorHeaders(e)).json(body);
    }
  });
  return app;
}
