// Safetensors blobs in a store: optimizer state, layer shards, checkpoints, activations at rest.
import type * as tf from '@tensorflow/tfjs';
import { decodeTensors, type Metadata } from '../wire/safetensors.js';
import { encodeTfTensors, toTfTensors } from '../wire/tf.js';
import type { Store } from './types.js';

export interface SaveTensorsOptions {
  metadata?: Metadata;
  /** ConflictError if the blob already exists (checkpoints that must never be overwritten). */
  ifAbsent?: boolean;
}

export async function saveTensors(
  store: Store,
  url: string,
  tensors: Readonly<Record<string, tf.Tensor>>,
  options: SaveTensorsOptions = {},
): Promise<void> {
  const bytes = await encodeTfTensors(tensors, options.metadata);
  await store.write(url, bytes, {
    contentType: 'application/octet-stream',
    ...(options.ifAbsent === true ? { ifAbsent: true } : {}),
  });
}

/** Reads and decodes a blob (refused above `maxBytes` before reading); the caller disposes the tensors. */
export async function loadTensors(
  store: Store,
  url: string,
  options: { maxBytes: number },
): Promise<{ tensors: Record<string, tf.Tensor>; metadata: Metadata | undefined }> {
  const bytes = await store.read(url, { maxBytes: options.maxBytes });
  const decoded = decodeTensors(bytes, { maxBytes: options.maxBytes });
  return { tensors: toTfTensors(decoded), metadata: decoded.metadata };
}
