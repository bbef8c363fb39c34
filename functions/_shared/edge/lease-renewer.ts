// Turns an edge client's traffic into renewals of its admission lease: at most one renewal per
// client per interval, posted to admission's /app-renew with a deadline. A client that stops
// sending stops renewing, and admission releases its session when the lease runs out.
import { fetchWithTimeout } from '../http.js';
import type { Logger } from '../log.js';

export interface LeaseRenewerOptions {
  /** Admission's base URL (ends with `/`); without one, nothing is renewed. */
  admissionUrl: string | undefined;
  /** ML type of this service (`scalar`, `image`). */
  type: string;
  /** Least time between two renewals of one client (ms). */
  intervalMs?: number;
  timeoutMs?: number;
  /** Sent with every renewal (the shared bearer token, when admission requires one). */
  headers?: Readonly<Record<string, string>>;
  logger?: Logger;
  now?: () => number;
}

export class LeaseRenewer {
  private readonly last = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: LeaseRenewerOptions) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Records traffic of `clientId`; renews its lease when the last renewal is older than the
   * interval. The renewal runs beside the request it came with: the answer to the client never
   * waits for admission, and a failed renewal is logged (the next traffic tries again).
   */
  touch(clientId: string | undefined): Promise<void> {
    const base = this.options.admissionUrl;
    if (base === undefined || clientId === undefined) return Promise.resolve();
    const now = this.now();
    const previous = this.last.get(clientId);
    if (previous !== undefined && now - previous < this.intervalMs) return Promise.resolve();
    this.last.set(clientId, now);
    if (this.last.size > 4096) this.prune(now);
    const url = `${base}app-renew?${new URLSearchParams({ clientID: clientId, type: this.options.type }).toString()}`;
    return fetchWithTimeout(
      url,
      { method: 'POST', headers: { ...this.options.headers } },
      this.options.timeoutMs ?? 5_000,
    )
      .then(async (res) => {
        await res.arrayBuffer();
        if (!res.ok) this.options.logger?.warn(`lease renewal of ${clientId} answered ${res.status}`);
      })
      .catch((e: unknown) => {
        this.last.delete(clientId);
        this.options.logger?.warn(`lease renewal of ${clientId} failed: ${(e as Error).message}`);
      });
  }

  private prune(now: number): void {
    for (const [id, t] of this.last) if (now - t >= this.intervalMs) this.last.delete(id);
  }
}
