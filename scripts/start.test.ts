// System test of the two entry points a newcomer uses: `npm start` (scripts/start.ts) runs the
// shipped manifests locally, trains, prints each round and the predictor's URL; `kaskade train`
// needs a running runtime and says so.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSmallMnist } from '../test/support/mnist-idx.js';

const ROOT = resolve(import.meta.dirname, '..');

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((r) => child.once('exit', (code) => r({ code, stdout, stderr })));
}

describe('npm start', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'kaskade-start-'));
    await writeSmallMnist(join(stateDir, 'data', 'datasets', 'mnist'));
  });
  afterAll(() => rm(stateDir, { recursive: true, force: true }));

  it('trains through the local runtime, prints every round and the predictor URL, and exits 0 with --exit', async () => {
    const dataset = `file://${join(stateDir, 'data', 'datasets', 'mnist')}`;
    const res = await run('start.ts', [
      '--exit',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--dataset',
      dataset,
      '--shards',
      '2',
      '--rounds',
      '2',
      '--epochs',
      '1',
    ]);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toMatch(/^kaskade: dashboard on http:\/\/127\.0\.0\.1:\d+\/_kaskade\/$/m);
    // Not a TTY: one plain line per round, no progress bar.
    expect(res.stdout).not.toContain('\u001b[');
    expect(res.stdout).toMatch(/2 shards \(iid\), 2 rounds × 1 local epoch/);
    expect(res.stdout).toMatch(/round 1\/2: test accuracy 0\.\d{4}/);
    expect(res.stdout).toMatch(/round 2\/2: test accuracy 0\.\d{4}/);
    expect(res.stdout).toMatch(
      /predictor serving at http:\/\/predictor\.kaskade\.localhost:\d+\/\?model=mnist .*draw a digit/,
    );
  }, 180_000);

  it('trains the IMDB workload with --workload imdb and prints the review page', async () => {
    const res = await run('start.ts', [
      '--workload',
      'imdb',
      '--exit',
      '--port',
      '0',
      '--state-dir',
      join(stateDir, 'imdb'),
      '--shards',
      '2',
      '--rounds',
      '1',
      '--epochs',
      '1',
    ]);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toMatch(/imdb-fast on imdb:synthetic, 2 shards \(iid\), 1 rounds? × 1 local epoch/);
    expect(res.stdout).toMatch(/round 1\/1: test accuracy 0\.\d{4}/);
    expect(res.stdout).toMatch(/on the held-out synthetic reviews/);
    expect(res.stdout).toMatch(
      /predictor serving at http:\/\/predictor\.kaskade\.localhost:\d+\/\?model=imdb .*write a review/,
    );
    expect(res.stdout).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/kaskade\/predictor\/v2\/models\/imdb\/infer/);
  }, 180_000);

  it('refuses an unknown workload', async () => {
    const res = await run('start.ts', ['--workload', 'cifar', '--exit', '--state-dir', join(stateDir, 'none')]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/--workload must be one of mnist, imdb, got "cifar"/);
  });
});

describe('kaskade train', () => {
  it('refuses clearly when no runtime is running', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'kaskade-none-'));
    const res = await run('kaskade.ts', ['train', '--state-dir', empty, '--shards', '2']);
    await rm(empty, { recursive: true, force: true });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no running runtime/);
  });
});
