// A function pod as its own process, for fault tests: the worker entry (functions/_main/main.ts
// under tsx, what the image's CMD and the local runtime's workers run) on a loopback port it
// reports over IPC, its stderr kept line by line, its exit (code, signal, when) awaitable.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TimeoutError } from '../../functions/_shared/errors.js';
import { REPO_ROOT } from './fixtures.js';

const WORKER_MAIN = join(REPO_ROOT, 'functions', '_main', 'main.ts');

export interface PodExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  readonly at: number;
}

export interface Pod {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Every stderr line so far. */
  readonly lines: string[];
  readonly exited: Promise<PodExit>;
  /** The first stderr line matching `pattern` (already seen or still to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL (if still running) and wait for the exit. */
  kill(): Promise<PodExit>;
}

/**
 * Starts `FUNCTION_TARGET=target` with `env` added to this process's environment; resolves once
 * it listens. `PORT` defaults to 0 (a free port, reported over IPC).
 */
export async function startPod(target: string, env: Record<string, string>, startTimeoutMs = 180_000): Promise<Pod> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, FUNCTION_TARGET: target, PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const lines: string[] = [];
  const watchers = new Set<() => void>();
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of [...watchers]) wake();
  });
  const exited = new Promise<PodExit>((done) =>
    child.once('exit', (code, signal) => {
      done({ code, signal, at: performance.now() });
      for (const wake of [...watchers]) wake();
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));

  const waitForLine = (pattern: RegExp, timeoutMs = 120_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new TimeoutError(`${target}: no stderr line matching ${String(pattern)} in ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (): void => {
        const line = lines.find((l) => pattern.test(l));
        if (line === undefined && !gone) return;
        watchers.delete(check);
        clearTimeout(timer);
        if (line === undefined) reject(new Error(`${target} exited before logging ${String(pattern)}`));
        else resolve(line);
      };
      watchers.add(check);
      check();
    });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TimeoutError(`${target} did not listen within ${startTimeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
    }, startTimeoutMs);
    child.on('message', (message: { kind?: string; port?: number }) => {
      if (message.kind !== 'listening' || typeof message.port !== 'number') return;
      clearTimeout(timer);
      resolve(message.port);
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(`${target} exited (${String(exit.code ?? exit.signal)}) before listening:\n${lines.join('\n')}`),
      );
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    lines,
    exited,
    waitForLine,
    async kill() {
      if (!gone) child.kill('SIGKILL');
      return exited;
    },
  };
}
