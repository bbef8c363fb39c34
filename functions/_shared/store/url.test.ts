import { describe, expect, it } from 'vitest';
import { ForbiddenPathError } from '../errors.js';
import { StoreRoots, formatStoreUrl, joinStoreUrl, parseStoreUrl } from './url.js';

describe('storage URL confinement', () => {
  const roots = new StoreRoots(['file:///var/kaskade', 'gs://models-bucket/team/a']);
  const cases: { name: string; url: string; allowed: boolean }[] = [
    { name: 'file inside the root', url: 'file:///var/kaskade/models/m1/model.json', allowed: true },
    { name: 'file root itself (as a prefix)', url: 'file:///var/kaskade/', allowed: true },
    { name: 'localhost file host', url: 'file://localhost/var/kaskade/x', allowed: true },
    { name: 'gs inside the prefix', url: 'gs://models-bucket/team/a/run-1/LATEST', allowed: true },
    { name: 'sibling folder sharing a name prefix', url: 'file:///var/kaskade2/x', allowed: false },
    { name: 'parent folder', url: 'file:///var/x', allowed: false },
    { name: 'dot-dot segment', url: 'file:///var/kaskade/../etc/passwd', allowed: false },
    { name: 'dot-dot at the end', url: 'file:///var/kaskade/models/..', allowed: false },
    { name: 'dot segment', url: 'file:///var/kaskade/./x', allowed: false },
    { name: 'encoded dot-dot', url: 'file:///var/kaskade/%2e%2e/etc/passwd', allowed: false },
    { name: 'encoded dot-dot, upper case', url: 'file:///var/kaskade/%2E%2E/etc', allowed: false },
    { name: 'half-encoded dot-dot', url: 'file:///var/kaskade/.%2e/etc', allowed: false },
    { name: 'encoded slash', url: 'file:///var/kaskade/a%2f..%2f..%2fetc', allowed: false },
    { name: 'encoded backslash', url: 'file:///var/kaskade/a%5cb', allowed: false },
    { name: 'encoded NUL', url: 'file:///var/kaskade/a%00b', allowed: false },
    { name: 'raw NUL', url: 'file:///var/kaskade/a\u0000b', allowed: false },
    { name: 'backslash traversal', url: 'file:///var/kaskade/..\\..\\etc', allowed: false },
    { name: 'empty segment', url: 'file:///var/kaskade//x', allowed: false },
    { name: 'reserved store name', url: 'file:///var/kaskade/.~kaskade-x.lock', allowed: false },
    { name: 'file with a remote host', url: 'file://evil.example/var/kaskade/x', allowed: false },
    { name: 'other scheme', url: 'http://169.254.169.254/computeMetadata/v1/', allowed: false },
    { name: 'upper-case scheme', url: 'FILE:///var/kaskade/x', allowed: false },
    { name: 'bare path', url: '/var/kaskade/x', allowed: false },
    { name: 'other bucket', url: 'gs://other-bucket/team/a/x', allowed: false },
    { name: 'same bucket, outside the prefix', url: 'gs://models-bucket/team/b/x', allowed: false },
    { name: 'gs prefix sharing a name prefix', url: 'gs://models-bucket/team/ab/x', allowed: false },
    { name: 'gs dot-dot escaping the prefix', url: 'gs://models-bucket/team/a/../b/x', allowed: false },
    { name: 'invalid bucket name', url: 'gs://Models_Bucket/team/a/x', allowed: false },
  ];

  it.each(cases)('$name', ({ url, allowed }) => {
    if (allowed) expect(() => roots.confine(url)).not.toThrow();
    else expect(() => roots.confine(url)).toThrow(ForbiddenPathError);
  });

  it('refuses objects that are folders or a root itself', () => {
    expect(() => roots.confineObject('file:///var/kaskade/models/')).toThrow(/folder/);
    expect(() => roots.confineObject('file:///var/kaskade')).toThrow(/folder/);
    expect(() => roots.confineObject('gs://models-bucket/team/a')).toThrow(/folder/);
    expect(roots.confineObject('gs://models-bucket/team/a/x').segments).toEqual(['team', 'a', 'x']);
  });

  it('refuses a URL of the wrong scheme for the store', () => {
    expect(() => roots.confine('gs://models-bucket/team/a/x', 'file')).toThrow(ForbiddenPathError);
  });

  it('formats and joins URLs back', () => {
    expect(formatStoreUrl(parseStoreUrl('file://localhost/var/kaskade/x'))).toBe('file:///var/kaskade/x');
    expect(formatStoreUrl(parseStoreUrl('gs://b-1/p/q/'))).toBe('gs://b-1/p/q/');
    expect(joinStoreUrl('gs://b-1/p/', 'LATEST')).toBe('gs://b-1/p/LATEST');
    expect(joinStoreUrl('file:///a', 'b', 'c')).toBe('file:///a/b/c');
  });
});
