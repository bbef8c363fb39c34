// One worker process ("pod") of a service: spawned with the service's env on a free loopback
// port, ready once it answers (a TCP connect, or the readiness probe's HTTP path), its output
// merged into the runtime's log stream line by line, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer, connect, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { UnavailableError } from '../../functions/_shared/errors.js';

export interface WorkerLaunch {
  /** Executable and arguments, e.g. [node, --import, tsx, functions/_main/main.ts]. */
  command: readonly [string, ...string[]];
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** HTTP path polled for readiness; null = a TCP connect is enough. */
  readinessPath: string | null;
  readinessTimeoutMs: number;
  /** Receives each output line of the worker. */
  onLine: (line: string) => void;
}

export type WorkerPhase = 'starting' | 'ready' | 'draining' | 'exited';

export class WorkerProcess {
  phase: WorkerPhase = 'starting';
  /** Set when the runtime stops or kills the worker (scale-down, a newer revision): its end
   *  before readiness is then not a failure of its revision. */
  stoppedOnPurpose = false;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];

  private constructor(
    readonly pod: string,
    readonly port: number,
    launch: WorkerLaunch,
  ) {
    const [exe, ...args] = launch.command;
    this.child = spawn(exe, args, {
      cwd: launch.cwd,
      env: { ...launch.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
        launch.onLine(line);
      });
    }
    this.exited = new Promise((resolveExit) => {
      // 'close' comes after 'exit' once stdout/stderr are drained: the last lines are read.
      this.child.once('close', (code, signal) => {
        this.phase = 'exited';
        resolveExit(code ?? (signal ? null : 0));
      });
      this.child.once('error', (e) => {
        this.tail.push(`spawn failed: ${e.message}`);
        this.phase = 'exited';
        resolveExit(null);
      });
    });
    this.ready = this.waitReady(launch);
  }

  /** Picks a free loopback port and starts the worker on it. */
  static async start(pod: string, launch: WorkerLaunch): Promise<WorkerProcess> {
    return new WorkerProcess(pod, await freePort(), launch);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines the worker printed (for error messages when it fails to start). */
  lastLines(): string[] {
    return [...this.tail];
  }

  /** SIGTERM (the worker drains), then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs: number): Promise<number | null> {
    this.stoppedOnPurpose = true;
    if (this.phase === 'exited') return this.exited;
    this.phase = 'draining';
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Ends it at once (a worker that never became ready has nothing to drain). */
  kill(): void {
    this.stoppedOnPurpose = true;
    if (this.phase !== 'exited') this.child.kill('SIGKILL');
  }

  private async waitReady(launch: WorkerLaunch): Promise<void> {
    const deadline = Date.now() + launch.readinessTimeoutMs;
    let wake: (() => void) | undefined;
    // The worker entry reports `listening` over IPC: check at once instead of at the next poll.
    this.child.on('message', () => wake?.());
    let delay = 5;
    for (;;) {
      if (this.phase === 'exited') throw this.failure('exited before it was ready');
      if (await probe(this.port, launch.readinessPath)) {
        if (this.phase === 'starting') this.phase = 'ready';
        return;
      }
      if (Date.now() >= deadline) {
        this.child.kill('SIGKILL'); // a failure of its own, not a stop on purpose
        throw this.failure(`was not ready within ${launch.readinessTimeoutMs} ms`);
      }
      await Promise.race([
        new Promise<void>((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())))),
        new Promise<void>((r) => (wake = r)),
        this.exited.then(() => undefined),
      ]);
      delay = Math.min(delay * 2, 100);
    }
  }

  private failure(what: string): UnavailableError {
    const cause = this.tail.find((l) => l.startsWith('cannot start: '));
    const tail = cause ?? this.tail.slice(-5).join(' | ');
    return new UnavailableError(`worker ${this.pod} ${what}${tail ? `: ${tail}` : ''}`);
  }
}

/** A TCP connect, or an HTTP GET answered 2xx/3xx, within 1 s. */
function probe(port: number, path: string | null): Promise<boolean> {
  return new Promise((resolveProbe) => {
    if (path === null) {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.setTimeout(1_000, () => socket.destroy());
      socket.once('connect', () => {
        socket.destroy();
        resolveProbe(true);
      });
      socket.once('error', () => resolveProbe(false));
      socket.once('close', () => resolveProbe(false));
      return;
    }
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', timeout: 1_000, headers: { 'user-agent': 'kaskade-probe' } },
      (res) => {
        res.resume();
        resolveProbe((res.statusCode ?? 500) < 400);
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveProbe(false));
    req.end();
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}
