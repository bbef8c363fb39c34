// `npm run image-size [-- --json] [--start]`: what the cpu and gpu images of knative/image/Dockerfile add
// to their base images, measured without a Docker engine. The production dependencies are
// installed as the Dockerfile's install stages do (`npm ci --omit=dev`, the other variant's
// TF.js and other platforms' binaries removed by knative/image/prune-modules.sh) into a temporary folder, and the sources are the files its COPY lines take
// (knative/image/contents.ts). Install scripts are not run (`--ignore-scripts`): what they
// download (libtensorflow, ONNX Runtime's CUDA provider) needs hosts this machine cannot reach,
// so those rows, and the base images, are reported as not measured.
// `--start` then lays the cpu image's /app out in the temporary folder (the files its COPY lines
// take, beside the pruned node_modules) and starts every Knative Service of the nfs overlay from
// it with the pod entry and the env its manifest gives, until its readiness probe answers 200:
// the image's file list and production dependencies are enough to serve. Without native
// libtensorflow (its download is an install script) TF.js runs on its wasm backend there.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { UnavailableError } from '../functions/_shared/errors.js';
import { buildContext, stages, targetStage, treeBytes, type Stage } from '../knative/image/contents.js';
import { resourcesOf } from '../knative/validate.js';

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

interface Started {
  service: string;
  probe: string;
  status: number | string;
  seconds: number;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });

type Container = {
  env?: Array<{ name: string; value?: string }>;
  readinessProbe?: { httpGet?: { path?: string } };
};

/** Starts one service from `app` as its pod would, waits for its readiness probe, stops it. */
async function startOne(app: string, data: string, name: string, c: Container): Promise<Started> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value === undefined) continue; // valueFrom: cluster-only
    env[e.name] = e.value.replace(/\$\((\w+)\)/g, (_, v: string) => env[v] ?? '');
    if (e.name === 'KASKADE_DATA_DIR') env[e.name] = data;
  }
  // The broker is cluster-internal: a local address nothing listens on stands in for it.
  if (env.KASKADE_BROKER_URL) env.KASKADE_BROKER_URL = 'http://127.0.0.1:9/kaskade/default';
  const port = await freePort();
  const probe = c.readinessProbe?.httpGet?.path ?? '/';
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/_main/main.ts'], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '', HOME: app, NODE_ENV: 'production', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  let exited = false;
  child.once('exit', () => (exited = true));
  const started = Date.now();
  // Generous: a loaded 2-core machine compiles the TypeScript sources on first start.
  const deadline = started + 300_000;
  let status: number | string = 'no answer';
  while (Date.now() < deadline && !exited) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${probe}`, { signal: AbortSignal.timeout(5000) });
      status = r.status;
      await r.body?.cancel();
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const seconds = (Date.now() - started) / 1000;
  if (exited) status = `exited: ${stderr.trim().split('\n')[0] ?? ''}`;
  else {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
  return { service: name, probe, status, seconds };
}

/** Lays out the image's /app (its files at their image paths, the pruned node_modules) and starts each service. */
async function startServices(cpu: Stage, nodeModules: string, dir: string): Promise<Started[]> {
  const app = join(dir, 'app');
  for (const [path, file] of cpu.files) {
    const to = join(app, path.replace(/^\/app\//, ''));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(ROOT, file), to);
  }
  renameSync(nodeModules, join(app, 'node_modules'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const rendered = resourcesOf(
    execFileSync('kubectl', ['kustomize', join(ROOT, 'knative', 'overlays', 'nfs')], { encoding: 'utf8' }),
  );
  const out: Started[] = [];
  for (const r of rendered.filter((x) => x.kind === 'Service' && x.apiVersion.startsWith('serving.knative.dev/'))) {
    const c = (r.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0] ?? {};
    out.push(await startOne(app, data, r.metadata.name, c));
  }
  return out;
}

const json = process.argv.includes('--json');
const start = process.argv.includes('--start');
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
  const services = start ? await startServices(targetStage(all, 'cpu'), nodeModules, dir) : [];
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ rows, unpruned, top: pkgs.slice(0, 10), services, load, cpus: cpus().length })}\n`,
    );
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
      ...(start
        ? [
            '',
            `The cpu image's /app started outside Docker (nfs overlay's services and env; load ${(loadavg()[0] ?? 0).toFixed(1)}):`,
            '',
            '| service | readiness probe | answer | seconds to ready |',
            '|---|---|---|---:|',
            ...services.map((x) => `| ${x.service} | ${x.probe} | ${x.status} | ${x.seconds.toFixed(1)} |`),
          ]
        : []),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
  if (services.some((x) => x.status !== 200)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
