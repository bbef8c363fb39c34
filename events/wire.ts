// The CloudEvents HTTP protocol binding at the byte level: binary mode (`ce-*` headers, body =
// data) and structured mode (`application/cloudevents+json`) in, binary mode out. The broker
// routes these without decoding the data, and receive.ts turns them into SDK CloudEvents.
// (The SDK's own HTTP.toEvent widens `data_base64` bytes into a Uint32Array and JSON-parses
// only exact content types, so bodies are decoded here, byte for byte.)
import { BadInputError } from '../functions/_shared/errors.js';

/** An event as it travels: attributes (extensions included) as strings, data as raw bytes. */
export interface WireEvent {
  readonly attributes: Readonly<Record<string, string>>;
  readonly data: Uint8Array | undefined;
}

export type HttpHeaders = Readonly<Record<string, string | readonly string[] | number | undefined>>;

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
const BATCH_CONTENT_TYPE = 'application/cloudevents-batch';
const ATTRIBUTE_NAME = /^[a-z0-9]{1,64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** True for JSON media types (`application/json`, `...+json`, `text/json`), parameters ignored. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return media === 'application/json' || media === 'text/json' || media.endsWith('+json');
}

function headerValue(value: string | readonly string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : value.join(',');
}

/** Reads an incoming HTTP message (headers with lowercase names, raw body) as an event. */
export function decodeHttp(headers: HttpHeaders, body: Uint8Array): WireEvent {
  const contentType = headerValue(headers['content-type'])?.trim();
  const media = contentType?.split(';')[0]?.trim().toLowerCase();
  if (media?.startsWith(BATCH_CONTENT_TYPE))
    throw new BadInputError('batched CloudEvents are not accepted; post one event per request');
  if (media?.startsWith('application/cloudevents') && media !== STRUCTURED_CONTENT_TYPE) {
    throw new BadInputError(`unsupported structured format ${media}; use ${STRUCTURED_CONTENT_TYPE} or binary mode`);
  }
  const event = media === STRUCTURED_CONTENT_TYPE ? decodeStructured(body) : decodeBinary(headers, contentType, body);
  checkAttributes(event.attributes);
  return event;
}

function decodeBinary(headers: HttpHeaders, contentType: string | undefined, body: Uint8Array): WireEvent {
  const attributes: Record<string, string> = {};
  for (const [header, raw] of Object.entries(headers)) {
    if (!header.startsWith('ce-')) continue;
    const value = headerValue(raw);
    if (value === undefined) continue;
    attributes[header.slice(3).toLowerCase()] = percentDecode(value);
  }
  if (attributes.specversion === undefined && attributes.id === undefined) {
    throw new BadInputError('not a CloudEvent: no ce-* headers and not application/cloudevents+json');
  }
  if (contentType !== undefined && contentType !== '') attributes.datacontenttype = contentType;
  return { attributes, data: body.byteLength > 0 ? body : undefined };
}

function decodeStructured(body: Uint8Array): WireEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (e) {
    throw new BadInputError(`structured CloudEvent is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadInputError('structured CloudEvent must be a JSON object');
  }
  const attributes: Record<string, string> = {};
  let data: Uint8Array | undefined;
  let jsonData: { value: unknown } | undefined;
  for (const [name, value] of Object.entries(parsed)) {
    if (name === 'data') {
      jsonData = { value };
    } else if (name === 'data_base64') {
      if (typeof value !== 'string' || !BASE64.test(value))
        throw new BadInputError('data_base64 must be a base64 string');
      data = Buffer.from(value, 'base64');
    } else if (value === null) {
      continue;
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      attributes[name] = String(value);
    } else {
      throw new BadInputError(`attribute "${name}" must be a string, number or boolean`);
    }
  }
  if (jsonData !== undefined && data !== undefined)
    throw new BadInputError('an event carries data or data_base64, not both');
  if (jsonData !== undefined && jsonData.value !== null) {
    const { value } = jsonData;
    if (attributes.datacontenttype === undefined) attributes.datacontenttype = 'application/json';
    const text =
      typeof value === 'string' && !isJsonContentType(attributes.datacontenttype) ? value : JSON.stringify(value);
    data = Buffer.from(text, 'utf8');
  }
  return { attributes, data };
}

/** The checks every CloudEvents 1.0 receiver makes; a failure is a 400 that is not retried. */
function checkAttributes(attributes: Readonly<Record<string, string>>): void {
  if (attributes.specversion !== '1.0') {
    throw new BadInputError(
      attributes.specversion === undefined
        ? 'missing required attribute specversion'
        : `unsupported specversion "${attributes.specversion}" (need 1.0)`,
    );
  }
  for (const required of ['id', 'source', 'type'] as const) {
    if (!attributes[required]) throw new BadInputError(`missing required attribute ${required}`);
  }
  for (const name of Object.keys(attributes)) {
    if (!ATTRIBUTE_NAME.test(name))
      throw new BadInputError(`invalid attribute name "${name}" (lowercase letters and digits only)`);
  }
  const time = attributes.time;
  if (time !== undefined && (!RFC3339.test(time) || Number.isNaN(Date.parse(time)))) {
    throw new BadInputError(`attribute time must be an RFC 3339 timestamp, got "${time}"`);
  }
}

/** Binary-mode HTTP headers for an event: `ce-<name>` per attribute, `content-type` for data. */
export function binaryHeaders(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'datacontenttype') headers['content-type'] = value;
    else headers[`ce-${name}`] = percentEncode(value);
  }
  return headers;
}

// Header values carry printable ASCII; anything else, space, `"` and `%` are percent-encoded
// as UTF-8 (CloudEvents HTTP binding, section 3.1.3.2).
const HEADER_SAFE = /^[\x21\x23\x24\x26-\x7e]*$/;

export function percentEncode(value: string): string {
  if (HEADER_SAFE.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out +=
      byte >= 0x21 && byte <= 0x7e && c !== '"' && c !== '%'
        ? c
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    // Not valid percent-encoding: the sender did not encode, so the value is taken as sent.
    return value;
  }
}
