// Admission's HTTP surface (seed 003's receive server): `/app-service` admits or offloads,
// `/app-renew` extends a lease, `/app-disconnect` ends a session, `/status` shows the counts.
// Parameters come from the query string, or from a JSON or form body on POST.
import type { Request, Response } from '@google-cloud/functions-framework';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { answeredProbe, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { EDGE_TYPES, isEdgeType, type EdgeType } from './capacity.js';
import type { Admission } from './admission.js';

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export function createAdmissionHandler(admission: Admission, logger?: Logger): Handler {
  return withErrors(async (req, res) => {
    if (answeredProbe(req, res)) return;
    const route = ROUTES[req.path.replace(/\/+$/, '')];
    if (route === undefined)
      throw new NotFoundError(`no route ${req.path}; try /app-service, /app-renew, /app-disconnect or /status`);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res
        .status(405)
        .set('Allow', 'GET, POST')
        .json({ error: `${req.method} is not allowed`, code: 'method_not_allowed' });
      return;
    }
    await route(admission, params(req), res);
  }, logger);
}

type Route = (admission: Admission, p: Params, res: Response) => Promise<void>;

const ROUTES: Record<string, Route> = {
  '/app-service': async (admission, p, res) => {
    res.status(200).json(await admission.admit(requiredType(p), clientId(p)));
  },
  '/app-renew': (admission, p, res) => {
    const renewed = admission.renew(clientId(p), optionalType(p));
    res.status(200).json({ clientID: clientId(p), renewed: renewed.map((s) => s.type) });
    return Promise.resolve();
  },
  '/app-disconnect': async (admission, p, res) => {
    const released = await admission.disconnect(clientId(p), optionalType(p));
    res.status(200).json({ clientID: clientId(p), released: released.map((s) => s.type) });
  },
  '/status': async (admission, _p, res) => {
    res.status(200).json(await admission.status());
  },
};

type Params = Readonly<Record<string, unknown>>;

function params(req: Request): Params {
  const body: unknown = req.body;
  const fromBody =
    req.method === 'POST' && typeof body === 'object' && body !== null && !Buffer.isBuffer(body)
      ? (body as Record<string, unknown>)
      : {};
  return { ...fromBody, ...(req.query as Record<string, unknown>) };
}

function requiredType(p: Params): EdgeType {
  const type = p.type;
  if (type === undefined) throw new BadInputError(`type is required: one of ${EDGE_TYPES.join(', ')}`);
  if (!isEdgeType(type))
    throw new BadInputError(`unknown type ${JSON.stringify(type)}; expected one of ${EDGE_TYPES.join(', ')}`);
  return type;
}

function optionalType(p: Params): EdgeType | undefined {
  return p.type === undefined ? undefined : requiredType(p);
}

function clientId(p: Params): string {
  const id = p.clientID ?? p.clientId;
  if (typeof id !== 'string' || !CLIENT_ID.test(id)) {
    throw new BadInputError(
      `clientID is required: 1-128 characters of letters, digits and . _ : @ -, starting with a letter or digit; got ${JSON.stringify(id)}`,
    );
  }
  return id;
}
