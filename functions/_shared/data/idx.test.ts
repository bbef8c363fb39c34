import { gzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import { encodeIdx, maybeGunzip, parseIdx } from './idx.js';
import { loadIdxFolder } from './idx-folder.js';
import { loadDataset } from './dataset.js';
import { FileStore } from '../store/file-store.js';
import { makeTempDir, type TempDir } from '../../../test/support/temp-dir.js';

function header(bytes: number[]): Uint8Array {
  return new Uint8Array(bytes);
}

describe('parseIdx', () => {
  it('reads dims big-endian and returns the data as a view', () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const parsed = parseIdx(encodeIdx([1, 2, 3], data), 'x', 3);
    expect(parsed.dims).toEqual([1, 2, 3]);
    expect([...parsed.data]).toEqual([...data]);
  });

  it('reads a header written by hand (MNIST labels magic 0x00000801, 258 items)', () => {
    const bytes = new Uint8Array(8 + 258);
    bytes.set([0, 0, 8, 1, 0, 0, 1, 2]);
    bytes[8 + 257] = 9;
    const parsed = parseIdx(bytes, 'labels', 1);
    expect(parsed.dims).toEqual([258]);
    expect(parsed.data[257]).toBe(9);
  });

  const bad: { name: string; bytes: Uint8Array; rank?: number; message: RegExp }[] = [
    { name: 'too short', bytes: header([0, 0, 8]), message: /too short/ },
    { name: 'bad magic', bytes: header([1, 2, 8, 1, 0, 0, 0, 0]), message: /bad IDX magic 0x01020801/ },
    { name: 'float data type', bytes: header([0, 0, 0x0d, 1, 0, 0, 0, 0]), message: /not supported/ },
    { name: 'zero dimensions', bytes: header([0, 0, 8, 0]), message: /0 dimensions/ },
    {
      name: 'images where labels expected',
      bytes: encodeIdx([1, 1, 1], new Uint8Array(1)),
      rank: 1,
      message: /3 dimensions, expected 1/,
    },
    { name: 'truncated header', bytes: header([0, 0, 8, 3, 0, 0, 0, 1]), message: /truncated IDX header/ },
    {
      name: 'data shorter than dims',
      bytes: encodeIdx([4], new Uint8Array(4)).subarray(0, 10),
      message: /need 4 data bytes, file has 2/,
    },
    {
      name: 'trailing bytes',
      bytes: new Uint8Array([...encodeIdx([2], new Uint8Array(2)), 7]),
      message: /need 2 data bytes, file has 3/,
    },
    {
      name: 'huge dims',
      bytes: header([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      message: /need .* data bytes, file has 0/,
    },
  ];
  it.each(bad)('rejects $name', ({ bytes, rank, message }) => {
    expect(() => parseIdx(bytes, 'f', rank)).toThrow(BadInputError);
    expect(() => parseIdx(bytes, 'f', rank)).toThrow(message);
  });
});

describe('maybeGunzip', () => {
  it('decompresses gzip by its magic bytes and passes raw bytes through', async () => {
    const raw = encodeIdx([3], new Uint8Array([7, 8, 9]));
    expect([...(await maybeGunzip(gzipSync(raw), 'g'))]).toEqual([...raw]);
    expect(await maybeGunzip(raw, 'r')).toBe(raw);
  });

  it('rejects corrupt gzip and output over the limit', async () => {
    const gz = gzipSync(new Uint8Array(1000));
    await expect(maybeGunzip(gz.subarray(0, 12), 'cut')).rejects.toThrow(BadInputError);
    await expect(maybeGunzip(gz, 'big', 100)).rejects.toThrow(PayloadTooLargeError);
  });
});

/** A tiny IDX dataset: pixel value = 10·label + position, so each image is recognisable. */
function fixture(
  n: number,
  rows: number,
  cols: number,
  firstLabel: number,
): { images: Uint8Array; labels: Uint8Array } {
  const labels = Uint8Array.from({ length: n }, (_, i) => (firstLabel + i) % 3);
  const images = new Uint8Array(n * rows * cols);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < rows * cols; p++) images[i * rows * cols + p] = (labels[i] ?? 0) * 10 + p;
  return { images: encodeIdx([n, rows, cols], images), labels: encodeIdx([n], labels) };
}

describe('loadIdxFolder', () => {
  let dir: TempDir;
  let store: FileStore;
  beforeAll(async () => {
    dir = await makeTempDir();
    store = new FileStore([dir.url]);
  });
  afterAll(async () => dir.remove());

  async function writeFolder(name: string, gz: { images: boolean; labels: boolean }, nTest = 2): Promise<string> {
    const url = `${dir.url}/${name}`;
    const train = fixture(5, 2, 3, 0);
    const test = fixture(nTest, 2, 3, 1);
    const put = (file: string, bytes: Uint8Array, zip: boolean) =>
      store.write(`${url}/${file}${zip ? '.gz' : ''}`, zip ? gzipSync(bytes) : bytes);
    await put('train-images-idx3-ubyte', train.images, gz.images);
    await put('train-labels-idx1-ubyte', train.labels, gz.labels);
    await put('t10k-images-idx3-ubyte', test.images, gz.images);
    await put('t10k-labels-idx1-ubyte', test.labels, gz.labels);
    return url;
  }

  it.each([
    { name: 'raw', gz: { images: false, labels: false } },
    { name: 'gzipped', gz: { images: true, labels: true } },
    { name: 'mixed', gz: { images: true, labels: false } },
  ])('loads a $name folder with scaled pixels, labels and classes', async ({ name, gz }) => {
    const url = await writeFolder(name, gz);
    const ds = await loadIdxFolder(store, url);
    expect(ds.train.n).toBe(5);
    expect(ds.test.n).toBe(2);
    expect(ds.train.shape).toEqual([2, 3, 1]);
    expect([...ds.train.y]).toEqual([0, 1, 2, 0, 1]);
    expect([...ds.test.y]).toEqual([1, 2]);
    expect(ds.train.classes).toBe(3);
    expect(ds.train.x[6 + 4]).toBeCloseTo((10 + 4) / 255, 6);
    expect(ds.test.x.length).toBe(2 * 6);
  });

  it('fails with NotFoundError naming a missing file', async () => {
    const url = await writeFolder('missing', { images: false, labels: false });
    const other = `${dir.url}/other`;
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte']) {
      await store.write(`${other}/${f}`, await store.read(`${url}/${f}`));
    }
    await expect(loadIdxFolder(store, other)).rejects.toThrow(NotFoundError);
    await expect(loadIdxFolder(store, other)).rejects.toThrow(/t10k-labels-idx1-ubyte/);
  });

  it('rejects label and image counts that differ', async () => {
    const url = await writeFolder('counts', { images: false, labels: false });
    await store.write(`${url}/t10k-labels-idx1-ubyte`, encodeIdx([3], new Uint8Array(3)));
    await expect(loadIdxFolder(store, url)).rejects.toThrow(/3 labels for 2 images/);
  });

  it('is what loadDataset uses for file:// and idx+file:// URIs', async () => {
    const url = await writeFolder('uri', { images: true, labels: true });
    for (const uri of [url, `idx+${url}`]) {
      const ds = await loadDataset(uri, { store });
      expect(ds.kind).toBe('image');
      expect(ds.train.n).toBe(5);
    }
    await expect(loadDataset(url)).rejects.toThrow(/needs a store/);
  });
});

// Debian's dataset-fashion-mnist (gzipped IDX, 60,000 + 10,000 images of 10 clothing classes).
const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
describe('Fashion-MNIST from the Debian package', () => {
  it('loads the full 60k/10k through the same loader', async () => {
    expect(existsSync(FASHION_DIR), `install the Debian package dataset-fashion-mnist (${FASHION_DIR})`).toBe(true);
    // No store given: a packaged dataset is read from its fixed folder whatever the storage roots.
    const ds = await loadDataset('fashion-mnist:debian');
    expect(ds.kind).toBe('image');
    expect([ds.train.n, ds.test.n]).toEqual([60_000, 10_000]);
    expect(ds.train.shape).toEqual([28, 28, 1]);
    expect(ds.train.classes).toBe(10);
    const counts = new Array<number>(10).fill(0);
    for (const label of ds.test.y) counts[label] = (counts[label] ?? 0) + 1;
    expect(counts).toEqual(new Array<number>(10).fill(1000));
    expect(Math.max(...ds.train.x.subarray(0, 784))).toBeLessThanOrEqual(1);
  });
});
