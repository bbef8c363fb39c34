// A folder of MNIST-style IDX files, read through any Store (file://, gs://):
//   train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
// each raw or gzipped (the name may end in .gz; compression is detected from the bytes).
// MNIST and Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist) use these names.
// Train and test are the files' own split; pixels are scaled to [0, 1].
import { BadInputError, NotFoundError } from '../errors.js';
import { MAX_IDX_BYTES, maybeGunzip, parseIdx } from './idx.js';
import type { ImageDataset, ImageSet, StoreReader } from './types.js';

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** Finds `<base>`, `<base>.gz` or the `<kind>.idxN-ubyte` spelling among the folder's objects. */
function locate(objects: readonly string[], folder: string, base: string): string {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  const candidates = [base, `${base}.gz`, dotted, `${dotted}.gz`].map((name) => folder + name);
  const found = candidates.find((url) => objects.includes(url));
  if (!found) throw new NotFoundError(`${folder}: no ${base} (or .gz) in the dataset folder`);
  return found;
}

async function readIdx(store: StoreReader, url: string, rank: number) {
  return parseIdx(await maybeGunzip(await store.read(url, { maxBytes: MAX_IDX_BYTES }), url), url, rank);
}

async function readSet(
  store: StoreReader,
  imagesUrl: string,
  labelsUrl: string,
): Promise<{ set: Omit<ImageSet, 'classes'>; maxLabel: number }> {
  const [images, labels] = await Promise.all([readIdx(store, imagesUrl, 3), readIdx(store, labelsUrl, 1)]);
  const [n = 0, rows = 0, cols = 0] = images.dims;
  if (labels.dims[0] !== n) {
    throw new BadInputError(`${labelsUrl}: ${labels.dims[0]} labels for ${n} images in ${imagesUrl}`);
  }
  const x = new Float32Array(images.data.length);
  const scale = 1 / 255;
  for (let i = 0; i < x.length; i++) x[i] = (images.data[i] ?? 0) * scale;
  const y = new Uint8Array(labels.data);
  let maxLabel = 0;
  for (const label of y) if (label > maxLabel) maxLabel = label;
  return { set: { x, y, n, shape: [rows, cols, 1] }, maxLabel };
}

/** Loads both sets; `classes` is one more than the largest label seen in either. */
export async function loadIdxFolder(store: StoreReader, folderUrl: string, name = folderUrl): Promise<ImageDataset> {
  const folder = withSlash(folderUrl);
  const objects = await store.list(folder);
  const [train, test] = await Promise.all([
    readSet(store, locate(objects, folder, FILES.trainImages), locate(objects, folder, FILES.trainLabels)),
    readSet(store, locate(objects, folder, FILES.testImages), locate(objects, folder, FILES.testLabels)),
  ]);
  const [trainShape, testShape] = [train.set.shape.join('×'), test.set.shape.join('×')];
  if (trainShape !== testShape)
    throw new BadInputError(`${folder}: train images are ${trainShape}, test images ${testShape}`);
  const classes = Math.max(train.maxLabel, test.maxLabel) + 1;
  return { kind: 'image', name, train: { ...train.set, classes }, test: { ...test.set, classes } };
}
