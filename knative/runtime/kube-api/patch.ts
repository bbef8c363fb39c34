// PATCH bodies as the API applies them: JSON merge patch (RFC 7386), strategic merge patch
// (applied as a merge patch: Knative's types carry no strategic-merge keys), and JSON patch
// (RFC 6902, with fast-json-patch). A bad patch is a 400 or 422 naming what is wrong.
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { BadInputError, InvalidFieldError } from '../../../functions/_shared/errors.js';

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/** Applies `patch` (already parsed) of `contentType` to a copy of `target`. */
export function applyPatch(target: unknown, patch: unknown, contentType: string): unknown {
  const type = contentType.split(';')[0]?.trim() ?? '';
  if (type === MERGE_PATCH || type === STRATEGIC_MERGE_PATCH || type === APPLY_PATCH) return mergePatch(target, patch);
  if (type === JSON_PATCH) {
    if (!Array.isArray(patch)) throw new BadInputError('a JSON patch must be an array of operations');
    const doc = structuredClone(target);
    try {
      return fastJsonPatch.applyPatch(doc, patch as Operation[], true, true).newDocument;
    } catch (e) {
      const path =
        typeof e === 'object' && e !== null && 'operation' in e ? String((e.operation as { path?: unknown }).path) : '';
      throw new InvalidFieldError(
        path,
        `JSON patch failed${path ? ` at ${path}` : ''}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        { cause: e },
      );
    }
  }
  throw new BadInputError(
    `unsupported patch content type "${contentType}" (use ${MERGE_PATCH}, ${STRATEGIC_MERGE_PATCH} or ${JSON_PATCH})`,
  );
}

/** RFC 7386: objects merge key by key, null removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
