// Storage URLs and their confinement. A URL is taken literally (no percent-decoding, no `..`
// resolution): it is split into segments, every segment is checked, and the result must lie
// inside one of the configured roots. Anything else is a ForbiddenPathError, never a guess.
import { ForbiddenPathError } from '../errors.js';

export type Scheme = 'file' | 'gs';

export interface StoreLocation {
  scheme: Scheme;
  /** The GCS bucket; '' for file://. */
  bucket: string;
  /** Path segments below the bucket (gs://) or below `/` (file://); never '', '.', '..'. */
  segments: string[];
  /** The URL ended with '/': a folder or prefix rather than an object. */
  folder: boolean;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
// A percent escape of '.', '/', '\' or a control character is an attempt at encoded traversal.
const ENCODED_DANGER = /%(2e|2f|5c|[01][0-9a-f]|7f)/i;
// Control characters are never part of a storage path.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Names the file store keeps for itself (temp files, locks); no URL may address them. */
export const RESERVED_PREFIX = '.~kaskade-';

/** Parses and checks a storage URL; ForbiddenPathError names what is wrong with it. */
export function parseStoreUrl(url: string): StoreLocation {
  const match = /^(file|gs):\/\/([^/]*)(\/.*)?$/.exec(url);
  if (!match) throw new ForbiddenPathError(`"${url}" is not a file:// or gs:// URL`);
  const scheme = match[1] as Scheme;
  const authority = match[2] ?? '';
  const path = match[3] ?? '';
  let bucket = '';
  if (scheme === 'file') {
    if (authority !== '' && authority !== 'localhost') throw new ForbiddenPathError(`"${url}": file URLs name no host`);
    if (path === '') throw new ForbiddenPathError(`"${url}": file URLs need an absolute path`);
  } else {
    if (!BUCKET.test(authority)) throw new ForbiddenPathError(`"${url}": "${authority}" is not a bucket name`);
    bucket = authority;
  }
  const raw = path === '' ? [] : path.slice(1).split('/');
  const folder = raw.length === 0 || raw[raw.length - 1] === '';
  const segments = folder ? raw.slice(0, -1) : raw;
  for (const segment of segments) checkSegment(url, segment);
  return { scheme, bucket, segments, folder };
}

function checkSegment(url: string, segment: string): void {
  if (segment === '') throw new ForbiddenPathError(`"${url}": empty path segment`);
  if (segment === '.' || segment === '..')
    throw new ForbiddenPathError(`"${url}": "${segment}" segments are not allowed`);
  if (ENCODED_DANGER.test(segment))
    throw new ForbiddenPathError(`"${url}": percent-encoded dots, slashes or control characters are not allowed`);
  if (segment.includes('\\') || CONTROL.test(segment))
    throw new ForbiddenPathError(`"${url}": backslashes and control characters are not allowed`);
  if (segment.startsWith(RESERVED_PREFIX))
    throw new ForbiddenPathError(`"${url}": names starting with ${RESERVED_PREFIX} are reserved`);
}

export function formatStoreUrl(location: StoreLocation): string {
  const tail = location.segments.join('/') + (location.folder && location.segments.length > 0 ? '/' : '');
  return location.scheme === 'file' ? `file:///${tail}` : `gs://${location.bucket}/${tail}`;
}

/** `base` + '/' + names, whether or not `base` ends with '/'. */
export function joinStoreUrl(base: string, ...names: string[]): string {
  return [base.replace(/\/+$/, ''), ...names].join('/');
}

/** The configured roots a store may touch, parsed once. */
export class StoreRoots {
  readonly roots: readonly StoreLocation[];

  constructor(roots: readonly string[]) {
    this.roots = roots.map((root) => ({ ...parseStoreUrl(root), folder: true }));
  }

  /** Parses `url` and proves it lies inside a root (whole segments: /a/bc is not inside /a/b). */
  confine(url: string, scheme?: Scheme): StoreLocation {
    const location = parseStoreUrl(url);
    if (scheme !== undefined && location.scheme !== scheme)
      throw new ForbiddenPathError(`"${url}" is not a ${scheme}:// URL`);
    if (!this.roots.some((root) => isInside(location, root)))
      throw new ForbiddenPathError(`"${url}" is outside the storage roots`);
    return location;
  }

  /** Like confine, for an object: a folder URL (trailing '/') or a root itself is refused. */
  confineObject(url: string, scheme?: Scheme): StoreLocation {
    const location = this.confine(url, scheme);
    const strictlyInside = this.roots.some(
      (root) => isInside(location, root) && location.segments.length > root.segments.length,
    );
    if (location.folder || !strictlyInside) throw new ForbiddenPathError(`"${url}" names a folder, not an object`);
    return location;
  }
}

function isInside(location: StoreLocation, root: StoreLocation): boolean {
  if (location.scheme !== root.scheme || location.bucket !== root.bucket) return false;
  if (location.segments.length < root.segments.length) return false;
  return root.segments.every((segment, i) => location.segments[i] === segment);
}
