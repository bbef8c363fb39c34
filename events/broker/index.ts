// The local broker's public face: start it with parsed Broker/Trigger specs, post events to
// `url(namespace, broker)`. See README.md in this folder for the semantics and what survives
// a restart.
export { startBroker, type BrokerStats, type LocalBroker, type StartBrokerOptions } from './broker.js';
export { parseDuration } from './duration.js';
export { DEFAULT_DELIVERY, type DeliveryPolicy } from './policy.js';
export { CESQL_SUBSET } from './cesql.js';
export type { BrokerSpec, DeliverySpec, FilterDialect, TriggerSpec } from './spec.js';
export type { BrokerObserver } from './observer.js';
