// What the broker tells an observer (the local runtime's metrics) as events pass: each ingress
// answer, each delivery attempt, each retry and how each delivery ended. All optional; the
// broker works the same without one.

export interface BrokerObserver {
  /** An ingress POST was answered with `status` (202 accepted, 4xx refused, 5xx unavailable). */
  ingress?(broker: string, eventType: string | undefined, status: number, ms: number): void;
  /** One delivery attempt to a subscriber (or its dead-letter sink); status 0 = no HTTP answer. */
  attempt?(broker: string, trigger: string, eventType: string | undefined, status: number, ms: number): void;
  /** A failed attempt will be tried again after its backoff. */
  retry?(broker: string, trigger: string): void;
  /** How one event's delivery to one trigger ended. */
  outcome?(broker: string, trigger: string, outcome: 'delivered' | 'dead-lettered' | 'dropped'): void;
}
