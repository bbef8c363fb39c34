// What the image ships: the files the Dockerfile's COPY lines take from the build context,
// after Dockerfile.dockerignore. None may be a test, a benchmark or a test helper, and every
// relative import of a shipped module must resolve to another shipped file (else the pod fails
// at start). No Docker engine is needed: the build context is read from the working tree.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../test/support/fixtures.js';

const DOCKERFILE = join(import.meta.dirname, 'Dockerfile');
const IGNORE_FILE = join(import.meta.dirname, 'Dockerfile.dockerignore');

/** Sources of `COPY` instructions that read the build context (not `--from=<stage>`). */
export function copySources(dockerfile: string): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'COPY') continue;
    const args = words.slice(1);
    if (args.some((a) => a.startsWith('--from'))) continue;
    sources.push(...args.filter((a) => !a.startsWith('--')).slice(0, -1));
  }
  return sources;
}

/** A .dockerignore pattern as a regular expression over context-relative paths. */
export function ignorePattern(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split(/(\*\*\/|\*\*|\*|\?)/)
    .map((part) => {
      if (part === '**/') return '(?:.*/)?';
      if (part === '**') return '.*';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  // A pattern that names a folder leaves out everything under it.
  return new RegExp(`^${body}(?:/.*)?$`);
}

function ignoreRules(text: string): Array<{ re: RegExp; keep: boolean }> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) =>
      l.startsWith('!') ? { re: ignorePattern(l.slice(1)), keep: true } : { re: ignorePattern(l), keep: false },
    );
}

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => filesUnder(join(path, name)));
}

/** Context-relative paths of every file the image gets. */
export function shippedFiles(root: string, dockerfile: string, dockerignore: string): string[] {
  const rules = ignoreRules(dockerignore);
  const ignored = (rel: string): boolean => rules.reduce((out, r) => (r.re.test(rel) ? !r.keep : out), false);
  return copySources(dockerfile)
    .flatMap((source) => filesUnder(join(root, source)))
    .map((abs) => relative(root, abs))
    .filter((rel) => !ignored(rel))
    .sort();
}

/** Names that say test or benchmark, whatever folder they are in. */
const NOT_PRODUCTION = [
  /\.test\.ts$/,
  /(^|\/)(test|tests|__tests__|fixtures?|testdata|bench)\//,
  /(^|\/)(bench|testing|test-[^/]*|[^/]*-test|fixtures?|[^/]*test-support[^/]*|[^/]*test-harness[^/]*)\.ts$/,
];

describe('the image', () => {
  const shipped = shippedFiles(REPO_ROOT, readFileSync(DOCKERFILE, 'utf8'), readFileSync(IGNORE_FILE, 'utf8'));

  it('copies the function sources, the pod entry and the event layer', () => {
    expect(shipped).toContain('functions/_main/main.ts');
    expect(shipped).toContain('functions/splitter/index.ts');
    expect(shipped).toContain('events/catalog.ts');
    expect(shipped).toContain('package-lock.json');
  });

  it('copies no test, benchmark or test helper', () => {
    expect(shipped.filter((f) => NOT_PRODUCTION.some((re) => re.test(f)))).toEqual([]);
  });

  it('holds every module a shipped module imports', () => {
    const have = new Set(shipped);
    const missing: string[] = [];
    for (const file of shipped.filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
        const target = normalize(join(dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts')));
        if (!have.has(target) && existsSync(join(REPO_ROOT, target))) missing.push(`${file} → ${target}`);
        else if (!have.has(target)) missing.push(`${file} → ${target} (no such file)`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('the rules this test reads the image with', () => {
  it.each([
    { name: 'a test beside its module', pattern: '**/*.test.ts', path: 'functions/x/a.test.ts', want: true },
    { name: 'a top-level test file', pattern: '**/*.test.ts', path: 'a.test.ts', want: true },
    { name: 'a module', pattern: '**/*.test.ts', path: 'functions/x/a.ts', want: false },
    { name: 'a folder and what it holds', pattern: 'test', path: 'test/support/jobs.ts', want: true },
    { name: 'a folder name inside another', pattern: 'test', path: 'functions/test.ts', want: false },
    { name: 'one level of star', pattern: 'functions/*/bench.ts', path: 'functions/p/bench.ts', want: true },
  ])('ignore pattern: $name', ({ pattern, path, want }) => {
    expect(ignorePattern(pattern).test(path)).toBe(want);
  });

  it('reads COPY sources, skipping other stages and the destination', () => {
    const text =
      'FROM a AS node\nCOPY --from=node /usr/local /usr/local\nCOPY package.json package-lock.json ./\nCOPY --chown=1000 functions \\\n  ./functions\n';
    expect(copySources(text)).toEqual(['package.json', 'package-lock.json', 'functions']);
  });

  it('would catch a test helper left in a shipping folder', () => {
    const dockerfile = 'COPY functions ./functions\n';
    const leaked = shippedFiles(REPO_ROOT, dockerfile, '').filter((f) => NOT_PRODUCTION.some((re) => re.test(f)));
    // Without the ignore file, the tests beside the modules would ship, and this test says so.
    expect(leaked.length).toBeGreaterThan(0);
    expect(leaked.every((f) => f.endsWith('.test.ts'))).toBe(true);
  });
});
