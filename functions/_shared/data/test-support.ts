// For tests of the loaders: the read/list/write part of a Store over file:// URLs, and temp
// dirs. Production code gets its Store from store/index.ts; the loaders only need this much.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NotFoundError } from '../errors.js';
import type { Store } from '../store/types.js';
import type { StoreReader } from './types.js';

export type FileStore = StoreReader & Pick<Store, 'write'>;

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))),
  );
  return nested.flat();
}

export function fileStore(): FileStore {
  return {
    async read(url) {
      try {
        return new Uint8Array(await readFile(fileURLToPath(url)));
      } catch (cause) {
        throw new NotFoundError(`${url} not found`, { cause });
      }
    },
    async exists(url) {
      return stat(fileURLToPath(url)).then(() => true, () => false);
    },
    async list(prefixUrl) {
      const prefix = fileURLToPath(prefixUrl);
      const base = prefix.endsWith('/') ? prefix : dirname(prefix);
      const files = await walk(base);
      return files.filter((f) => f.startsWith(prefix)).map((f) => pathToFileURL(f).href).sort();
    },
    async write(url, data) {
      const path = fileURLToPath(url);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, data);
    },
  };
}

export interface TempDir {
  readonly path: string;
  readonly url: string;
  remove(): Promise<void>;
}

export async function makeTempDir(prefix = 'kaskade-data-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, url: pathToFileURL(path).href, remove: () => rm(path, { recursive: true, force: true }) };
}
