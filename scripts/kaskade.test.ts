// System test of the `kaskade` CLI: `up` runs the manifests, `send` posts an event that the
// broker routes through a Trigger to the echo service (scaled from zero), `status` reports it,
// Ctrl-C stops everything with exit code 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeStatus } from '../knative/runtime/index.js';
import { FIXTURE_FUNCTIONS, FIXTURE_MANIFESTS } from '../test/support/fixtures.js';

const ROOT = resolve(import.meta.dirname, '..');
const MANIFESTS = join(FIXTURE_MANIFESTS, 'routing.yaml');

function kaskade(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'kaskade.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = kaskade(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, stdout, stderr };
}

async function until(what: string, check: () => boolean, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kaskade up / send / status', () => {
  let stateDir: string;
  let up: ChildProcess;
  let out = '';
  let err = '';
  const context = (): string => `stdout:\n${out}\nstderr:\n${err}`;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'kaskade-cli-'));
    up = kaskade(
      ['up', '--manifests', MANIFESTS, '--functions', FIXTURE_FUNCTIONS, '--port', '0', '--state-dir', stateDir],
      { KASKADE_ALLOW_ZERO_INITIAL_SCALE: 'true' },
    );
    up.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    up.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    await until('kaskade up', () => out.includes('runtime up'), 30_000, context);
  });

  afterAll(async () => {
    if (up.exitCode === null) up.kill('SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  });

  it('prints the dashboard, the service URLs and the broker URL', () => {
    expect(out).toMatch(/^ {2}dashboard http:\/\/127\.0\.0\.1:\d+\/_kaskade\/$/m);
    expect(out).toMatch(
      /service default\/echo {2}http:\/\/echo\.default\.localhost:\d+ {2}http:\/\/127\.0\.0\.1:\d+\/default\/echo/,
    );
    expect(out).toMatch(/broker {2}default\/default {2}http:\/\/127\.0\.0\.1:\d+\/default\/default/);
  });

  it('routes an event sent to the broker through the Trigger to echo, scaling it from zero', async () => {
    const sent = await run(['send', '--state-dir', stateDir, '--type', 'dev.kaskade.test.sent', '--data', '{"n":1}']);
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const id = /id (\S+)/.exec(sent.stdout)?.[1] ?? '';
    expect(id).not.toBe('');
    await until(
      'echo to log the event',
      () => new RegExp(`echo/echo-\\d+ \\| .*POST / ce-type=dev\\.kaskade\\.test\\.sent ce-id=${id}`).test(err),
      30_000,
      context,
    );
  });

  it('reports the services, their scale and the broker on status', async () => {
    const json = await run(['status', '--state-dir', stateDir, '--json']);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as RuntimeStatus;
    expect(status.services[0]).toMatchObject({ namespace: 'default', name: 'echo', desired: 1 });
    expect(status.broker).toMatchObject({ default: { delivered: 1 } });
    const table = await run(['status', '--state-dir', stateDir]);
    expect(table.stdout).toMatch(/^default\/echo +1 +0 +0 +0 +\S+ +\S+ +1 +stable$/m);
  });

  it('stops on Ctrl-C with exit code 0 and removes its state file', async () => {
    up.kill('SIGINT');
    const code = await new Promise<number | null>((r) => (up.exitCode !== null ? r(up.exitCode) : up.once('exit', r)));
    expect(code).toBe(0);
    expect(existsSync(join(stateDir, 'runtime.json'))).toBe(false);
    expect(err).toMatch(/stopped/);
  });

  it('says so when no runtime is running', async () => {
    const res = await run(['status', '--state-dir', stateDir]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no running runtime/);
  });
});

describe('the kaskade bin', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = join(ROOT, pkg.bin?.kaskade ?? 'missing');

  function runBin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [bin, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise((done) => child.once('exit', (code) => done({ code, stdout, stderr })));
  }

  it('is the package bin and lists every command', async () => {
    expect(existsSync(bin)).toBe(true);
    const res = await runBin(['--help']);
    expect(res.code).toBe(0);
    for (const command of ['up', 'status', 'send', 'train', 'deploy'])
      expect(res.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('runs a command through the bin: deploy refuses an unknown tool', async () => {
    const res = await runBin(['deploy', '--with', 'helm', '--dry-run']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/--with <tool>.*helm.*kubectl, kn, gcloud/);
  });
});
