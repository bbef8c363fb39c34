// Renders kustomize folders with `kubectl kustomize`, exactly as `kubectl apply -k` would, and
// composes an overlay of a test's own (resources plus components) in a temp folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { resourcesOf, type Resource } from '../../knative/validate.js';

export function renderKustomize(dir: string): Resource[] {
  return resourcesOf(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));
}

/** Renders a kustomization that lists `resources` and `components` (absolute paths), optionally in one namespace. */
export function renderComposed(
  resources: readonly string[],
  components: readonly string[],
  namespace?: string,
): Resource[] {
  const dir = mkdtempSync(join(tmpdir(), 'kaskade-kustomize-'));
  try {
    // kustomize refuses absolute paths; relative ones may leave the folder.
    const rel = (path: string): string => relative(dir, path);
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        ...(namespace ? { namespace } : {}),
        resources: resources.map(rel),
        components: components.map(rel),
      }),
    );
    return renderKustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
