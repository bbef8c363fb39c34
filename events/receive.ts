// Receiving events in a function: an HTTP request (headers + raw body, binary or structured
// mode) becomes an SDK CloudEvent, its data checked against the catalog. Anything malformed is
// a BadInputError, which the HTTP error handler answers with 400 and the broker never retries.
// `eventHandler` wires parsing, idempotency and an optional reply event into one handler.
import type { Request, Response } from '@google-cloud/functions-framework';
import { CloudEvent, ValidationError } from 'cloudevents';
import { BadInputError } from '../functions/_shared/errors.js';
import { withErrors, type Handler } from '../functions/_shared/http.js';
import type { Logger } from '../functions/_shared/log.js';
import { markEventOutcome } from '../functions/_shared/observability/workload-metrics.js';
import { validateEventData, type EventData, type EventType } from './catalog.js';
import { toHttpMessage } from './emit.js';
import type { Idempotency } from './idempotency.js';
import { decodeHttp, isJsonContentType, type HttpHeaders, type WireEvent } from './wire.js';

/** What a Functions Framework request offers: headers and the raw body it kept. */
export interface HttpMessage {
  readonly headers: HttpHeaders;
  readonly rawBody?: Uint8Array | undefined;
}

/** JSON media types become parsed values, `text/*` strings, anything else stays bytes. */
function decodeData(event: WireEvent): unknown {
  const { data } = event;
  if (data === undefined) return undefined;
  const contentType = event.attributes.datacontenttype;
  const text = () => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  if (isJsonContentType(contentType)) {
    try {
      return JSON.parse(text());
    } catch (e) {
      throw new BadInputError(
        `event data is not valid JSON (${contentType ?? 'no content type'}): ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  if (contentType?.toLowerCase().startsWith('text/')) return text();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Any CloudEvent (catalog or not), validated against the CloudEvents 1.0 spec by the SDK. */
export function parseEvent(message: HttpMessage): CloudEvent<unknown> {
  const wire = decodeHttp(message.headers, message.rawBody ?? new Uint8Array(0));
  try {
    return new CloudEvent<unknown>({ ...wire.attributes, data: decodeData(wire) });
  } catch (e) {
    if (e instanceof ValidationError) {
      const details = (e.errors ?? [])
        .map((d) => (typeof d === 'string' ? d : `${d.instancePath} ${d.message ?? ''}`))
        .join('; ');
      throw new BadInputError(`invalid CloudEvent: ${e.message}${details ? ` (${details})` : ''}`, { cause: e });
    }
    throw e;
  }
}

/** A received catalog event; with several accepted types, `type` narrows `data`. */
export type ReceivedEvent<T extends EventType> = {
  [K in T]: { readonly type: K; readonly data: EventData<K>; readonly event: CloudEvent<unknown> };
}[T];

/** Parses and validates an event whose type must be one of `types` (BadInputError otherwise). */
export function receiveEvent<T extends EventType>(message: HttpMessage, types: readonly T[]): ReceivedEvent<T>;
export function receiveEvent(
  message: HttpMessage,
  types: readonly EventType[],
): { type: EventType; data: unknown; event: CloudEvent<unknown> };
export function receiveEvent(
  message: HttpMessage,
  types: readonly EventType[],
): { type: EventType; data: unknown; event: CloudEvent<unknown> } {
  const event = parseEvent(message);
  const type = types.find((t) => t === event.type);
  if (type === undefined)
    throw new BadInputError(`unexpected event type "${event.type}"; this function accepts ${types.join(', ')}`);
  return { type, data: validateEventData(type, event.data), event };
}

export type Reply = CloudEvent<unknown> | undefined;

export interface EventHandlerOptions<T extends EventType> {
  readonly types: readonly T[];
  /** Does the work; may return a reply event, which the broker routes like any other event. */
  readonly handle: (received: ReceivedEvent<T>) => Promise<Reply>;
  /** Without it every delivery runs `handle`; give one unless the handler is naturally idempotent. */
  readonly idempotency?: Idempotency<Reply>;
  readonly logger?: Logger;
}

/**
 * A Functions Framework HTTP handler for events: 400 for a malformed event, 204 when handled
 * (or a duplicate), 200 with the reply event in binary mode when `handle` returns one.
 */
export function eventHandler<T extends EventType>(options: EventHandlerOptions<T>): Handler {
  const { handle, idempotency, logger } = options;
  return withErrors(async (req: Request, res: Response) => {
    const received = receiveEvent(req, options.types);
    const { event } = received;
    let reply: Reply;
    if (idempotency === undefined) {
      reply = await handle(received);
    } else {
      const once = await idempotency.once({ source: event.source, id: event.id }, () => handle(received));
      if (once.duplicate) {
        logger?.info(`duplicate ${event.type} ${event.source} ${event.id}: already handled`);
        markEventOutcome(res, 'duplicate');
      }
      reply = once.value;
    }
    if (reply === undefined) {
      res.status(204).end();
      return;
    }
    const { headers, body } = toHttpMessage(reply);
    res
      .status(200)
      .set(headers)
      .send(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }, logger);
}
