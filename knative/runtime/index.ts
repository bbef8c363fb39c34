// The local runtime's public API: Knative Serving and Eventing on one machine (see README.md).
export { startRuntime, type Runtime, type RuntimeOptions, type RuntimeStatus, type ServiceStatus } from './runtime.js';
export type { BrokerLauncher, RuntimeBroker } from './broker.js';
export { loadRuntimeConfig, type RuntimeEnvConfig } from './config.js';
export { readState, type RuntimeStateFile } from './state.js';
export {
  decide,
  initialKpaState,
  KPA_DEFAULTS,
  type KpaConfig,
  type KpaDecision,
  type KpaObservation,
  type KpaState,
} from './kpa.js';
export type { KpaOverrides } from './autoscaler.js';
export { routeOf } from './ingress.js';
