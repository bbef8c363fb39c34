// Where the runtime finds the repository, the functions and the pod entry it starts workers with.
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/** The process a pod runs (the image's CMD). */
export const WORKER_MAIN = join(REPO_ROOT, 'functions', '_main', 'main.ts');
/** Its HTTP side, which a bundled worker imports directly. */
export const WORKER_SERVER = join(REPO_ROOT, 'functions', '_main', 'server.ts');
export const FUNCTIONS_DIR = join(REPO_ROOT, 'functions');
