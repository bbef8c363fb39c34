// Outgoing deliveries: one binary-mode POST per attempt over keep-alive connections (one agent
// per origin), with a per-attempt deadline, the answer's body read up to a bound.
import http from 'node:http';
import https from 'node:https';
import { binaryHeaders, type WireEvent } from '../wire.js';
import type { AttemptResult } from './policy.js';

export interface SenderOptions {
  /** Bytes of an answer kept (replies carry events); the rest is read and dropped. */
  readonly maxResponseBytes: number;
  readonly maxSocketsPerOrigin: number;
  /** Sent with every delivery (a subscriber's bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}

export class Sender {
  private readonly agents = new Map<string, http.Agent>();
  private readonly urls = new Map<string, URL>();

  constructor(private readonly options: SenderOptions) {}

  private agentFor(url: URL): http.Agent {
    let agent = this.agents.get(url.origin);
    if (agent === undefined) {
      const settings = { keepAlive: true, maxSockets: this.options.maxSocketsPerOrigin, scheduling: 'lifo' as const };
      agent = url.protocol === 'https:' ? new https.Agent(settings) : new http.Agent(settings);
      this.agents.set(url.origin, agent);
    }
    return agent;
  }

  /** Never throws: every failure is an AttemptResult of kind `error`. */
  send(target: string, event: WireEvent, timeoutMs: number, signal: AbortSignal): Promise<AttemptResult> {
    if (signal.aborted) return Promise.resolve({ kind: 'error', message: 'broker shutting down', aborted: true });
    let url = this.urls.get(target);
    if (url === undefined) {
      url = new URL(target);
      this.urls.set(target, url);
    }
    const body = event.data ?? Buffer.alloc(0);
    const headers: Record<string, string | number> = {
      ...this.options.headers,
      ...binaryHeaders(event.attributes),
      'content-length': body.byteLength,
    };
    const request = url.protocol === 'https:' ? https.request : http.request;
    const limit = this.options.maxResponseBytes;
    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const req = request(url, { method: 'POST', headers, agent: this.agentFor(url) }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        res.on('data', (chunk: Buffer) => {
          if (kept + chunk.byteLength <= limit) {
            chunks.push(chunk);
            kept += chunk.byteLength;
          } else {
            truncated = true;
          }
        });
        res.on('end', () =>
          finish({
            kind: 'response',
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks, kept),
            truncated,
          }),
        );
        res.on('error', (e) => finish({ kind: 'error', message: `${target}: ${e.message}`, aborted: signal.aborted }));
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish({ kind: 'error', message: `${target}: no answer within ${timeoutMs} ms`, aborted: false });
      }, timeoutMs);
      const onAbort = () => {
        req.destroy();
        finish({ kind: 'error', message: 'broker shutting down', aborted: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => finish({ kind: 'error', message: `${target}: ${e.message}`, aborted: signal.aborted }));
      req.end(body);
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    this.urls.clear();
  }
}
