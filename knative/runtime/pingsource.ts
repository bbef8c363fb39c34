// PingSources as local cron: each fires a `dev.knative.sources.ping` CloudEvent (binary mode)
// at its sink on its schedule. A `kaskade.dev/suspended: "true"` annotation keeps it loaded but
// silent. Knative's `CRON_TZ=<zone> ` schedule prefix and 6-field (seconds) schedules work.
import { CloudEvent, HTTP } from 'cloudevents';
import { Cron } from 'croner';
import { ConfigError, UnavailableError } from '../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import type { Logger } from '../../functions/_shared/log.js';
import type { PingSourceManifest } from './manifests.js';

export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

export interface PingTarget {
  source: PingSourceManifest;
  sinkUrl: string;
}

export interface PingStatus {
  namespace: string;
  name: string;
  schedule: string;
  suspended: boolean;
  sink: string;
  fired: number;
  failed: number;
  next: string | null;
}

export interface PingSources {
  status(): PingStatus[];
  stop(): void;
}

/** Splits Knative's `CRON_TZ=Europe/Paris 0 3 * * *` into pattern and zone. */
export function parseSchedule(
  schedule: string,
  timezone: string | undefined,
): { pattern: string; timezone: string | undefined } {
  const m = /^CRON_TZ=(\S+)\s+(.*)$/.exec(schedule.trim());
  return m?.[1] !== undefined && m[2] !== undefined
    ? { pattern: m[2], timezone: timezone ?? m[1] }
    : { pattern: schedule.trim(), timezone };
}

export function pingEvent(source: PingSourceManifest): { headers: Record<string, string>; body: Buffer } {
  const event = new CloudEvent({
    specversion: '1.0',
    type: PING_EVENT_TYPE,
    source: `/apis/v1/namespaces/${source.namespace}/pingsources/${source.name}`,
    datacontenttype: source.contentType,
    data: source.data,
  });
  const { headers } = HTTP.binary(event);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k] = v;
  return { headers: out, body: source.data };
}

export function startPingSources(
  targets: readonly PingTarget[],
  options: { logger: Logger; timeoutMs: number },
): PingSources {
  const jobs: Array<{ t: PingTarget; cron: Cron; counts: { fired: number; failed: number } }> = [];
  for (const t of targets) {
    const { pattern, timezone } = parseSchedule(t.source.schedule, t.source.timezone);
    const counts = { fired: 0, failed: 0 };
    const send = async (): Promise<void> => {
      const { headers, body } = pingEvent(t.source);
      try {
        const res = await fetchWithTimeout(
          t.sinkUrl,
          { method: 'POST', headers, body: new Uint8Array(body) },
          options.timeoutMs,
        );
        await res.arrayBuffer();
        if (!res.ok) throw new UnavailableError(`sink answered ${res.status}`);
        counts.fired += 1;
      } catch (e) {
        counts.failed += 1;
        options.logger.warn(
          `PingSource ${t.source.namespace}/${t.source.name}: delivery to ${t.sinkUrl} failed: ${(e as Error).message}`,
        );
      }
    };
    let cron: Cron;
    try {
      cron = new Cron(pattern, { paused: t.source.suspended, protect: true, ...(timezone ? { timezone } : {}) }, () =>
        send(),
      );
      cron.nextRun();
    } catch (e) {
      for (const j of jobs) j.cron.stop();
      throw new ConfigError(`${t.source.origin}: PingSource/${t.source.name}: spec.schedule: ${(e as Error).message}`, {
        cause: e,
      });
    }
    jobs.push({ t, cron, counts });
  }
  return {
    status: () =>
      jobs.map(({ t, cron, counts }) => ({
        namespace: t.source.namespace,
        name: t.source.name,
        schedule: t.source.schedule,
        suspended: t.source.suspended,
        sink: t.sinkUrl,
        ...counts,
        next: t.source.suspended ? null : (cron.nextRun()?.toISOString() ?? null),
      })),
    stop: () => {
      for (const j of jobs) j.cron.stop();
    },
  };
}
