// Table tests of the KPA decision: each case is one tick from a given state.
import { describe, expect, it } from 'vitest';
import {
  KPA_DEFAULTS,
  decide,
  initialKpaState,
  panicWindowMs,
  targetPerPod,
  type KpaConfig,
  type KpaObservation,
  type KpaState,
} from './kpa.js';

const NOW = 1_000_000;
const WINDOW = KPA_DEFAULTS.stableWindowMs;
const stableState = (lastDesired: number): KpaState => ({
  panicTimeMs: null,
  maxPanicPods: 0,
  recent: [],
  lastDesired,
});
const obs = (o: Partial<KpaObservation>): KpaObservation => ({
  nowMs: NOW,
  stable: 0,
  panic: 0,
  readyPods: 1,
  idleSinceMs: null,
  ...o,
});
/** target 1, utilization 100 %: one concurrent request per pod, so the numbers read directly. */
const unit: Partial<KpaConfig> = { target: 1, utilization: 1 };

interface Case {
  name: string;
  config?: Partial<KpaConfig>;
  state?: KpaState;
  obs: Partial<KpaObservation>;
  desired: number;
  mode?: 'stable' | 'panic';
}

const cases: Case[] = [
  { name: 'default target 100 at 70 % keeps one pod for 70 concurrent', obs: { stable: 70, panic: 70 }, desired: 1 },
  { name: 'default target 100 at 70 % wants two pods for 71 concurrent', obs: { stable: 71, panic: 71 }, desired: 2 },
  {
    name: 'target 10 (from containerConcurrency) gives 7 per pod: 14 → 2',
    config: { target: 10 },
    obs: { stable: 14, panic: 14 },
    desired: 2,
  },
  {
    name: 'target 10 gives 7 per pod: 15 → 3',
    config: { target: 10 },
    state: stableState(2),
    obs: { stable: 15, panic: 15, readyPods: 2 },
    desired: 3,
  },
  {
    name: 'utilization 50 % halves the per-pod target',
    config: { target: 10, utilization: 0.5 },
    state: stableState(2),
    obs: { stable: 10, panic: 10, readyPods: 2 },
    desired: 2,
  },
  {
    name: 'scale-up rate limits to rate × ready pods',
    config: { ...unit, maxScaleUpRate: 2 },
    state: stableState(2),
    obs: { stable: 50, panic: 1, readyPods: 2 },
    desired: 4,
  },
  {
    name: 'scale-up by one is always allowed',
    config: { ...unit, maxScaleUpRate: 1 },
    state: stableState(2),
    obs: { stable: 50, panic: 1, readyPods: 2 },
    desired: 3,
  },
  {
    name: 'scale-down rate limits to ready ÷ 2',
    config: unit,
    state: stableState(8),
    obs: { stable: 1, panic: 1, readyPods: 8 },
    desired: 4,
  },
  {
    name: 'scale-down rounds like Knative (floor): 3 ready may go to 1',
    config: unit,
    state: stableState(3),
    obs: { stable: 1, panic: 1, readyPods: 3 },
    desired: 1,
  },
  {
    name: 'scale-down by one is always allowed',
    config: { ...unit, maxScaleDownRate: 1 },
    state: stableState(2),
    obs: { stable: 0.5, panic: 0.5, readyPods: 2 },
    desired: 1,
  },
  {
    name: 'panic starts at exactly 200 % of ready capacity',
    config: unit,
    state: stableState(1),
    obs: { stable: 1, panic: 2 },
    desired: 2,
    mode: 'panic',
  },
  {
    name: 'no panic at 150 %',
    config: unit,
    state: stableState(2),
    obs: { stable: 2, panic: 3, readyPods: 2 },
    desired: 2,
    mode: 'stable',
  },
  {
    name: 'panic takes the larger of stable and panic',
    config: unit,
    state: stableState(1),
    obs: { stable: 5, panic: 3 },
    desired: 5,
    mode: 'panic',
  },
  {
    name: 'with no ready pod the panic ratio counts one pod',
    config: unit,
    state: stableState(1),
    obs: { stable: 0.1, panic: 2, readyPods: 0 },
    desired: 2,
    mode: 'panic',
  },
  {
    name: 'in panic it never scales down',
    config: unit,
    state: { panicTimeMs: NOW - 1_000, maxPanicPods: 5, recent: [], lastDesired: 5 },
    obs: { stable: 1, panic: 1, readyPods: 5 },
    desired: 5,
    mode: 'panic',
  },
  {
    name: 'entering panic keeps the pods already asked for',
    config: unit,
    state: stableState(6),
    obs: { stable: 1, panic: 8, readyPods: 3 },
    desired: 8,
    mode: 'panic',
  },
  {
    name: 'panic ends only after a whole stable window below the threshold',
    config: unit,
    state: { panicTimeMs: NOW - WINDOW, maxPanicPods: 5, recent: [], lastDesired: 5 },
    obs: { stable: 2, panic: 1, readyPods: 5 },
    desired: 2,
    mode: 'stable',
  },
  {
    name: 'panic holds one millisecond before the window is over',
    config: unit,
    state: { panicTimeMs: NOW - WINDOW + 1, maxPanicPods: 5, recent: [], lastDesired: 5 },
    obs: { stable: 2, panic: 1, readyPods: 5 },
    desired: 5,
    mode: 'panic',
  },
  {
    name: 'crossing the threshold again extends the panic',
    config: unit,
    state: { panicTimeMs: NOW - WINDOW, maxPanicPods: 4, recent: [], lastDesired: 4 },
    obs: { stable: 2, panic: 8, readyPods: 4 },
    desired: 8,
    mode: 'panic',
  },
  {
    name: 'min-scale holds pods without traffic',
    config: { ...unit, minScale: 2 },
    state: stableState(2),
    obs: { readyPods: 2, idleSinceMs: 0 },
    desired: 2,
  },
  {
    name: 'max-scale caps the answer',
    config: { ...unit, maxScale: 3 },
    state: stableState(3),
    obs: { stable: 10, panic: 4, readyPods: 3 },
    desired: 3,
  },
  {
    name: 'max-scale caps panic too',
    config: { ...unit, maxScale: 3 },
    state: stableState(1),
    obs: { stable: 1, panic: 10, readyPods: 1 },
    desired: 3,
    mode: 'panic',
  },
  {
    name: 'scale-down-delay keeps the maximum of the trailing window',
    config: { ...unit, scaleDownDelayMs: 10_000 },
    state: { ...stableState(4), recent: [{ atMs: NOW - 9_999, desired: 4 }] },
    obs: { stable: 1, panic: 1, readyPods: 2 },
    desired: 4,
  },
  {
    name: 'scale-down-delay forgets decisions older than the delay',
    config: { ...unit, scaleDownDelayMs: 10_000 },
    state: { ...stableState(4), recent: [{ atMs: NOW - 10_000, desired: 4 }] },
    obs: { stable: 1, panic: 1, readyPods: 2 },
    desired: 1,
  },
  {
    name: 'the last pod stays until a whole stable window without traffic',
    config: unit,
    state: stableState(1),
    obs: { idleSinceMs: NOW - WINDOW + 1 },
    desired: 1,
  },
  {
    name: 'the last pod goes after a whole stable window without traffic',
    config: unit,
    state: stableState(1),
    obs: { idleSinceMs: NOW - WINDOW },
    desired: 0,
  },
  {
    name: 'retention adds to the window before the last pod goes',
    config: { ...unit, scaleToZeroRetentionMs: 5_000 },
    state: stableState(1),
    obs: { idleSinceMs: NOW - WINDOW - 4_999 },
    desired: 1,
  },
  {
    name: 'scale to zero disabled keeps one pod',
    config: { ...unit, enableScaleToZero: false },
    state: stableState(1),
    obs: { idleSinceMs: 0 },
    desired: 1,
  },
  {
    name: 'at zero without traffic stays at zero',
    config: unit,
    state: stableState(0),
    obs: { readyPods: 0, idleSinceMs: NOW - 5 },
    desired: 0,
  },
  {
    name: 'any traffic at zero asks for one pod',
    config: unit,
    state: stableState(0),
    obs: { stable: 0.001, panic: 0.01, readyPods: 0 },
    desired: 1,
  },
  {
    name: 'activation-scale lifts the first step from zero',
    config: { ...unit, activationScale: 3 },
    state: stableState(0),
    obs: { stable: 0.001, panic: 0.01, readyPods: 0 },
    desired: 3,
  },
  {
    name: 'activation-scale does not stop scale to zero',
    config: { ...unit, activationScale: 3 },
    state: stableState(3),
    obs: { readyPods: 1, idleSinceMs: NOW - WINDOW },
    desired: 0,
  },
  {
    name: 'the scale-down rate applies on the way to zero',
    config: unit,
    state: stableState(3),
    obs: { readyPods: 3, idleSinceMs: NOW - WINDOW },
    desired: 1,
  },
  {
    name: 'rps uses the same arithmetic on requests per second',
    config: { metric: 'rps', target: 10, utilization: 1 },
    state: stableState(2),
    obs: { stable: 25, panic: 25, readyPods: 2 },
    desired: 3,
  },
];

describe('KPA decide', () => {
  it.each(cases)('$name', (c) => {
    const config: KpaConfig = { ...KPA_DEFAULTS, ...c.config };
    const decision = decide(config, c.state ?? stableState(1), obs(c.obs));
    expect(decision.desired).toBe(c.desired);
    if (c.mode) expect(decision.mode).toBe(c.mode);
    expect(decision.state.lastDesired).toBe(decision.desired);
  });
});

describe('KPA helpers', () => {
  it.each([
    { name: 'defaults: 70 per pod, 6 s panic window', config: {}, perPod: 70, panicMs: 6_000 },
    {
      name: 'target 10 at 70 %, panic 20 % of 10 s',
      config: { target: 10, stableWindowMs: 10_000, panicWindowPercentage: 20 },
      perPod: 7,
      panicMs: 2_000,
    },
  ])('$name', ({ config, perPod, panicMs }) => {
    const full = { ...KPA_DEFAULTS, ...config };
    expect(targetPerPod(full)).toBeCloseTo(perPod, 10);
    expect(panicWindowMs(full)).toBe(panicMs);
  });

  it.each([
    { name: 'initial scale 1 by default', config: {}, lastDesired: 1 },
    { name: 'initial scale 0 when allowed', config: { initialScale: 0 }, lastDesired: 0 },
    { name: 'initial scale raised to min-scale', config: { initialScale: 1, minScale: 3 }, lastDesired: 3 },
    { name: 'initial scale capped by max-scale', config: { initialScale: 5, maxScale: 2 }, lastDesired: 2 },
  ])('$name', ({ config, lastDesired }) => {
    expect(initialKpaState({ ...KPA_DEFAULTS, ...config }).lastDesired).toBe(lastDesired);
  });
});

describe('KPA over time', () => {
  it('a burst panics up, holds through the panic, then steps down and reaches zero after a quiet window', () => {
    const config: KpaConfig = { ...KPA_DEFAULTS, ...unit, stableWindowMs: 10_000 };
    // [time ms, stable, panic, ready, idleSince] → desired, mode
    const ticks: Array<{
      at: number;
      stable: number;
      panic: number;
      ready: number;
      idleSince: number | null;
      desired: number;
      mode: 'stable' | 'panic';
    }> = [
      { at: 0, stable: 0.5, panic: 4, ready: 1, idleSince: null, desired: 4, mode: 'panic' },
      { at: 2_000, stable: 2, panic: 8, ready: 4, idleSince: null, desired: 8, mode: 'panic' },
      { at: 4_000, stable: 3, panic: 1, ready: 8, idleSince: null, desired: 8, mode: 'panic' },
      { at: 12_000, stable: 1, panic: 0, ready: 8, idleSince: 5_000, desired: 4, mode: 'stable' },
      { at: 14_000, stable: 0.4, panic: 0, ready: 4, idleSince: 5_000, desired: 2, mode: 'stable' },
      { at: 14_500, stable: 0, panic: 0, ready: 2, idleSince: 5_000, desired: 1, mode: 'stable' },
      { at: 15_000, stable: 0, panic: 0, ready: 1, idleSince: 5_000, desired: 0, mode: 'stable' },
    ];
    let state = initialKpaState(config);
    for (const t of ticks) {
      const d = decide(config, state, {
        nowMs: t.at,
        stable: t.stable,
        panic: t.panic,
        readyPods: t.ready,
        idleSinceMs: t.idleSince,
      });
      expect({ at: t.at, desired: d.desired, mode: d.mode }).toEqual({ at: t.at, desired: t.desired, mode: t.mode });
      state = d.state;
    }
  });
});
