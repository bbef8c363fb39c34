// The storage interface every function uses. Implementations are routed by URL scheme
// (file:// and gs://) in ./index.ts; functions receive a Store and never touch fs or GCS directly.
import type * as tf from '@tensorflow/tfjs';

export interface WriteOptions {
  /** Fail with ConflictError if the object already exists (GCS ifGenerationMatch: 0). */
  ifAbsent?: boolean;
  contentType?: string;
}

export interface ReadOptions {
  /** Refuse (PayloadTooLargeError) an object larger than this, before reading its bytes. */
  maxBytes?: number;
}

export interface Store {
  /** Whole object; NotFoundError when absent. */
  read(url: string, options?: ReadOptions): Promise<Uint8Array>;
  /** Atomic: a reader sees the old object or the new one, never half of it. */
  write(url: string, data: Uint8Array, options?: WriteOptions): Promise<void>;
  exists(url: string): Promise<boolean>;
  /** Object URLs under a prefix URL, sorted. */
  list(prefixUrl: string): Promise<string[]>;
  /** NotFoundError when absent. */
  delete(url: string): Promise<void>;
  /**
   * Compare-and-swap of a small text pointer (e.g. `.../LATEST`): writes `next` only if the
   * current content is `expected` (undefined = must not exist). ConflictError otherwise.
   */
  swapPointer(url: string, expected: string | undefined, next: string): Promise<void>;
  /** A TF.js IOHandler that saves/loads a layers model (model.json + weights) under a folder URL. */
  modelHandler(folderUrl: string): tf.io.IOHandler;
}
