// The controllers the lab compares: the seed's Q policy (pods from the bandwidth level alone),
// Knative's KPA per half (the local runtime's own decision function, fed the concurrency the
// simulation samples), and fixed pod counts.
import { decide, initialKpaState, type KpaConfig, type KpaState } from '../runtime/kpa.js';
import { policyFor, type QAgent } from './q-agent.js';
import type { Controller, Observation } from './simulate.js';

const SAMPLE_MS = 100;

export function fixedController(pods: number): Controller {
  const podsA = Math.ceil(pods / 2);
  return { name: `fixed ${pods} pods`, decide: () => ({ podsA, podsB: pods - podsA }) };
}

/** The seed's agent: total pods by bandwidth level, half to A (rounded up), half to B. */
export function qController(agent: QAgent): Controller {
  return {
    name: 'Q policy (seed 002)',
    decide: (obs) => {
      const pods = policyFor(agent, obs.bandwidth);
      const podsA = Math.ceil(pods / 2);
      return { podsA, podsB: pods - podsA };
    },
  };
}

/** One KPA per half, as Knative runs one autoscaler per revision. */
export function kpaController(config: KpaConfig, name = kpaName(config)): Controller {
  const a = new KpaHalf(config);
  const b = new KpaHalf(config);
  return {
    name,
    decide: (obs: Observation) => ({
      podsA: a.decide(obs.nowMs, obs.concurrencyA, obs.readyA, obs.idleSinceMsA),
      podsB: b.decide(obs.nowMs, obs.concurrencyB, obs.readyB, obs.idleSinceMsB),
    }),
  };
}

export function kpaName(config: KpaConfig): string {
  const max = config.maxScale > 0 ? `, max ${config.maxScale}` : '';
  return `KPA target ${config.target}, util ${Math.round(config.utilization * 100)} %, min ${config.minScale}${max}`;
}

class KpaHalf {
  private state: KpaState;
  private readonly samples: Array<{ t: number; v: number }> = [];
  constructor(private readonly config: KpaConfig) {
    this.state = initialKpaState(config);
  }

  decide(nowMs: number, concurrency: readonly number[], ready: number, idleSinceMs: number | null): number {
    concurrency.forEach((v, i) => this.samples.push({ t: nowMs - (concurrency.length - i) * SAMPLE_MS, v }));
    while (this.samples.length > 0 && (this.samples[0] as { t: number }).t < nowMs - this.config.stableWindowMs)
      this.samples.shift();
    const panicMs = (this.config.stableWindowMs * this.config.panicWindowPercentage) / 100;
    const decision = decide(this.config, this.state, {
      nowMs,
      stable: average(this.samples.map((s) => s.v)),
      panic: average(this.samples.filter((s) => s.t >= nowMs - panicMs).map((s) => s.v)),
      readyPods: ready,
      idleSinceMs,
    });
    this.state = decision.state;
    return decision.desired;
  }
}

function average(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((s, v) => s + v, 0) / values.length;
}
