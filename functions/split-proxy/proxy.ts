// The traffic-shaping proxy between the split halves: each POST is forwarded to B after waiting
// for a sender thread (at most `threads` forwards in flight) and for its bytes to pass a link of
// `bandwidth` bytes/s (one link shared by all forwards: a body's bytes take the link from when
// the previous body's are through). Both settings change at run time (`POST /settings`, or the
// seed's `/set_threads`). Only the request body (the activation) is shaped; B's answer, a few
// hundred bytes, is passed back as it comes.
import type { Request, Response } from '@google-cloud/functions-framework';
import { BadInputError, NotFoundError, PayloadTooLargeError } from '../_shared/errors.js';
import { fetchWithTimeout, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { MAX_THREADS, type SplitProxyConfig } from './config.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface ProxySettings {
  /** Bytes/s; 0 = unlimited. */
  bandwidth: number;
  threads: number;
}

/** The link: hands out the time each body's last byte is through, one body after another. */
export class Link {
  private freeAt = 0;
  constructor(
    private readonly clock: Clock,
    public bandwidth: number,
  ) {}

  /** Waits until `bytes` have passed the link at the current bandwidth. */
  async send(bytes: number): Promise<void> {
    if (this.bandwidth <= 0) return;
    const now = this.clock.now();
    this.freeAt = Math.max(now, this.freeAt) + (1000 * bytes) / this.bandwidth;
    const wait = this.freeAt - now;
    if (wait > 0) await this.clock.sleep(wait);
  }
}

/** Sender threads: at most `limit` holders at once; a lowered limit applies as holders leave. */
export class Threads {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(public limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    this.active--;
    this.wake();
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.wake();
  }

  private wake(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!();
    }
  }
}

export interface ProxyDeps {
  config: SplitProxyConfig;
  clock?: Clock;
  /** Sent with every forwarded call (the shared bearer token, when B requires one). */
  callHeaders?: Readonly<Record<string, string>>;
  logger?: Logger;
}

/** Checks a settings change: numbers in range, nothing else. */
export function parseSettings(body: unknown, current: ProxySettings): ProxySettings {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new BadInputError('settings are a JSON object {"bandwidth": bytes/s, "threads": n}');
  const known = ['bandwidth', 'threads'];
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0)
    throw new BadInputError(
      `unknown setting(s) ${unknown.join(', ')}; known: bandwidth (bytes/s, 0 = unlimited), threads (1..${MAX_THREADS})`,
    );
  const { bandwidth = current.bandwidth, threads = current.threads } = body as {
    bandwidth?: unknown;
    threads?: unknown;
  };
  if (typeof bandwidth !== 'number' || !Number.isFinite(bandwidth) || bandwidth < 0)
    throw new BadInputError(`bandwidth is bytes/s, a number ≥ 0 (0 = unlimited), got ${JSON.stringify(bandwidth)}`);
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
    throw new BadInputError(`threads is a whole number from 1 to ${MAX_THREADS}, got ${JSON.stringify(threads)}`);
  return { bandwidth, threads };
}

const FORWARDED = /^(content-type|ce-.*)$/i;

export function createProxyHandler(deps: ProxyDeps): Handler & { settings(): ProxySettings } {
  const { config } = deps;
  const clock = deps.clock ?? realClock;
  const link = new Link(clock, config.bandwidth);
  const threads = new Threads(config.threads);
  const settings = (): ProxySettings => ({ bandwidth: link.bandwidth, threads: threads.limit });

  const apply = (next: ProxySettings): void => {
    link.bandwidth = next.bandwidth;
    threads.setLimit(next.threads);
    deps.logger?.info(`settings: bandwidth ${next.bandwidth} bytes/s, ${next.threads} thread(s)`);
  };

  async function forward(req: Request, res: Response): Promise<void> {
    const raw: unknown = req.rawBody;
    const body = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
    if (body.length > config.maxBodyBytes)
      throw new PayloadTooLargeError(`a forwarded body is at most ${config.maxBodyBytes} bytes, got ${body.length}`);
    const headers: Record<string, string> = { ...deps.callHeaders };
    for (const [name, value] of Object.entries(req.headers))
      if (FORWARDED.test(name) && typeof value === 'string') headers[name] = value;
    const started = clock.now();
    await threads.acquire();
    try {
      await link.send(body.length);
      const left = Math.max(1, Math.floor(config.timeoutMs - (clock.now() - started)));
      const answer = await fetchWithTimeout(
        `${config.targetUrl}${req.originalUrl === '/' ? '' : req.originalUrl}`,
        { method: 'POST', headers, body: new Uint8Array(body) },
        left,
      );
      const text = Buffer.from(await answer.arrayBuffer());
      res
        .status(answer.status)
        .set('content-type', answer.headers.get('content-type') ?? 'application/octet-stream')
        .send(text);
    } finally {
      threads.release();
    }
  }

  const handler = withErrors(async (req, res) => {
    const path = req.path.replace(/\/+$/, '') || '/';
    if (path === '/healthz' && req.method === 'GET') {
      res.status(200).json({ status: 'ok' });
      return;
    }
    if (path === '/settings' || path === '/set_threads') {
      if (req.method === 'GET') {
        res.status(200).json({ ...settings(), inFlight: threads.inFlight });
        return;
      }
      if (req.method !== 'POST') throw new NotFoundError(`${req.method} ${path}: GET or POST the settings`);
      // The seed's /set_threads takes {"threads": n} (or ?threads=n).
      const given: unknown =
        path === '/set_threads' && req.query.threads !== undefined ? { threads: Number(req.query.threads) } : req.body;
      apply(parseSettings(given, settings()));
      res.status(200).json(settings());
      return;
    }
    if (req.method !== 'POST')
      throw new NotFoundError(
        `${req.method} ${path}: the proxy forwards POSTs to ${config.targetUrl}; GET /settings shows its settings`,
      );
    await forward(req, res);
  }, deps.logger);
  return Object.assign(handler, { settings });
}
