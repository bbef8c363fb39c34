// The local runtime's Prometheus metrics, under the names Knative's own components export so
// existing Knative dashboards read them: the autoscaler's per-revision view (read from the KPA
// and the pools at scrape time), the activator's and queue-proxy's request counts and latencies
// (the local ingress plays both parts: every request passes through it), and the multi-tenant
// broker's ingress and filter event counts and dispatch latencies. Retries, dead letters and
// dropped events have no Knative metric; they are `kaskade_broker_*`.
import type { BrokerObserver } from '../../events/broker/index.js';
import {
  countOf,
  createRegistry,
  gauge,
  histogram,
  KNATIVE_MS_BUCKETS,
  responseCodeClass,
  type Registry,
} from '../../functions/_shared/observability/metrics.js';
import { HotCounter, HotHistogram } from '../../functions/_shared/observability/hot-metrics.js';
import { boundedLabel } from '../../functions/_shared/observability/workload-metrics.js';
import type { Autoscaler } from './autoscaler.js';
import type { RunningService } from './services.js';

/** One revision as the autoscaler and its pool see it at scrape time. */
export interface RevisionSample {
  namespace: string;
  service: string;
  revision: string;
  desired: number;
  ready: number;
  notReady: number;
  stable: number;
  panic: number;
  panicMode: boolean;
  targetPerPod: number;
  /** Requests in flight in the pods plus those queued in front of them. */
  concurrency: number;
  queued: number;
}

const REVISION_LABELS = ['namespace_name', 'service_name', 'configuration_name', 'revision_name'] as const;
const RESPONSE_LABELS = [...REVISION_LABELS, 'response_code', 'response_code_class'] as const;

function revisionLabels(s: Pick<RevisionSample, 'namespace' | 'service' | 'revision'>) {
  return {
    namespace_name: s.namespace,
    service_name: s.service,
    configuration_name: s.service,
    revision_name: s.revision,
  };
}

export interface RuntimeMetrics {
  readonly registry: Registry;
  /** One request through the ingress to a service (status 0 = no answer). */
  request(namespace: string, service: string, status: number, ms: number): void;
  /** What the broker of `namespace` reports. */
  brokerObserver(namespace: string): BrokerObserver;
}

/**
 * `snapshot` lists the revisions running now; `revisionOf` names the revision serving a
 * service (for request labels).
 */
export function runtimeMetrics(
  snapshot: () => readonly RevisionSample[],
  revisionOf: (namespace: string, service: string) => string | undefined,
): RuntimeMetrics {
  const registry = createRegistry();
  const perRevision = (name: string, help: string, value: (s: RevisionSample) => number): void => {
    gauge(
      {
        name,
        help,
        labelNames: REVISION_LABELS,
        // Read at scrape time: the autoscaler's state now, never a copy that could go stale.
        collect() {
          this.reset();
          for (const s of snapshot()) this.set(revisionLabels(s), value(s));
        },
      },
      registry,
    );
  };
  perRevision('autoscaler_desired_pods', 'Pods the autoscaler wants for the revision.', (s) => s.desired);
  perRevision(
    'autoscaler_requested_pods',
    'Pods requested from the pool (the desired count, applied at once).',
    (s) => s.desired,
  );
  perRevision('autoscaler_actual_pods', 'Pods ready to serve.', (s) => s.ready);
  perRevision('autoscaler_not_ready_pods', 'Pods started but not ready yet.', (s) => s.notReady);
  perRevision('autoscaler_stable_request_concurrency', 'Average concurrency over the stable window.', (s) => s.stable);
  perRevision('autoscaler_panic_request_concurrency', 'Average concurrency over the panic window.', (s) => s.panic);
  perRevision(
    'autoscaler_target_concurrency_per_pod',
    'Target concurrency per pod (target × utilization).',
    (s) => s.targetPerPod,
  );
  perRevision('autoscaler_panic_mode', '1 while the autoscaler is in panic mode, else 0.', (s) =>
    s.panicMode ? 1 : 0,
  );
  perRevision(
    'activator_request_concurrency',
    'Requests in flight or buffered for the revision.',
    (s) => s.concurrency,
  );
  perRevision(
    'revision_queue_depth',
    "Requests queued in front of the revision's pods (containerConcurrency reached, or no pod yet).",
    (s) => s.queued,
  );

  const activatorLatency = histogram(
    {
      name: 'activator_request_latencies',
      help: 'Response time of routed requests, in milliseconds.',
      labelNames: RESPONSE_LABELS,
      buckets: KNATIVE_MS_BUCKETS,
    },
    registry,
  );
  countOf(
    {
      name: 'activator_request_count',
      help: 'Requests routed through the activator.',
      labelNames: RESPONSE_LABELS,
      histogram: activatorLatency,
    },
    registry,
  );
  // Every request passes the local ingress, so the queue-proxy's figures are the activator's.
  countOf(
    {
      name: 'revision_request_count',
      help: "Requests served by the revision (the queue-proxy's count).",
      labelNames: RESPONSE_LABELS,
      histogram: activatorLatency,
    },
    registry,
  );

  const EVENT_LABELS = ['namespace_name', 'broker_name', 'event_type', 'response_code', 'response_code_class'] as const;
  const FILTER_LABELS = [
    'namespace_name',
    'broker_name',
    'trigger_name',
    'filter_type',
    'response_code',
    'response_code_class',
  ] as const;
  // The broker's metrics run for every event: HotHistogram/HotCounter keep a series per label
  // set under a cheap key (hot-metrics.ts) instead of prom-client's per-call label checks.
  const ingressLatency = new HotHistogram(
    'mt_broker_ingress_event_dispatch_latencies',
    'Time to accept (journal and queue) an event, in milliseconds.',
    KNATIVE_MS_BUCKETS,
    registry,
  );
  const filterLatency = new HotHistogram(
    'mt_broker_filter_event_dispatch_latencies',
    'Time of one delivery attempt to a subscriber, in milliseconds.',
    KNATIVE_MS_BUCKETS,
    registry,
  );
  countOf(
    {
      name: 'mt_broker_ingress_event_count',
      help: 'Events received by a broker, by answer.',
      labelNames: EVENT_LABELS,
      histogram: ingressLatency,
    },
    registry,
  );
  countOf(
    {
      name: 'mt_broker_filter_event_count',
      help: "Delivery attempts of events to triggers' subscribers, by answer (0 = no answer).",
      labelNames: FILTER_LABELS,
      histogram: filterLatency,
    },
    registry,
  );
  const retries = new HotCounter(
    'kaskade_broker_retries_total',
    'Delivery attempts that failed and are tried again.',
    registry,
  );
  const outcomes = new HotCounter(
    'kaskade_broker_deliveries_total',
    'Events whose delivery to a trigger ended, by outcome (delivered, dead-lettered, dropped).',
    registry,
  );

  return {
    registry,
    request(namespace, service, status, ms) {
      const labels = {
        ...revisionLabels({ namespace, service, revision: revisionOf(namespace, service) ?? '' }),
        response_code: String(status),
        response_code_class: responseCodeClass(status),
      };
      activatorLatency.observe(labels, ms);
    },
    brokerObserver(namespace) {
      const code = (status: number) => ({
        response_code: String(status),
        response_code_class: responseCodeClass(status),
      });
      return {
        ingress(broker, type, status, ms) {
          const eventType = boundedLabel(type);
          ingressLatency.observe(
            `${namespace}\u0000${broker}\u0000${eventType}\u0000${status}`,
            () => ({ namespace_name: namespace, broker_name: broker, event_type: eventType, ...code(status) }),
            ms,
          );
        },
        attempt(broker, trigger, type, status, ms) {
          const filterType = boundedLabel(type);
          filterLatency.observe(
            `${namespace}\u0000${broker}\u0000${trigger}\u0000${filterType}\u0000${status}`,
            () => ({
              namespace_name: namespace,
              broker_name: broker,
              trigger_name: trigger,
              filter_type: filterType,
              ...code(status),
            }),
            ms,
          );
        },
        retry(broker, trigger) {
          retries.inc(`${namespace}\u0000${broker}\u0000${trigger}`, () => ({
            namespace_name: namespace,
            broker_name: broker,
            trigger_name: trigger,
          }));
        },
        outcome(broker, trigger, outcome) {
          outcomes.inc(`${namespace}\u0000${broker}\u0000${trigger}\u0000${outcome}`, () => ({
            namespace_name: namespace,
            broker_name: broker,
            trigger_name: trigger,
            outcome,
          }));
        },
      };
    },
  };
}

/** The revisions a ServiceSet runs, as the autoscaler and their pools see them now. */
export function revisionSamples(running: readonly RunningService[], autoscaler: Autoscaler): RevisionSample[] {
  return running.map(({ manifest, revision, target }) => {
    const pool = target.pool.status();
    const scale = autoscaler.status(`${manifest.namespace}/${manifest.name}`);
    return {
      namespace: manifest.namespace,
      service: manifest.name,
      revision,
      desired: scale?.desired ?? 0,
      ready: pool.ready,
      notReady: pool.starting,
      stable: scale?.stable ?? 0,
      panic: scale?.panic ?? 0,
      panicMode: scale?.mode === 'panic',
      targetPerPod: scale?.targetPerPod ?? 0,
      concurrency: pool.inFlight + pool.queued,
      queued: pool.queued,
    };
  });
}
