// What the broker tells an observer (the local runtime's metrics and dashboard) as events pass:
// each ingress answer, each accepted event, each delivery attempt, each retry and how each
// delivery ended. All optional; the broker works the same without one. Calls are synchronous:
// an observer must be quick and must not throw.
import type { WireEvent } from '../wire.js';

export type DeliveryOutcome = 'delivered' | 'dead-lettered' | 'dropped';

export interface BrokerObserver {
  /** An ingress POST was answered with `status` (202 accepted, 4xx refused, 5xx unavailable). */
  ingress?(broker: string, eventType: string | undefined, status: number, ms: number): void;
  /** One delivery attempt to a subscriber (or its dead-letter sink); status 0 = no HTTP answer. */
  attempt?(broker: string, trigger: string, eventType: string | undefined, status: number, ms: number): void;
  /** A failed attempt will be tried again after its backoff. */
  retry?(broker: string, trigger: string): void;
  /** An event the ingress (or a reply) put into the broker, before its deliveries start. */
  accepted?(broker: string, event: WireEvent): void;
  /** How one event's delivery to one trigger ended; `reason` says why it was not delivered. */
  outcome?(
    broker: string,
    trigger: string,
    outcome: DeliveryOutcome,
    event: WireEvent,
    reason: string | undefined,
  ): void;
}
