// What an image built from knative/image/Dockerfile holds, read without a Docker engine: the
// Dockerfile is parsed with dockerfile-ast (the parser of the Docker language server) and the
// build context filtered with @balena/dockerignore (Docker's own matching rules, `!` included).
// Each stage keeps a map from its image paths to the context files they came from, following
// WORKDIR, `COPY <context> <dest>` and `COPY --from=<stage>`; RUN is not modelled, so the list
// is what COPY put there (a RUN that deletes a file would only make the image smaller).
// Also what the pod entry needs at run time (esbuild's metafile). Used by dockerfile.test.ts and
// scripts/image-size.ts; never shipped.
import { readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, join, posix } from 'node:path';
import dockerignore from '@balena/dockerignore';
import { DockerfileParser, type Copy, type Dockerfile, type From, type Instruction } from 'dockerfile-ast';
import { build } from 'esbuild';
import { ConfigError } from '../../functions/_shared/errors.js';

// The package's types declare an ES default export; at run time the CommonJS module itself is
// the factory (module.exports = factory).
const ignore = dockerignore as unknown as typeof dockerignore.default;

export interface Stage {
  /** The `AS` name, if any. */
  name: string | undefined;
  /** The FROM image with build args resolved (`node:20.20.2-bookworm-slim`, or an earlier stage's name). */
  base: string;
  /** Image path (absolute) → context-relative path of the file it was copied from. */
  files: Map<string, string>;
  /** The stage's instructions after its FROM, in order. */
  instructions: Instruction[];
}

/** The build context: the files of `root` that the .dockerignore text lets through. */
export function buildContext(root: string, dockerignore: string): string[] {
  const rules = ignore().add(dockerignore.split('\n'));
  // Whole folders first, so node_modules and .git are never walked.
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = dir === '' ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory()) {
        // A folder left out may still hold re-included files (`!dir/file`): walk it only then.
        const reincludes = dockerignore.split('\n').some((l) => l.trim().startsWith(`!${rel}/`));
        if (rules.ignores(rel) && !reincludes) return [];
        return walk(rel);
      }
      return e.isFile() && !rules.ignores(rel) ? [rel] : [];
    });
  return walk('');
}

/** `${NAME}` and `$NAME` in a FROM line, resolved from the ARGs before it. */
function resolveArgs(d: Dockerfile, text: string, line: number): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, braced?: string, bare?: string) => {
    const value = d.resolveVariable(braced ?? bare ?? '', line);
    if (typeof value !== 'string') throw new ConfigError(`Dockerfile line ${line + 1}: ${all} has no default value`);
    return value;
  });
}

const isFrom = (i: Instruction): i is From => i.getKeyword() === 'FROM';

/** The stages of a Dockerfile, in order, each with the context files its COPY lines put where. */
export function stages(dockerfile: string, context: readonly string[]): Stage[] {
  const d = DockerfileParser.parse(dockerfile);
  const out: Stage[] = [];
  let workdir = '/';
  for (const inst of d.getInstructions()) {
    const line = inst.getRange().start.line;
    if (isFrom(inst)) {
      const base = resolveArgs(d, inst.getImage() ?? '', line);
      const parent = out.find((s) => s.name !== undefined && s.name === base);
      out.push({
        name: inst.getBuildStage() ?? undefined,
        base,
        files: new Map(parent?.files ?? []),
        instructions: [],
      });
      workdir = parent ? stageWorkdir(parent) : '/';
      continue;
    }
    const stage = out.at(-1);
    if (!stage) continue; // ARGs before the first FROM
    stage.instructions.push(inst);
    const keyword = inst.getKeyword();
    if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, inst.getArguments()[0]?.getValue() ?? '.');
    if (keyword === 'ADD')
      throw new ConfigError(`Dockerfile line ${line + 1}: ADD is not read here; use COPY for context files`);
    if (keyword === 'COPY') copyInto(stage, inst as Copy, workdir, out, context, line);
  }
  return out;
}

function stageWorkdir(stage: Stage): string {
  let dir = '/';
  for (const i of stage.instructions)
    if (i.getKeyword() === 'WORKDIR') dir = posix.resolve(dir, i.getArguments()[0]?.getValue() ?? '.');
  return dir;
}

function copyInto(
  stage: Stage,
  copy: Copy,
  workdir: string,
  all: Stage[],
  context: readonly string[],
  line: number,
): void {
  const args = copy.getArguments().map((a) => a.getValue());
  const dest = args.at(-1);
  const sources = args.slice(0, -1);
  if (dest === undefined || sources.length === 0) return;
  if (sources.some((s) => /[*?[]/.test(s)))
    throw new ConfigError(`Dockerfile line ${line + 1}: wildcard COPY sources are not read here; name them`);
  const destDir = posix.resolve(workdir, dest);
  const intoDir = dest.endsWith('/') || sources.length > 1;
  const from = copy.getFromFlag()?.getValue() ?? undefined;
  // Each source as the pairs (path relative to the source, where it came from in the context).
  const take = (source: string): Array<[string, string]> => {
    if (from === undefined) {
      const s = posix.normalize(source).replace(/^\.?\/+|\/+$/g, '');
      if (s === '' || s === '.') return context.map((f) => [f, f]);
      return context
        .filter((f) => f === s || f.startsWith(`${s}/`))
        .map((f) => [f === s ? '' : f.slice(s.length + 1), f]);
    }
    const src = all.find((x) => x.name === from);
    if (!src) return []; // an outside image (node:…): no context files in it
    const s = posix.resolve('/', source);
    return [...src.files]
      .filter(([p]) => p === s || p.startsWith(`${s}/`))
      .map(([p, f]) => [p === s ? '' : p.slice(s.length + 1), f]);
  };
  for (const source of sources) {
    for (const [inside, file] of take(source)) {
      const target =
        inside === ''
          ? intoDir || isContextDir(context, source)
            ? posix.join(destDir, basename(source))
            : destDir
          : posix.join(destDir, inside);
      stage.files.set(target, file);
    }
  }
}

const isContextDir = (context: readonly string[], source: string): boolean =>
  context.some((f) => f.startsWith(`${posix.normalize(source).replace(/\/+$/, '')}/`));

/** The stage a `--target` builds (the last one without a target). */
export function targetStage(all: readonly Stage[], target?: string): Stage {
  const stage = target === undefined ? all.at(-1) : all.find((s) => s.name === target);
  if (!stage) throw new ConfigError(`the Dockerfile has no stage ${target ?? ''}`);
  return stage;
}

/** The stages a target needs: itself, the stages it is FROM, and those it copies from, recursively. */
export function stagesNeeded(all: readonly Stage[], target: Stage): Stage[] {
  const need = new Set<Stage>();
  const visit = (s: Stage): void => {
    if (need.has(s)) return;
    need.add(s);
    const parent = all.find((x) => x.name !== undefined && x.name === s.base);
    if (parent) visit(parent);
    for (const i of s.instructions) {
      const from = i.getKeyword() === 'COPY' ? (i as Copy).getFromFlag()?.getValue() : undefined;
      const src = all.find((x) => x.name !== undefined && x.name === from);
      if (src) visit(src);
    }
  };
  visit(target);
  return all.filter((s) => need.has(s));
}

/** Total size in bytes of the files under `path` (what a layer of them holds, before compression). */
export function treeBytes(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  return readdirSync(path).reduce((sum, name) => sum + treeBytes(join(path, name)), 0);
}

/** What the pod's code needs at run time: the repository files it imports, and the packages. */
export interface RuntimeNeeds {
  files: string[];
  packages: string[];
}

const packageOf = (spec: string): string =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * Follows the imports of the pod entry (functions/_main/main.ts), of every function it can load
 * (functions/<name>/index.ts: main.ts imports them by a computed path, which no bundler sees)
 * and of the predictor page's script (bundled by the predictor when it starts) with esbuild,
 * whose metafile lists every input file and every package left external.
 */
export async function runtimeNeeds(root: string): Promise<RuntimeNeeds> {
  const functions = readdirSync(join(root, 'functions'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('_'))
    .map((e) => `functions/${e.name}/index.ts`)
    .filter((f) => statSync(join(root, f), { throwIfNoEntry: false })?.isFile() === true);
  const common = { bundle: true, write: false, metafile: true, logLevel: 'silent', absWorkingDir: root } as const;
  const [server, page] = await Promise.all([
    build({
      ...common,
      entryPoints: ['functions/_main/main.ts', ...functions],
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outdir: 'out',
    }),
    build({ ...common, entryPoints: ['functions/predictor/page/main.ts'], platform: 'browser', outdir: 'out' }),
  ]);
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const meta of [server.metafile, page.metafile]) {
    for (const [file, input] of Object.entries(meta.inputs)) {
      // A package the page bundles is read from node_modules when the predictor starts.
      if (file.startsWith('node_modules/')) packages.add(packageOf(file.slice('node_modules/'.length)));
      else files.add(file);
      for (const imp of input.imports)
        if (imp.external && !imp.path.startsWith('node:') && !builtinModules.includes(imp.path))
          packages.add(packageOf(imp.path));
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}
