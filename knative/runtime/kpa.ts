// The Knative Pod Autoscaler's decision as a pure function: from the concurrency (or request
// rate) averaged over the stable and panic windows, the ready pods, the revision's config and
// the previous state, compute the desired pod count and the next state. No clocks, no I/O:
// the caller passes `nowMs`. Follows knative/serving pkg/autoscaler/scaling/autoscaler.go plus
// the scaler's min/max/scale-to-zero rules (see README.md "Autoscaling").

export type KpaMetric = 'concurrency' | 'rps';

export interface KpaConfig {
  metric: KpaMetric;
  /** Target per pod before utilization: concurrent requests, or requests per second for rps. */
  target: number;
  /** target-utilization-percentage / 100. */
  utilization: number;
  stableWindowMs: number;
  /** Panic window as a percentage of the stable window (1..100). */
  panicWindowPercentage: number;
  /** Panic threshold as a ratio: 2 means 200 % of the ready pods' capacity. */
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  minScale: number;
  /** 0 means unlimited. */
  maxScale: number;
  initialScale: number;
  activationScale: number;
  scaleDownDelayMs: number;
  scaleToZeroRetentionMs: number;
  enableScaleToZero: boolean;
}

export const KPA_DEFAULTS: KpaConfig = {
  metric: 'concurrency',
  target: 100,
  utilization: 0.7,
  stableWindowMs: 60_000,
  panicWindowPercentage: 10,
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  minScale: 0,
  maxScale: 0,
  initialScale: 1,
  activationScale: 1,
  scaleDownDelayMs: 0,
  scaleToZeroRetentionMs: 0,
  enableScaleToZero: true,
};

export interface KpaObservation {
  nowMs: number;
  /** Average metric over the stable window. */
  stable: number;
  /** Average metric over the panic window. */
  panic: number;
  readyPods: number;
  /** Since when no request has been in flight; null while one is. */
  idleSinceMs: number | null;
}

export interface KpaState {
  /** Last time the panic threshold was crossed; null when in stable mode. */
  panicTimeMs: number | null;
  /** Highest count desired during the current panic (never scale below it while panicking). */
  maxPanicPods: number;
  /** Recent decisions kept for scale-down-delay: the answer is their maximum. */
  recent: ReadonlyArray<{ atMs: number; desired: number }>;
  lastDesired: number;
}

export interface KpaDecision {
  desired: number;
  mode: 'stable' | 'panic';
  desiredStable: number;
  desiredPanic: number;
  state: KpaState;
}

export function targetPerPod(config: KpaConfig): number {
  return config.target * config.utilization;
}

export function panicWindowMs(config: KpaConfig): number {
  return (config.stableWindowMs * config.panicWindowPercentage) / 100;
}

export function initialKpaState(config: KpaConfig): KpaState {
  return { panicTimeMs: null, maxPanicPods: 0, recent: [], lastDesired: clampScale(config, config.initialScale) };
}

export function decide(config: KpaConfig, state: KpaState, obs: KpaObservation): KpaDecision {
  const perPod = targetPerPod(config);
  // With no ready pod the ratios are computed as if there were one, as Knative does.
  const ready = Math.max(obs.readyPods, 1);
  const maxUp = Math.max(Math.ceil(config.maxScaleUpRate * ready), obs.readyPods + 1);
  const maxDown = Math.min(Math.floor(ready / config.maxScaleDownRate), Math.max(obs.readyPods - 1, 0));
  const rawStable = Math.ceil(obs.stable / perPod);
  const rawPanic = Math.ceil(obs.panic / perPod);
  const desiredStable = clamp(rawStable, maxDown, maxUp);
  const desiredPanic = clamp(rawPanic, maxDown, maxUp);

  const overThreshold = rawPanic / ready >= config.panicThreshold;
  let panicTimeMs = state.panicTimeMs;
  let maxPanicPods = state.maxPanicPods;
  if (overThreshold) {
    if (panicTimeMs === null) maxPanicPods = Math.max(obs.readyPods, state.lastDesired);
    panicTimeMs = obs.nowMs;
  } else if (panicTimeMs !== null && obs.nowMs - panicTimeMs >= config.stableWindowMs) {
    panicTimeMs = null;
    maxPanicPods = 0;
  }

  let desired = desiredStable;
  if (panicTimeMs !== null) {
    desired = Math.max(desiredStable, desiredPanic, maxPanicPods);
    maxPanicPods = desired;
  }

  const recent = [
    ...state.recent.filter((r) => obs.nowMs - r.atMs < config.scaleDownDelayMs),
    { atMs: obs.nowMs, desired },
  ];
  if (config.scaleDownDelayMs > 0) desired = Math.max(...recent.map((r) => r.desired));

  if (desired > 0 && desired < config.activationScale) desired = config.activationScale;
  if (desired === 0 && state.lastDesired > 0 && !mayScaleToZero(config, obs)) desired = 1;
  desired = clampScale(config, desired);

  return {
    desired,
    mode: panicTimeMs === null ? 'stable' : 'panic',
    desiredStable,
    desiredPanic,
    state: { panicTimeMs, maxPanicPods, recent: config.scaleDownDelayMs > 0 ? recent : [], lastDesired: desired },
  };
}

/** The last pod goes only after a whole stable window (plus retention) without traffic. */
function mayScaleToZero(config: KpaConfig, obs: KpaObservation): boolean {
  if (!config.enableScaleToZero || obs.idleSinceMs === null) return false;
  return obs.nowMs - obs.idleSinceMs >= config.stableWindowMs + config.scaleToZeroRetentionMs;
}

export function clampScale(config: KpaConfig, desired: number): number {
  let n = Math.max(desired, config.minScale);
  if (config.maxScale > 0) n = Math.min(n, config.maxScale);
  if (!config.enableScaleToZero) n = Math.max(n, 1);
  return n;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(Math.max(n, lo), hi);
}
