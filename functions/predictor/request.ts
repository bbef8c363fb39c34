// Reading a request's parts with a 4xx that names the problem: path parameters, the body size
// and the body as JSON.
import type { Request } from '@google-cloud/functions-framework';
import { BadInputError, PayloadTooLargeError } from '../_shared/errors.js';

/** Named groups of a route's match, percent-decoded. */
export function decodeParams(groups: Record<string, string | undefined> | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(groups ?? {})) {
    if (value === undefined) continue;
    try {
      params[key] = decodeURIComponent(value);
    } catch {
      throw new BadInputError(`malformed percent-encoding in the path: "${value}"`);
    }
  }
  return params;
}

export function checkSize(req: Request, limit: number): void {
  const size = req.rawBody?.length ?? Number(req.headers['content-length'] ?? 0);
  if (size > limit) throw new PayloadTooLargeError(`the request body is ${size} bytes; the limit is ${limit}`);
}

/**
 * The body as JSON, whatever content type the client sent, parsed here from the raw bytes (the
 * body limit in front of the framework reads them; see body-limit.ts) so a body that is not JSON
 * is a JSON 400 naming the problem. Without that limit in front (the framework's own CLI),
 * `application/json` arrives parsed by the framework. `optional`: an empty body is `{}`.
 */
export function bodyJson(req: Request, limit: number, options: { optional?: boolean } = {}): unknown {
  checkSize(req, limit);
  if (!req.rawBody || req.rawBody.length === 0) {
    if (options.optional) return {};
    throw new BadInputError('the request body is empty; send a JSON object');
  }
  if (req.is('application/x-www-form-urlencoded')) throw new BadInputError('the request body must be JSON, not a form');
  if (req.is('application/json') && req.body !== undefined) return req.body as unknown;
  try {
    return JSON.parse(req.rawBody.toString('utf8')) as unknown;
  } catch (cause) {
    throw new BadInputError(`the request body is not JSON: ${(cause as Error).message}`, { cause });
  }
}
