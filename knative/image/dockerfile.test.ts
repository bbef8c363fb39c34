// What each image ships, read without a Docker engine (knative/image/contents.ts): the files the
// Dockerfile's COPY lines take from the build context that Dockerfile.dockerignore lets through,
// stage by stage. None may be a test, benchmark, fixture, doc, secret, .git or the host's
// node_modules; every file and package the pod entry needs at run time must be there. Then the
// Dockerfile is linted (dockerfile-utils) and held to the checklist of knative/image/README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../test/support/fixtures.js';
import {
  buildContext,
  runtimeNeeds,
  stages,
  stagesNeeded,
  targetStage,
  type RuntimeNeeds,
  type Stage,
} from './contents.js';

const DOCKERFILE_TEXT = readFileSync(join(import.meta.dirname, 'Dockerfile'), 'utf8');
const IGNORE_TEXT = readFileSync(join(import.meta.dirname, 'Dockerfile.dockerignore'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
};
const VARIANTS = [
  { target: 'cpu', tfjs: '@tensorflow/tfjs-node', other: '@tensorflow/tfjs-node-gpu' },
  { target: 'gpu', tfjs: '@tensorflow/tfjs-node-gpu', other: '@tensorflow/tfjs-node' },
] as const;
const APP = '/app';

/** Files that are not production code, wherever they sit. */
const NOT_PRODUCTION: Array<[string, RegExp]> = [
  ['test', /\.test\.ts$|\.reliability\.ts$|(^|\/)(test|tests|__tests__)\//],
  [
    'test helper',
    /(^|\/)(testing|test-[^/]*|[^/]*-test|[^/]*test-(support|harness)[^/]*)\.ts$|(^|\/)(fakes?|support)\//,
  ],
  ['benchmark', /(^|\/)bench(es)?(\/|\.ts$)|\.bench\.ts$/],
  ['fixture', /(^|\/)(fixtures?|testdata)(\/|\.ts$)/],
  ['doc', /\.md$|(^|\/)README-images\//],
  ['git', /(^|\/)\.git(\/|$)/],
  ["the host's node_modules", /(^|\/)node_modules\//],
  ['local state', /(^|\/)(\.kaskade|coverage)\//],
  [
    'secret',
    /(^|\/)\.env(\.|$)|\.(pem|key|p12|pfx|jks)$|(^|\/)id_(rsa|ecdsa|ed25519)|credentials[^/]*\.json$|service-account[^/]*\.json$|(^|\/)\.(npmrc|netrc|docker\/config\.json)$/,
  ],
];
const notProduction = (files: Iterable<string>): string[] =>
  [...files].flatMap((f) => NOT_PRODUCTION.filter(([, re]) => re.test(f)).map(([what]) => `${f} (${what})`));

const context = buildContext(REPO_ROOT, IGNORE_TEXT);
const all = stages(DOCKERFILE_TEXT, context);
const argv = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
const runText = (s: Stage): string =>
  s.instructions
    .filter((i) => i.getKeyword() === 'RUN')
    .map((i) => i.getArgumentsContent() ?? '')
    .join('\n');

describe('the build context', () => {
  it('is the allowlisted sources and install files, with no test, doc, secret or host state', () => {
    expect(context).toContain('package-lock.json');
    expect(context).toContain('functions/_main/main.ts');
    expect(context.filter((f) => !/^(functions|events)\//.test(f)).sort()).toEqual([
      '.npmrc',
      'knative/image/prune-modules.sh',
      'package-lock.json',
      'package.json',
      'tsconfig.json',
    ]);
    // .npmrc is in the context for the install stages only (the images are checked below).
    expect(notProduction(context.filter((f) => f !== '.npmrc'))).toEqual([]);
  });
});

let needs: RuntimeNeeds;
beforeAll(async () => {
  needs = await runtimeNeeds(REPO_ROOT);
}, 120_000);

describe.each(VARIANTS)('the $target image', ({ target, tfjs }) => {
  const stage = targetStage(all, target);
  const needed = stagesNeeded(all, stage);
  const shipped = new Map(stage.files);

  it('takes the sources at their repository paths under /app', () => {
    for (const [path, file] of shipped) expect(path, file).toBe(`${APP}/${file}`);
    expect(shipped.get(`${APP}/functions/_main/main.ts`)).toBe('functions/_main/main.ts');
    expect(shipped.get(`${APP}/package.json`)).toBe('package.json');
  });

  it('ships no test, benchmark, fixture, doc, secret, .git or host node_modules', () => {
    expect(notProduction(shipped.values())).toEqual([]);
    // Nor the install stages' files (.npmrc, the lock file, prune-modules.sh): sources and package.json only.
    const other = [...shipped.values()].filter((f) => !/^(functions|events)\//.test(f));
    expect(other.sort()).toEqual(['package.json', 'tsconfig.json']);
  });

  it('ships every file the pod entry, each function and the predictor page need at run time', () => {
    const have = new Set(shipped.values());
    // Read from disk by the predictor, not imported: page/style.css beside page/main.ts.
    const wanted = [...needs.files, 'functions/predictor/page/style.css'];
    expect(wanted.filter((f) => !have.has(f))).toEqual([]);
    expect(needs.files).toContain('functions/_main/server.ts');
    expect(needs.files).toContain('functions/splitter/index.ts');
    expect(needs.files).toContain('functions/predictor/page/main.ts');
  });

  it('installs every package that code imports, and tsx for the entry, as production dependencies', () => {
    const cmd = stage.instructions.filter((i) => i.getKeyword() === 'CMD').at(-1);
    const cmdArgs = cmd ? (JSON.parse(cmd.getArgumentsContent() ?? '[]') as string[]) : [];
    const preloads = cmdArgs.flatMap((a, i) => (cmdArgs[i - 1] === '--import' ? [a] : []));
    const prod = new Set([...Object.keys(PACKAGE.dependencies), ...Object.keys(PACKAGE.optionalDependencies)]);
    expect(preloads).toEqual(['tsx']);
    expect([...needs.packages, ...preloads].filter((p) => !prod.has(p))).toEqual([]);
    // The backend ladder loads native TF.js by a computed name, which no bundler follows.
    expect(readFileSync(join(REPO_ROOT, 'functions/_shared/engine/ladder.ts'), 'utf8')).toContain(`'${tfjs}'`);
    expect(Object.keys(PACKAGE.optionalDependencies)).toContain(tfjs);
    // node_modules comes from this variant's install stage, which drops the other variant's TF.js.
    const copy = stage.instructions.find((i) => i.getKeyword() === 'COPY' && argv(i).at(-1) === './node_modules') as
      Copy | undefined;
    const deps = all.find((s) => s.name === copy?.getFromFlag()?.getValue());
    expect(deps?.name).toBe(`deps-${target}`);
    const run = deps ? runText(deps) : '';
    expect(run).toMatch(/npm ci --omit=dev\b/);
    // Pruned before any install script runs, so the other variant's libtensorflow is never fetched.
    const order = ['npm ci --omit=dev', `sh prune-modules.sh ${target}`, 'npm rebuild'].map((c) => run.indexOf(c));
    expect(
      order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0))),
      run,
    ).toBe(true);
    expect(deps?.files.get('/app/prune-modules.sh')).toBe('knative/image/prune-modules.sh');
  });

  it('runs the pod entry as a numeric non-root user, with no install or HEALTHCHECK in the runtime stage', () => {
    const users = stage.instructions.filter((i) => i.getKeyword() === 'USER').map((i) => argv(i).join(' '));
    expect(users.at(-1)).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const cmd = stage.instructions.filter((i) => i.getKeyword() === 'CMD').at(-1);
    expect(JSON.parse(cmd?.getArgumentsContent() ?? 'null')).toEqual([
      'node',
      '--import',
      'tsx',
      'functions/_main/main.ts',
    ]);
    expect(runText(stage)).not.toMatch(/\bnpm\b|\bapt-get\b/);
    expect(stage.instructions.map((i) => i.getKeyword())).not.toContain('HEALTHCHECK');
    expect(stage.instructions.find((i) => i.getKeyword() === 'EXPOSE')?.getArgumentsContent()).toBe('8080');
  });

  it(`downloads ONNX Runtime's CUDA provider only for the gpu image`, () => {
    const overrides = needed.filter((s) =>
      s.instructions.some((i) => /ONNXRUNTIME_NODE_INSTALL|onnxruntime-node-install/.test(i.toString())),
    );
    if (target === 'cpu') expect(overrides.map((s) => s.name)).toEqual([]);
    else {
      expect(overrides.map((s) => s.name)).toEqual(['deps-gpu']);
      const env = overrides[0]?.instructions.find((i) => i.getKeyword() === 'ENV');
      expect(env?.getArgumentsContent()).toBe('ONNXRUNTIME_NODE_INSTALL=cuda12');
    }
  });
});

describe('the Dockerfile', () => {
  const d = DockerfileParser.parse(DOCKERFILE_TEXT);

  it('passes dockerfile-utils, every check at error level', () => {
    const strict: ValidatorSettings = {
      deprecatedMaintainer: ValidationSeverity.ERROR,
      directiveCasing: ValidationSeverity.ERROR,
      emptyContinuationLine: ValidationSeverity.ERROR,
      instructionCasing: ValidationSeverity.ERROR,
      instructionCmdMultiple: ValidationSeverity.ERROR,
      instructionEntrypointMultiple: ValidationSeverity.ERROR,
      instructionHealthcheckMultiple: ValidationSeverity.ERROR,
      instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
      instructionWorkdirRelative: ValidationSeverity.ERROR,
    };
    const found = validate(DOCKERFILE_TEXT, strict).map(
      (p) => `line ${p.range.start.line + 1}: ${typeof p.message === 'string' ? p.message : p.message.value}`,
    );
    expect(found).toEqual([]);
  });

  it('pins every outside base image to a version, uses no ADD, and builds the cpu image by default', () => {
    const outside = all.filter((s) => !all.some((x) => x.name === s.base)).map((s) => s.base);
    expect(outside.length).toBeGreaterThan(0);
    for (const base of outside) expect(base).toMatch(/^[\w./-]+:\d+\.\d+\.\d+-[\w.-]+$/);
    expect(d.getInstructions().map((i) => i.getKeyword())).not.toContain('ADD');
    expect(all.at(-1)?.name).toBe('cpu');
  });

  it(".npmrc skips ONNX Runtime's CUDA download, and deps-gpu's environment variable overrides it", () => {
    // What onnxruntime-node's own install script decides, given the config each install stage has.
    const decide = (env: Record<string, string>): string => {
      const utils = join(REPO_ROOT, 'node_modules', 'onnxruntime-node', 'script', 'install-utils.js');
      const r = spawnSync(
        process.execPath,
        ['-e', `console.log(String(require(${JSON.stringify(utils)}).parseInstallFlag()))`],
        { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 },
      );
      return r.stdout.trim();
    };
    expect(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
    const npmrc = { npm_config_onnxruntime_node_install: 'skip' };
    expect(decide(npmrc)).toBe('false'); // deps-cpu: skipped
    // deps-gpu: not skipped; with no explicit list the script installs its platform's default, cuda12 on linux/x64.
    expect(decide({ ...npmrc, ONNXRUNTIME_NODE_INSTALL: 'cuda12' })).not.toBe('false');
    const metadata = join(REPO_ROOT, 'node_modules', 'onnxruntime-node', 'script', 'install-metadata.js');
    const linux = spawnSync(
      process.execPath,
      ['-e', `console.log(JSON.stringify(require(${JSON.stringify(metadata)}).requirements['linux/x64']))`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(JSON.parse(linux.stdout) as unknown).toEqual(['cuda12']);
  });

  it('installs apt packages without recommends and drops the package lists in the same layer', () => {
    const runs = d.getInstructions().filter((i) => i.getKeyword() === 'RUN' && /apt-get install/.test(i.toString()));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(run.toString()).toMatch(/apt-get update/);
      expect(run.toString()).toMatch(/apt-get install -y --no-install-recommends/);
      expect(run.toString()).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
    }
  });

  it('is built by cloudbuild.yaml for a target that exists', () => {
    const cloudbuild = parse(readFileSync(join(import.meta.dirname, 'cloudbuild.yaml'), 'utf8')) as {
      steps: Array<{ args: string[] }>;
      substitutions: Record<string, string>;
    };
    const args = cloudbuild.steps[0]?.args ?? [];
    expect(args[args.indexOf('--target') + 1]).toBe('${_VARIANT}');
    expect(all.map((s) => s.name)).toContain(cloudbuild.substitutions._VARIANT);
    expect(all.map((s) => s.name)).toEqual(expect.arrayContaining(VARIANTS.map((v) => v.target)));
  });
});

describe('prune-modules.sh', () => {
  const tree = [
    '@tensorflow/tfjs-node/package.json',
    '@tensorflow/tfjs-node-gpu/package.json',
    '@tensorflow/tfjs/package.json',
    `onnxruntime-node/bin/napi-v6/linux/${process.arch}/onnxruntime_binding.node`,
    `onnxruntime-node/bin/napi-v6/linux/${process.arch === 'x64' ? 'arm64' : 'x64'}/onnxruntime_binding.node`,
    'onnxruntime-node/bin/napi-v6/darwin/arm64/onnxruntime_binding.node',
    'onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime_binding.node',
    'onnxruntime-node/dist/index.js',
    'onnxruntime-node/dist/index.js.map',
    '@tensorflow/tfjs/dist/tf.node.js.map',
    '@tensorflow/tfjs/dist/index.d.ts.map',
  ];
  const prune = (arg: string): { code: number | null; left: string[] } => {
    const dir = mkdtempSync(join(tmpdir(), 'kaskade-prune-'));
    try {
      for (const f of tree) {
        mkdirSync(dirname(join(dir, 'node_modules', f)), { recursive: true });
        writeFileSync(join(dir, 'node_modules', f), '');
      }
      const r = spawnSync('sh', [join(import.meta.dirname, 'prune-modules.sh'), arg], { cwd: dir, encoding: 'utf8' });
      const left = tree.filter((f) => existsSync(join(dir, 'node_modules', f)));
      return { code: r.status, left };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  it.each(VARIANTS)("$target keeps $tfjs and this platform's ONNX Runtime, and drops $other", ({ target, tfjs }) => {
    const { code, left } = prune(target);
    expect(code).toBe(0);
    // Source maps go; the code they map stays.
    expect(left).toEqual([
      `${tfjs}/package.json`,
      '@tensorflow/tfjs/package.json',
      `onnxruntime-node/bin/napi-v6/linux/${process.arch}/onnxruntime_binding.node`,
      'onnxruntime-node/dist/index.js',
    ]);
  });
  it('refuses an unknown variant and removes nothing', () => {
    const { code, left } = prune('tpu');
    expect(code).toBe(2);
    expect(left).toEqual(tree);
  });
});

describe('the rules this test reads an image with', () => {
  const ctx = ['package.json', 'functions/a/index.ts', 'functions/a/x.ts', 'events/e.ts', 'secret.pem'];

  it('follows WORKDIR, directory and file copies, stages built FROM a stage, and COPY --from', () => {
    const text = [
      'ARG V=1.2.3',
      'FROM node:${V}-slim AS deps',
      'WORKDIR /w',
      'COPY package.json ./',
      'COPY functions ./src',
      'FROM deps AS more',
      'COPY events/e.ts e.ts',
      'FROM node:${V}-slim AS final',
      'WORKDIR /app',
      'COPY --from=more /w/src/a ./a',
      'COPY --from=node /usr/local /usr/local',
    ].join('\n');
    const parsed = stages(text, ctx);
    const [deps, more, final] = parsed;
    expect(deps?.base).toBe('node:1.2.3-slim');
    expect([...(deps?.files ?? [])]).toEqual([
      ['/w/package.json', 'package.json'],
      ['/w/src/a/index.ts', 'functions/a/index.ts'],
      ['/w/src/a/x.ts', 'functions/a/x.ts'],
    ]);
    expect(more?.files.get('/w/e.ts')).toBe('events/e.ts');
    expect(more?.files.size).toBe(4);
    expect([...(final?.files ?? [])]).toEqual([
      ['/app/a/index.ts', 'functions/a/index.ts'],
      ['/app/a/x.ts', 'functions/a/x.ts'],
    ]);
    expect(stagesNeeded(parsed, targetStage(parsed, 'final')).map((s) => s.name)).toEqual(['deps', 'more', 'final']);
    expect(stagesNeeded(parsed, targetStage(parsed, 'deps')).map((s) => s.name)).toEqual(['deps']);
  });

  it('reads the context with Docker ignore rules: an allowlist, folders, ** and re-includes', () => {
    const ctxOf = (rules: string): string[] => buildContext(REPO_ROOT, rules);
    const events = ctxOf('*\n!events\nevents/**/*.test.ts\n');
    expect(events).toContain('events/catalog.ts');
    expect(events).not.toContain('events/catalog.test.ts');
    expect(events.every((f) => f.startsWith('events/'))).toBe(true);
    expect(ctxOf('*\n!package.json\n')).toEqual(['package.json']);
  });

  it('would catch tests, docs and a secret in the image', () => {
    // The same Dockerfile with an ignore file that forgets the tests and docs.
    const leaky = stages(
      DOCKERFILE_TEXT,
      buildContext(REPO_ROOT, '*\n!package.json\n!tsconfig.json\n!functions\n!events\n'),
    );
    const leaked = notProduction(targetStage(leaky, 'cpu').files.values());
    expect(leaked.some((f) => f.endsWith('.test.ts (test)'))).toBe(true);
    expect(leaked.some((f) => f.endsWith('README.md (doc)'))).toBe(true);
    const withSecret = stages('FROM node:1.2.3-slim\nCOPY . /app\n', ctx);
    expect(notProduction(targetStage(withSecret).files.values())).toEqual(['secret.pem (secret)']);
  });

  it('would catch a needed file the image lacks', () => {
    const partial = stages('FROM node:1.2.3-slim AS cpu\nWORKDIR /app\nCOPY events ./events\n', context);
    const have = new Set(targetStage(partial, 'cpu').files.values());
    expect(needs.files.filter((f) => !have.has(f))).toContain('functions/_main/main.ts');
  });
});
