// Test support: a small file:// Store over a real temp folder, speaking the same interface as
// the project's store, so predictor tests load models the way the service does.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { ConflictError, ForbiddenPathError, NotFoundError } from '../../_shared/errors.js';
import type { Store } from '../../_shared/store/types.js';

export function fileStore(root: string): Store {
  const rootUrl = pathToFileURL(root.endsWith('/') ? root : `${root}/`).href;
  const pathOf = (url: string): string => {
    if (!url.startsWith(rootUrl) || url.includes('/../')) throw new ForbiddenPathError(`${url} is outside ${rootUrl}`);
    return fileURLToPath(url);
  };
  const read = async (url: string): Promise<Uint8Array> => {
    try {
      return new Uint8Array(await readFile(pathOf(url)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${url} does not exist`, { cause: e });
      throw e;
    }
  };
  const write = async (url: string, data: Uint8Array, options: { ifAbsent?: boolean } = {}): Promise<void> => {
    const path = pathOf(url);
    if (options.ifAbsent && (await exists(url))) throw new ConflictError(`${url} exists`);
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temp, data);
    await rename(temp, path);
  };
  const exists = async (url: string): Promise<boolean> => {
    try {
      await stat(pathOf(url));
      return true;
    } catch {
      return false;
    }
  };
  const list = async (prefixUrl: string): Promise<string[]> => {
    const dir = pathOf(prefixUrl);
    try {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => pathToFileURL(join(e.parentPath, e.name)).href).sort();
    } catch {
      return [];
    }
  };
  return {
    read,
    write,
    exists,
    list,
    delete: async (url) => rm(pathOf(url), { force: true }),
    swapPointer: async (url, expected, next) => {
      const current = (await exists(url)) ? new TextDecoder().decode(await read(url)) : undefined;
      if (current !== expected) throw new ConflictError(`${url} is "${current ?? '(absent)'}", expected "${expected ?? '(absent)'}"`);
      await write(url, new TextEncoder().encode(next));
    },
    modelHandler: (folderUrl) => {
      const base = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
      return {
        save: async (artifacts) => {
          const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
          await write(`${base}weights.bin`, new Uint8Array(weights));
          const manifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }];
          const json: tf.io.ModelJSON = { modelTopology: artifacts.modelTopology ?? {}, weightsManifest: manifest };
          if (artifacts.format !== undefined) json.format = artifacts.format;
          if (artifacts.generatedBy !== undefined) json.generatedBy = artifacts.generatedBy;
          if (artifacts.convertedBy !== undefined) json.convertedBy = artifacts.convertedBy;
          if (artifacts.userDefinedMetadata !== undefined) json.userDefinedMetadata = artifacts.userDefinedMetadata;
          await write(`${base}model.json`, new TextEncoder().encode(JSON.stringify(json)));
          return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
        },
        load: async () => {
          const json = JSON.parse(new TextDecoder().decode(await read(`${base}model.json`))) as tf.io.ModelJSON;
          return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
            const specs = manifest.flatMap((group) => group.weights);
            const parts = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => read(`${base}${p}`))));
            const buffers = parts.map((b) => b.slice().buffer);
            return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
          });
        },
      };
    },
  };
}
