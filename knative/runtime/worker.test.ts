// A worker process on its own: readiness, the readiness probe path, SIGTERM draining in-flight
// requests before exiting 0, and a clear error when the function cannot load.
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EchoReply } from '../../test/fixtures/functions/echo/echo.js';
import { FIXTURE_FUNCTIONS } from '../../test/support/fixtures.js';
import { bundleWorker, tsxCommand, type WorkerCommand } from './build.js';
import { WorkerProcess, type WorkerLaunch } from './worker.js';
import { REPO_ROOT } from './paths.js';

const ECHO = join(FIXTURE_FUNCTIONS, 'echo', 'index.ts');

function launch(
  command: WorkerCommand,
  env: Record<string, string>,
  lines: string[] = [],
  onLine: (line: string) => void = (l) => lines.push(l),
): WorkerLaunch {
  return {
    command,
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: REPO_ROOT,
    readinessPath: null,
    readinessTimeoutMs: 30_000,
    onLine,
  };
}

/** A worker's log lines, and a wait for the first line that matches. */
function logLines(): { lines: string[]; onLine: (line: string) => void; line: (pattern: RegExp) => Promise<string> } {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const line = (pattern: RegExp): Promise<string> =>
    new Promise((resolve) => {
      const check = (): void => {
        const found = lines.find((l) => pattern.test(l));
        if (found === undefined) return;
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return {
    lines,
    onLine: (l) => {
      lines.push(l);
      for (const check of [...waiters]) check();
    },
    line,
  };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('worker process', () => {
  it.each([
    { name: 'bundled', command: async (): Promise<WorkerCommand> => [process.execPath, await bundleWorker(ECHO)] },
    { name: 'under tsx', command: (): Promise<WorkerCommand> => Promise.resolve(tsxCommand()) },
  ])('$name: drains in-flight requests on SIGTERM, refuses new ones, exits 0', async ({ command }) => {
    const log = logLines();
    const worker = await WorkerProcess.start(
      'echo-t',
      launch(await command(), { FUNCTION_TARGET: 'echo', KASKADE_FUNCTION_SOURCE: ECHO }, log.lines, log.onLine),
    );
    await worker.ready;
    expect(worker.phase).toBe('ready');
    const slow = get(worker.port, '/?sleep=700');
    await log.line(/\[echo\] GET \//); // the echo logs a request as it starts on it
    const stopped = worker.stop(10_000);
    await log.line(/draining: 1 request\(s\) in flight/);
    await expect(get(worker.port, '/')).rejects.toThrow();
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as EchoReply).pid).toBe(worker.pid);
    expect(await stopped).toBe(0);
  });

  it('waits for the readiness probe path to answer 2xx', async () => {
    const worker = await WorkerProcess.start('echo-p', {
      ...launch(tsxCommand(), { FUNCTION_TARGET: 'echo', KASKADE_FUNCTION_SOURCE: ECHO }),
      readinessPath: '/healthz',
    });
    await worker.ready;
    expect((await get(worker.port, '/healthz')).status).toBe(200);
    expect(await worker.stop(5_000)).toBe(0);
  });

  const failures: Array<{ name: string; env: Record<string, string>; message: RegExp }> = [
    {
      name: 'a missing function folder',
      env: { FUNCTION_TARGET: 'no-such-function' },
      message: /exited before it was ready.*no-such-function/,
    },
    { name: 'no FUNCTION_TARGET', env: {}, message: /exited before it was ready.*FUNCTION_TARGET/ },
  ];
  it.each(failures)('fails to become ready with $name, naming the cause', async ({ env, message }) => {
    const worker = await WorkerProcess.start('bad', launch(tsxCommand(), env));
    await expect(worker.ready).rejects.toThrow(message);
    await worker.exited;
  });
});
