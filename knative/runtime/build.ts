// How a worker process is started. `bundle` (default): the function's module graph and the
// worker entry are compiled once with esbuild into .kaskade/build/<target>-<hash>.mjs (npm
// packages stay external), so a cold start pays for Node and the Functions Framework only.
// `tsx`: `node --import tsx functions/_main/main.ts` (the pod's own entry), slower to start (~200 ms more: tsx's loader
// thread) but with no build step. A failed build falls back to tsx.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { ConfigError } from '../../functions/_shared/errors.js';
import type { Logger } from '../../functions/_shared/log.js';
import { REPO_ROOT, WORKER_MAIN, WORKER_SERVER } from './paths.js';

export type WorkerMode = 'bundle' | 'tsx';
export type WorkerCommand = readonly [string, ...string[]];

export function tsxCommand(): WorkerCommand {
  return [process.execPath, '--enable-source-maps', '--import', 'tsx', WORKER_MAIN];
}

/** The command that starts a worker for `source` (the function module), building it if needed. */
export async function workerCommand(mode: WorkerMode, source: string, logger: Logger): Promise<WorkerCommand> {
  if (mode === 'tsx') return tsxCommand();
  try {
    return [process.execPath, '--enable-source-maps', await bundleWorker(source)];
  } catch (e) {
    logger.warn(`bundling ${source} failed, starting its workers with tsx instead: ${(e as Error).message}`);
    return tsxCommand();
  }
}

/** Builds the bundle (content-addressed, written atomically: concurrent runtimes may share it). */
export async function bundleWorker(source: string): Promise<string> {
  // A dynamic import (still bundled) so that a function failing at load is reported by runWorker.
  const entry = [
    `import { runWorker } from ${JSON.stringify(WORKER_SERVER)};`,
    `await runWorker(process.env, () => import(${JSON.stringify(source)}));`,
  ].join('\n');
  const result = await build({
    stdin: { contents: entry, resolveDir: REPO_ROOT, loader: 'ts', sourcefile: 'kaskade-worker-entry.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
    plugins: [keepImportMeta],
    outfile: 'worker.mjs',
  });
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new ConfigError(`esbuild produced no bundle for ${source}`);
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const name = source.split('/').at(-2) ?? 'worker';
  const out = join(REPO_ROOT, '.kaskade', 'build', `${name}-${hash}.mjs`);
  if (
    !(await stat(out).then(
      () => true,
      () => false,
    ))
  ) {
    await mkdir(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, out);
    await pruneOldBundles(dirname(out), name, out);
  }
  return out;
}

/** Drops bundles of the same function not touched for a day (a running runtime may use a recent one). */
async function pruneOldBundles(dir: string, name: string, keep: string): Promise<void> {
  const dayAgo = Date.now() - 86_400_000;
  for (const f of await readdir(dir)) {
    const path = join(dir, f);
    if (path === keep || !f.startsWith(`${name}-`) || !f.endsWith('.mjs')) continue;
    const info = await stat(path).catch(() => null);
    if (info && info.mtimeMs < dayAgo) await rm(path, { force: true });
  }
}

/**
 * A bundle lives in .kaskade/build, so `import.meta.url` / `dirname` / `filename` would point
 * there: each of our modules gets its own file's values instead, as under tsx.
 */
const keepImportMeta: Plugin = {
  name: 'keep-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = await readFile(args.path, 'utf8');
      const values: Record<string, string> = {
        url: pathToFileURL(args.path).href,
        dirname: dirname(args.path),
        filename: args.path,
      };
      const contents = text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_m, key: string) =>
        JSON.stringify(values[key]),
      );
      return { contents, loader: 'ts' };
    });
  },
};
