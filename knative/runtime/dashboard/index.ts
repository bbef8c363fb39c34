// The runtime's live dashboard (`/_kaskade/`): what it records (recorder.ts), how it draws the
// manifests (topology.ts), its HTTP side (server.ts), the page (page/), and the CLI's progress
// bar that reads the same job view (progress.ts). See README.md in this folder.
import type { BrokerObserver } from '../../../events/broker/index.js';
import { UnavailableError } from '../../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../../functions/_shared/http.js';
import type { Logger } from '../../../functions/_shared/log.js';
import type { RequestRecord } from '../ingress.js';
import type { RuntimeManifests } from '../manifests.js';
import type { DashboardSnapshot, ServiceView } from './model.js';
import { Recorder } from './recorder.js';
import { createDashboardServer, type DashboardServer } from './server.js';
import { topologyOf } from './topology.js';

export type { DashboardSnapshot, ServiceView, TrainingJobView } from './model.js';
export { Recorder } from './recorder.js';
export { trainWithProgress, createProgress, type ProgressReporter } from './progress.js';

export interface DashboardOptions {
  manifests: RuntimeManifests;
  /** Every service the runtime runs now, with its pool's and autoscaler's numbers. */
  services: () => ServiceView[];
  /** What a service runs (its FUNCTION_TARGET): a cheap lookup, made for every request. */
  functionTargetOf: (namespace: string, name: string) => string | undefined;
  logger: Logger;
  /** Sampling period of pods and concurrency. Default 1 s. */
  sampleMs?: number;
  /** Timeout of the calls to an admission service's `/status`. Default 5 s. */
  fetchTimeoutMs?: number;
}

export interface Dashboard {
  readonly recorder: Recorder;
  readonly server: DashboardServer;
  /** `observer` (the runtime's metrics), with the dashboard told of accepted events and delivery outcomes too. */
  alongside(observer: BrokerObserver): BrokerObserver;
  observeRequest(record: RequestRecord): void;
  snapshot(): DashboardSnapshot;
  start(): void;
  close(): void;
}

export function createDashboard(o: DashboardOptions): Dashboard {
  const startedAt = Date.now();
  const recorder = new Recorder();
  const snapshot = (): DashboardSnapshot => {
    const services = o.services();
    return {
      now: Date.now(),
      startedAt,
      topology: topologyOf(o.manifests, services),
      services,
      pods: recorder.podSamples(),
      events: recorder.eventTypes(),
      jobs: recorder.trainingJobs(),
      layerJobs: recorder.layerPipelines(),
      split: recorder.splitSamples(),
      edge: recorder.edgeSamples(),
      deadLetters: recorder.recentDeadLetters(),
    };
  };
  const server = createDashboardServer(recorder, snapshot);
  const polling = new Set<string>();
  /** Services that had traffic while their status was being read: read once more after. */
  const again = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const pollAdmission = (service: ServiceView): void => {
    const key = `${service.namespace}/${service.name}`;
    if (closed) return;
    if (polling.has(key)) {
      again.add(key);
      return;
    }
    polling.add(key);
    fetchWithTimeout(`${service.url}/status`, {}, o.fetchTimeoutMs ?? 5_000)
      .then(async (res) => {
        if (res.status !== 200) throw new UnavailableError(`answered ${res.status}`);
        const body = (await res.json()) as { capacity?: unknown; sessions?: unknown };
        recorder.admissionStatus(key, {
          capacity: typeof body.capacity === 'number' ? body.capacity : null,
          sessions: sessionsOf(body.sessions),
        });
      })
      .catch((e: unknown) => o.logger.warn(`dashboard: ${key}/status: ${(e as Error).message}`))
      .finally(() => {
        polling.delete(key);
        if (again.delete(key)) pollAdmission(service);
      });
  };

  return {
    recorder,
    server,
    alongside: (observer) => ({
      ...observer,
      accepted(broker, event) {
        observer.accepted?.(broker, event);
        recorder.accepted(event);
      },
      outcome(broker, trigger, outcome, event, reason) {
        observer.outcome?.(broker, trigger, outcome, event, reason);
        recorder.finished(trigger, event, outcome, reason);
      },
    }),
    observeRequest(record) {
      const target = o.functionTargetOf(record.namespace, record.name);
      if (!recorder.request(record, target).pollAdmission) return;
      const service = o.services().find((s) => s.namespace === record.namespace && s.name === record.name);
      if (service) pollAdmission(service);
    },
    snapshot,
    start() {
      timer ??= setInterval(() => recorder.sample(o.services()), o.sampleMs ?? 1_000);
      timer.unref();
      recorder.sample(o.services());
    },
    close() {
      closed = true;
      clearInterval(timer);
      timer = undefined;
      server.close();
    },
  };
}

function sessionsOf(v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number'));
}
