// The published models as the store holds them: `<models folder>/<name>/LATEST` for each name
// (or one prefix served under a fixed name), each pointer naming a model folder. Every store
// call and load has a deadline.
import { NotFoundError } from '../_shared/errors.js';
import { LATEST, type Store } from '../_shared/store/index.js';
import { MODEL_NAME, type ModelsSource } from './config.js';
import { readPublished, withDeadline, type ModelLoader } from './model-loader.js';
import { onnxFileIdentity } from './onnx-loader.js';
import type { PublishedModels } from './model-repository.js';

export function publishedModels(
  store: Store,
  source: ModelsSource,
  loader: ModelLoader,
  timeoutMs: number,
): PublishedModels {
  const prefixOf = (name: string): string => {
    if (source.kind === 'many') return `${source.modelsUrl}${name}/`;
    if (name !== source.name)
      throw new NotFoundError(`model "${name}" not found; this predictor serves "${source.name}"`);
    return source.kind === 'file' ? source.fileUrl : source.prefixUrl;
  };
  return {
    names: () => withDeadline(publishedNames(store, source), timeoutMs, 'listing the published models'),
    resolve: (name) =>
      source.kind === 'file'
        ? withDeadline(onnxFileIdentity(store, prefixOf(name)), timeoutMs, `reading ${prefixOf(name)}`)
        : withDeadline(readPublished(store, prefixOf(name)), timeoutMs, `reading ${prefixOf(name)}${LATEST}`),
    load: (folderUrl) =>
      withDeadline(loader(folderUrl), timeoutMs, `loading the model in ${folderUrl}`, (late) => late.dispose()),
  };
}

async function publishedNames(store: Store, source: ModelsSource): Promise<string[]> {
  if (source.kind === 'one') return (await store.exists(`${source.prefixUrl}${LATEST}`)) ? [source.name] : [];
  if (source.kind === 'file') return (await store.exists(source.fileUrl)) ? [source.name] : [];
  const names: string[] = [];
  for (const url of await store.list(source.modelsUrl)) {
    if (!url.startsWith(source.modelsUrl)) continue;
    const parts = url.slice(source.modelsUrl.length).split('/');
    const [name, file] = parts;
    if (parts.length === 2 && file === LATEST && name !== undefined && MODEL_NAME.test(name)) names.push(name);
  }
  return names;
}
