// The runtime's brokers: events/broker's local broker (one per namespace that has Brokers),
// started with the manifests' Broker and Trigger specs, every Service/Broker reference resolved
// to a local URL. Brokers start first and get their triggers after, so a trigger may deliver
// into another local broker.
import {
  startBroker,
  type BrokerObserver,
  type DeliverySpec,
  type LocalBroker,
  type TriggerSpec,
} from '../../events/broker/index.js';
import type { Logger } from '../../functions/_shared/log.js';
import type { BrokerManifest, Delivery, Destination, TriggerManifest } from './manifests.js';

/** What the runtime needs from its brokers (startLocalBrokers adapts events/broker to it). */
export interface RuntimeBroker {
  /** Ingress URL of a broker, or null if none runs under that name. */
  url(namespace: string, broker: string): string | null;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface BrokerSetup {
  brokers: readonly BrokerManifest[];
  triggers: readonly TriggerManifest[];
  stateDir: string;
  logger: Logger;
  /** Resolves a Destination (Service, Broker or URI) to a URL. */
  resolve: (d: Destination) => string;
  /** What the broker of a namespace reports to (the runtime's metrics). */
  observer?: (namespace: string) => BrokerObserver;
}

export type BrokerLauncher = (setup: BrokerSetup) => Promise<RuntimeBroker>;

export const startLocalBrokers: BrokerLauncher = async (setup) => {
  const started = new Map<string, LocalBroker>();
  const has = (ns: string, name: string): boolean => setup.brokers.some((b) => b.namespace === ns && b.name === name);
  const url = (ns: string, name: string): string | null =>
    has(ns, name) ? (started.get(ns)?.url(ns, name) ?? null) : null;
  const resolve = (d: Destination): string =>
    d.kind === 'broker' ? (url(d.namespace, d.name) ?? setup.resolve(d)) : setup.resolve(d);
  const close = async (): Promise<void> => {
    await Promise.all([...started.values()].map((b) => b.close()));
  };
  try {
    for (const ns of new Set(setup.brokers.map((b) => b.namespace))) {
      const brokers = setup.brokers
        .filter((b) => b.namespace === ns)
        .map((b) => ({ name: b.name, ...(b.delivery ? { delivery: deliverySpec(b.delivery, setup.resolve) } : {}) }));
      started.set(
        ns,
        await startBroker({
          namespace: ns,
          brokers,
          triggers: [],
          stateDir: setup.stateDir,
          logger: setup.logger,
          ...(setup.observer ? { observer: setup.observer(ns) } : {}),
        }),
      );
    }
    for (const [ns, broker] of started) {
      const triggers: TriggerSpec[] = setup.triggers
        .filter((t) => t.namespace === ns)
        .map((t) => ({
          name: t.name,
          broker: t.broker,
          ...(t.filter ? { filter: t.filter } : {}),
          ...(t.filters ? { filters: t.filters } : {}),
          subscriberUri: resolve(t.subscriber),
          ...(t.delivery ? { delivery: deliverySpec(t.delivery, resolve) } : {}),
        }));
      broker.setTriggers(triggers);
    }
  } catch (e) {
    await close();
    throw e;
  }
  const runtimeBroker: RuntimeBroker = {
    url,
    stats: () => Object.fromEntries([...started].map(([ns, b]) => [ns, b.stats()])),
    close,
  };
  return runtimeBroker;
};

function deliverySpec(d: Delivery, resolve: (d: Destination) => string): DeliverySpec {
  return {
    ...(d.retry !== undefined ? { retry: d.retry } : {}),
    ...(d.backoffPolicy ? { backoffPolicy: d.backoffPolicy } : {}),
    ...(d.backoffDelay ? { backoffDelay: d.backoffDelay } : {}),
    ...(d.backoffMax ? { backoffMax: d.backoffMax } : {}),
    ...(d.retryAfterMax ? { retryAfterMax: d.retryAfterMax } : {}),
    ...(d.timeout ? { timeout: d.timeout } : {}),
    ...(d.deadLetterSink ? { deadLetterSink: { uri: resolve(d.deadLetterSink) } } : {}),
  };
}
