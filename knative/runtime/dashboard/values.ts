// Small helpers of the dashboard's recorders: bounded lists, and reading untyped event data.
import type { WireEvent } from '../../../events/wire.js';
import { LIMITS } from './limits.js';

export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** The event's data as a JSON object, or null (binary bodies, tensors, malformed JSON). */
export function jsonData(event: WireEvent): Record<string, unknown> | null {
  const contentType = event.attributes.datacontenttype ?? 'application/json';
  if (event.data === undefined || event.data.byteLength > LIMITS.jsonBytes || !/json/i.test(contentType)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(event.data).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
