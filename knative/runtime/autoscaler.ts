// Drives the KPA: every tick, for each service, it turns the ingress's concurrency samples into
// stable/panic window averages, asks kpa.decide() for a scale and applies it to the pool. A
// request arriving while a service has no worker pokes its tick at once (the activator's job).
import type { Logger } from '../../functions/_shared/log.js';
import {
  decide,
  initialKpaState,
  panicWindowMs,
  targetPerPod,
  type KpaConfig,
  type KpaDecision,
  type KpaState,
} from './kpa.js';
import type { ServicePool } from './pool.js';

/** Runtime-wide changes to the manifests' timing, so tests and demos run in seconds. */
export interface KpaOverrides {
  /** Multiplies every autoscaling duration: windows, scale-down-delay, retention and the tick. */
  timeScale?: number;
  /** Forces the stable window of every service (after timeScale). */
  stableWindowMs?: number;
  /** Tick period; default 2 s × timeScale. */
  tickMs?: number;
}

export const DEFAULT_TICK_MS = 2_000;

export function applyOverrides(config: KpaConfig, o: KpaOverrides = {}): KpaConfig {
  const scale = o.timeScale ?? 1;
  return {
    ...config,
    stableWindowMs: o.stableWindowMs ?? config.stableWindowMs * scale,
    scaleDownDelayMs: config.scaleDownDelayMs * scale,
    scaleToZeroRetentionMs: config.scaleToZeroRetentionMs * scale,
  };
}

export function tickMsOf(o: KpaOverrides = {}): number {
  return o.tickMs ?? DEFAULT_TICK_MS * (o.timeScale ?? 1);
}

export interface ScaleStatus {
  desired: number;
  mode: 'stable' | 'panic';
  stable: number;
  panic: number;
  targetPerPod: number;
}

interface Entry {
  pool: ServicePool;
  config: KpaConfig;
  state: KpaState;
  last: KpaDecision | null;
  stable: number;
  panic: number;
}

export class Autoscaler {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tickMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers a service and starts its initial-scale workers. */
  add(pool: ServicePool, config: KpaConfig): void {
    const state = initialKpaState(config);
    this.entries.set(pool.key, { pool, config, state, last: null, stable: 0, panic: 0 });
    pool.scaleTo(state.lastDesired);
  }

  /** Forgets a service (its pool is stopped by its owner). */
  remove(key: string): void {
    this.entries.delete(key);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tickAll(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tickAll(): void {
    for (const key of this.entries.keys()) this.tick(key);
  }

  /** One KPA decision for one service, applied at once. */
  tick(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    const now = this.now();
    const s = e.pool.sampler;
    const measure = (windowMs: number): number =>
      e.config.metric === 'rps' ? s.rate(windowMs, now) : s.average(windowMs, now);
    const readyPods = e.pool.readyCount();
    e.stable = measure(e.config.stableWindowMs);
    e.panic = measure(panicWindowMs(e.config));
    // At zero the activator reports what it holds right now: the window means lag behind.
    const panic = readyPods === 0 ? Math.max(e.panic, s.current()) : e.panic;
    const decision = decide(e.config, e.state, {
      nowMs: now,
      stable: e.stable,
      panic,
      readyPods,
      idleSinceMs: s.idleSinceMs(),
    });
    if (decision.desired !== e.state.lastDesired || decision.mode !== (e.last?.mode ?? 'stable')) {
      this.logger.info(
        `${key}: scale ${e.state.lastDesired} → ${decision.desired} (${decision.mode}; stable ${e.stable.toFixed(2)}, panic ${panic.toFixed(2)}, ready ${readyPods})`,
      );
    }
    e.state = decision.state;
    e.last = decision;
    e.pool.scaleTo(decision.desired);
  }

  status(key: string): ScaleStatus | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    return {
      desired: e.state.lastDesired,
      mode: e.last?.mode ?? 'stable',
      stable: e.stable,
      panic: e.panic,
      targetPerPod: targetPerPod(e.config),
    };
  }
}
