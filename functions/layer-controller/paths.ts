// Model paths in requests (`/save_model`, `/load_model` `{"model_path"}`): a storage URL inside
// the configured roots (the store refuses anything else with 400), or a relative name, which
// lands under `<root>/layer-models/`.
import { BadInputError } from '../_shared/errors.js';
import { joinStoreUrl } from '../_shared/store/index.js';

export function exportPath(root: string, modelPath: string): string {
  if (/^(file|gs):\/\//.test(modelPath)) return modelPath.endsWith('/') ? modelPath : `${modelPath}/`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,7}\/?$/.test(modelPath)) {
    throw new BadInputError(
      `model_path "${modelPath}" must be a file:// or gs:// URL or a relative name of letters, digits, ".", "_", "-" and "/"`,
    );
  }
  return joinStoreUrl(root, `layer-models/${modelPath.replace(/\/$/, '')}/`);
}
