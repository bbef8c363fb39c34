// `npm run image-size [-- --json]`: what the cpu and gpu images of knative/image/Dockerfile add
// to their base images, measured without a Docker engine. The production dependencies are
// installed as the Dockerfile's install stages do (`npm ci --omit=dev`, the other variant's
// TF.js and other platforms' binaries removed by knative/image/prune-modules.sh) into a temporary folder, and the sources are the files its COPY lines take
// (knative/image/contents.ts). Install scripts are not run (`--ignore-scripts`): what they
// download (libtensorflow, ONNX Runtime's CUDA provider) needs hosts this machine cannot reach,
// so those rows, and the base images, are reported as not measured.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../functions/_shared/errors.js';
import { buildContext, stages, targetStage, treeBytes } from '../knative/image/contents.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE_DIR = join(ROOT, 'knative', 'image');
const VARIANTS = [
  { target: 'cpu', keep: '@tensorflow/tfjs-node' },
  { target: 'gpu', keep: '@tensorflow/tfjs-node-gpu' },
] as const;

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

function install(): { dir: string; seconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'kaskade-image-size-'));
  for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(ROOT, f), join(dir, f));
  const started = Date.now();
  const r = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30 * 60_000,
  });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(r.stderr);
    process.stderr.write(`npm ci --omit=dev failed (${r.status ?? r.signal ?? 'error'})\n`);
    process.exit(1);
  }
  return { dir, seconds: (Date.now() - started) / 1000 };
}

/** Top-level packages by size (a scope's packages one by one). */
function packages(nodeModules: string): Array<{ name: string; bytes: number }> {
  return readdirSync(nodeModules)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? readdirSync(join(nodeModules, n)).map((m) => `${n}/${m}`) : [n]))
    .map((name) => ({ name, bytes: treeBytes(join(nodeModules, name)) }))
    .sort((a, b) => b.bytes - a.bytes);
}

const json = process.argv.includes('--json');
const context = buildContext(ROOT, readFileSync(join(IMAGE_DIR, 'Dockerfile.dockerignore'), 'utf8'));
const all = stages(readFileSync(join(IMAGE_DIR, 'Dockerfile'), 'utf8'), context);
const { dir, seconds } = install();
try {
  const nodeModules = join(dir, 'node_modules');
  const unpruned = treeBytes(nodeModules);
  const tfjs = Object.fromEntries(VARIANTS.map((v) => [v.target, treeBytes(join(nodeModules, v.keep))]));
  // The install stages' own pruning (knative/image/prune-modules.sh); the variants differ only in
  // which TF.js package stays, so the cpu run gives both.
  const pruned = spawnSync('sh', [join(IMAGE_DIR, 'prune-modules.sh'), 'cpu'], { cwd: dir, encoding: 'utf8' });
  if (pruned.status !== 0) throw new UnavailableError(`prune-modules.sh failed: ${pruned.stderr}`);
  const cpuDeps = treeBytes(nodeModules);
  const pkgs = packages(nodeModules);
  const rows = VARIANTS.map(({ target }) => {
    const files = [...targetStage(all, target).files.values()];
    const sources = files.reduce((sum, f) => sum + treeBytes(join(ROOT, f)), 0);
    const deps = cpuDeps - (tfjs.cpu ?? 0) + (tfjs[target] ?? 0);
    return { target, files: files.length, sources, deps, added: sources + deps };
  });
  const load = loadavg()[0] ?? 0;
  if (json) {
    process.stdout.write(`${JSON.stringify({ rows, unpruned, top: pkgs.slice(0, 10), load, cpus: cpus().length })}\n`);
  } else {
    const out = [
      `# Kaskade image size, without a Docker engine (npm ci --omit=dev --ignore-scripts: ${seconds.toFixed(0)} s; load ${load.toFixed(1)} on ${cpus().length} CPUs)`,
      '',
      '| layer | cpu (MB) | gpu (MB) | how |',
      '|---|---:|---:|---|',
      `| sources (${rows[0]?.files ?? 0} files) | ${mb(rows[0]?.sources ?? 0)} | ${mb(rows[1]?.sources ?? 0)} | the files the COPY lines take (knative/image/contents.ts) |`,
      `| node_modules | ${mb(rows[0]?.deps ?? 0)} | ${mb(rows[1]?.deps ?? 0)} | npm ci --omit=dev, then prune-modules.sh (${mb(unpruned)} before) |`,
      `| **added to the base, measured** | **${mb(rows[0]?.added ?? 0)}** | **${mb(rows[1]?.added ?? 0)}** | uncompressed |`,
      '| libtensorflow (install script) | not measured | not measured | downloaded by tfjs-node(-gpu) at build time |',
      '| ONNX Runtime CUDA provider | — | not measured | downloaded by onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 |',
      '| CUDA 11.8 libraries and cuDNN 8 (apt) | — | not measured | for libtensorflow 2.9.1 |',
      '| base image | not measured | not measured | no registry reachable here |',
      '',
      'Largest production packages (MB, uncompressed):',
      '',
      ...pkgs.slice(0, 10).map((p) => `- ${p.name}: ${mb(p.bytes)}`),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
