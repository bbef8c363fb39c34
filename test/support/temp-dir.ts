// For tests of the loaders: temp dirs as file:// roots for a real FileStore.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface TempDir {
  readonly path: string;
  readonly url: string;
  remove(): Promise<void>;
}

export async function makeTempDir(prefix = 'kaskade-data-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, url: pathToFileURL(path).href, remove: () => rm(path, { recursive: true, force: true }) };
}
