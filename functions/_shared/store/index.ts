// The model store: one Store for every function, routed by URL scheme (file:// → FileStore,
// gs:// → GcsStore), confined to the configured roots. See README.md.
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, ForbiddenPathError, isKaskadeError } from '../errors.js';
import { envList, envString, type Env } from '../config.js';
import { FileStore, type FileStoreOptions } from './file-store.js';
import { GcsStore, type GcsStoreOptions } from './gcs-store.js';
import { createModelHandler } from './model-handler.js';
import type { ReadOptions, Store, WriteOptions } from './types.js';
import { parseStoreUrl, type Scheme } from './url.js';

export type { ReadOptions, Store, WriteOptions } from './types.js';
export { FileStore, type FileStoreOptions } from './file-store.js';
export { GcsStore, type GcsStoreOptions } from './gcs-store.js';
export { createModelHandler, MODEL_JSON, type ModelHandlerOptions } from './model-handler.js';
export { saveTensors, loadTensors, type SaveTensorsOptions } from './tensors.js';
export { publishLatest, readLatest, LATEST, type PublishOptions } from './latest.js';
export { joinStoreUrl, parseStoreUrl, formatStoreUrl, StoreRoots, type StoreLocation } from './url.js';

export interface StoreConfig {
  /** Allowed URL prefixes, e.g. `file:///var/kaskade` or `gs://bucket/prefix`. */
  roots: string[];
  gcs?: Omit<GcsStoreOptions, 'apiEndpoint' | 'projectId'> & { apiEndpoint?: string; projectId?: string };
  file?: FileStoreOptions;
}

/**
 * KASKADE_STORAGE_ROOTS: comma list of root URLs (an absolute path means file://); default
 * `file://<cwd>/.kaskade/store`. KASKADE_GCS_ENDPOINT: another GCS endpoint (emulator, fake).
 */
export function loadStoreConfig(env: Env = process.env, cwd: string = process.cwd()): StoreConfig {
  const roots = envList(env, 'KASKADE_STORAGE_ROOTS', [`file://${cwd}/.kaskade/store`]).map((root) =>
    root.startsWith('/') ? `file://${root}` : root,
  );
  for (const root of roots) {
    try {
      parseStoreUrl(root);
    } catch (e) {
      throw new ConfigError(`KASKADE_STORAGE_ROOTS: ${isKaskadeError(e) ? e.message : String(e)}`, { cause: e });
    }
  }
  const apiEndpoint = envString(env, 'KASKADE_GCS_ENDPOINT', '');
  if (apiEndpoint !== '' && !/^https?:\/\/[^/]+/.test(apiEndpoint))
    throw new ConfigError(`KASKADE_GCS_ENDPOINT must be an http(s) URL, got "${apiEndpoint}"`);
  return { roots, ...(apiEndpoint === '' ? {} : { gcs: { apiEndpoint } }) };
}

/** A Store over the configured roots; the GCS client is made only if a gs:// root exists. */
export function openStore(config: StoreConfig): Store {
  const byScheme = new Map<Scheme, Store>();
  const fileRoots = config.roots.filter((root) => parseStoreUrl(root).scheme === 'file');
  const gcsRoots = config.roots.filter((root) => parseStoreUrl(root).scheme === 'gs');
  if (fileRoots.length > 0) byScheme.set('file', new FileStore(fileRoots, config.file));
  if (gcsRoots.length > 0) byScheme.set('gs', new GcsStore(gcsRoots, config.gcs));
  return new RoutedStore(byScheme);
}

class RoutedStore implements Store {
  constructor(private readonly byScheme: ReadonlyMap<Scheme, Store>) {}

  async read(url: string, options?: ReadOptions): Promise<Uint8Array> {
    return await this.route(url).read(url, options);
  }
  async write(url: string, data: Uint8Array, options?: WriteOptions): Promise<void> {
    await this.route(url).write(url, data, options);
  }
  async exists(url: string): Promise<boolean> {
    return await this.route(url).exists(url);
  }
  async list(prefixUrl: string): Promise<string[]> {
    return await this.route(prefixUrl).list(prefixUrl);
  }
  async delete(url: string): Promise<void> {
    await this.route(url).delete(url);
  }
  async swapPointer(url: string, expected: string | undefined, next: string): Promise<void> {
    await this.route(url).swapPointer(url, expected, next);
  }
  modelHandler(folderUrl: string): tf.io.IOHandler {
    this.route(folderUrl).modelHandler(folderUrl); // confinement check, at creation
    return createModelHandler(this, folderUrl);
  }

  private route(url: string): Store {
    const { scheme } = parseStoreUrl(url);
    const store = this.byScheme.get(scheme);
    if (store === undefined) throw new ForbiddenPathError(`"${url}": no ${scheme}:// storage root is configured`);
    return store;
  }
}
