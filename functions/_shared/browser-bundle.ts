// A browser page's assets made in the process that serves it: `<dir>/main.ts` (and what it
// imports) bundled by esbuild into one script, and `<dir>/style.css`. The image runs the
// TypeScript sources as they are (no build step), so the predictor's page and the runtime's
// dashboard both bundle at run time; a failure is an UnavailableError naming the page.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { UnavailableError } from './errors.js';

export interface BrowserAssets {
  readonly script: string;
  readonly style: string;
}

/** Bundles `dir/main.ts` for the browser (ES2022, minified, one IIFE) and reads `dir/style.css`. */
export async function bundleBrowserPage(dir: string, what: string): Promise<BrowserAssets> {
  try {
    const [result, style] = await Promise.all([
      build({
        entryPoints: [join(dir, 'main.ts')],
        bundle: true,
        write: false,
        format: 'iife',
        target: ['es2022'],
        platform: 'browser',
        minify: true,
        legalComments: 'none',
        logLevel: 'silent',
      }),
      readFile(join(dir, 'style.css'), 'utf8'),
    ]);
    const script = result.outputFiles[0]?.text;
    if (script === undefined) throw new UnavailableError(`esbuild produced no ${what} script`);
    return { script, style };
  } catch (cause) {
    if (cause instanceof UnavailableError) throw cause;
    throw new UnavailableError(`bundling the ${what} failed: ${(cause as Error).message}`, { cause });
  }
}
