// Where the test fixtures live, for tests and benchmarks that start the local runtime on them.
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/** Functions that exist only for tests (`echo`): the runtime's `functionsDir` in those tests. */
export const FIXTURE_FUNCTIONS = join(REPO_ROOT, 'test', 'fixtures', 'functions');
/** Knative YAML for the runtime's tests (`echo.yaml`, `routing.yaml`, `kustomize/`). */
export const FIXTURE_MANIFESTS = join(REPO_ROOT, 'test', 'fixtures', 'manifests');
