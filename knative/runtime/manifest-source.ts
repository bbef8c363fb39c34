// Where manifests come from: one YAML file (multi-document), a folder of YAML files, or a
// kustomize folder rendered with `kubectl kustomize`. Returns raw documents with their origin.
import { execFile } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../../functions/_shared/errors.js';

export interface RawDocument {
  /** Where it came from: `file.yaml#2` (third document) or `dir (kustomize)#5`. */
  origin: string;
  value: unknown;
}

export interface SourceOptions {
  /** The kubectl binary used for kustomize folders (default `kubectl` on PATH). */
  kubectl?: string;
  kustomizeTimeoutMs?: number;
}

const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/**
 * Reads every document under `path`:
 * - a file: its YAML documents;
 * - a folder with a kustomization file: `kubectl kustomize <folder>`;
 * - a folder without one but with `base/kustomization.yaml` (the layout of `knative/`): that base;
 * - any other folder: its `*.yaml` / `*.yml` files, not recursing.
 */
export async function readManifestDocuments(path: string, options: SourceOptions = {}): Promise<RawDocument[]> {
  const info = await stat(path).catch((e: unknown) => {
    throw new ConfigError(`manifests: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  });
  if (info.isFile()) return parseYaml(await readFile(path, 'utf8'), path);
  if (await hasKustomization(path)) return kustomize(path, options);
  const base = join(path, 'base');
  if (await hasKustomization(base)) return kustomize(base, options);
  const files = (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new ConfigError(`manifests: ${path} holds no .yaml files and no kustomization`);
  const docs: RawDocument[] = [];
  for (const f of files) docs.push(...parseYaml(await readFile(join(path, f), 'utf8'), join(path, f)));
  return docs;
}

async function hasKustomization(dir: string): Promise<boolean> {
  for (const name of KUSTOMIZATION_NAMES) {
    if (
      await stat(join(dir, name)).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return true;
  }
  return false;
}

export function parseYaml(text: string, origin: string): RawDocument[] {
  const out: RawDocument[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new ConfigError(`${origin}#${i}: invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push({ origin: `${origin}#${i}`, value });
  });
  return out;
}

function kustomize(dir: string, options: SourceOptions): Promise<RawDocument[]> {
  const kubectl = options.kubectl ?? 'kubectl';
  return new Promise((resolveDocs, reject) => {
    execFile(
      kubectl,
      ['kustomize', dir],
      { timeout: options.kustomizeTimeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) {
          try {
            resolveDocs(parseYaml(stdout, `${dir} (kustomize)`));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
          return;
        }
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new ConfigError(
              `manifests: ${dir} is a kustomize folder and rendering it needs \`kubectl kustomize\`, but "${kubectl}" was not found; install kubectl or point --manifests at plain YAML files`,
              { cause: error },
            ),
          );
          return;
        }
        reject(
          new ConfigError(`manifests: \`${kubectl} kustomize ${dir}\` failed: ${stderr.trim() || error.message}`, {
            cause: error,
          }),
        );
      },
    );
  });
}
