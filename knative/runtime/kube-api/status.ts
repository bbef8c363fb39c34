// Errors as the Kubernetes API answers them: a `Status` object with a reason and a code, made
// from Kaskade's typed errors (functions/_shared/errors.ts) so handlers just throw.
import type { ServerResponse } from 'node:http';
import {
  AlreadyExistsError,
  ConflictError,
  ForbiddenError,
  InvalidFieldError,
  KaskadeError,
  NotFoundError,
  PayloadTooLargeError,
} from '../../../functions/_shared/errors.js';

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  code: number;
  details?: {
    name?: string;
    kind?: string;
    group?: string;
    causes?: Array<{ reason: string; message: string; field: string }>;
  };
}

/** What a thrown error becomes on the wire. `target` names the object the request was about. */
export function statusOf(e: unknown, target: { kind?: string; group?: string; name?: string } = {}): KubeStatus {
  const details = {
    ...(target.name ? { name: target.name } : {}),
    ...(target.kind ? { kind: target.kind } : {}),
    ...(target.group ? { group: target.group } : {}),
  };
  const status = (code: number, reason: string, message: string, extra: KubeStatus['details'] = {}): KubeStatus => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    details: { ...details, ...extra },
  });
  if (e instanceof InvalidFieldError)
    return status(422, 'Invalid', e.message, {
      causes: [{ reason: 'FieldValueInvalid', message: e.message, field: e.field }],
    });
  if (e instanceof AlreadyExistsError) return status(409, 'AlreadyExists', e.message);
  if (e instanceof ConflictError) return status(409, 'Conflict', e.message);
  if (e instanceof NotFoundError) return status(404, 'NotFound', e.message);
  if (e instanceof ForbiddenError) return status(403, 'Forbidden', e.message);
  if (e instanceof PayloadTooLargeError) return status(413, 'RequestEntityTooLarge', e.message);
  if (e instanceof KaskadeError && e.httpStatus === 400) return status(400, 'BadRequest', e.message);
  if (e instanceof KaskadeError && e.httpStatus === 405) return status(405, 'MethodNotAllowed', e.message);
  if (e instanceof KaskadeError && e.httpStatus === 401) return status(401, 'Unauthorized', e.message);
  return status(500, 'InternalError', e instanceof Error ? e.message : String(e));
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendStatus(res: ServerResponse, status: KubeStatus): void {
  sendJson(res, status.code, status);
}

/** Kubernetes timestamps: RFC 3339 to the second (`2026-01-02T03:04:05Z`). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
