// The autoscaling lab: fit the seed's latency model to a CSV, rebuild the seed's Q agent,
// simulate one seeded trace under the Q policy, KPA configurations and fixed pod counts, and
// recommend the split halves' autoscaling annotations from what the simulation measured.
import { BadInputError } from '../../functions/_shared/errors.js';
import { KPA_DEFAULTS, type KpaConfig } from '../runtime/kpa.js';
import { fixedController, kpaController, qController } from './controllers.js';
import { batchTimes, type CollectRow } from './csv.js';
import { fitByBandwidth, type ExpFit } from './fit.js';
import { MAX_PODS, SEED_MODELS, trainQAgent, type ExpModel, type QAgent } from './q-agent.js';
import { randomTrace, simulate, type SimParams, type SimResult } from './simulate.js';

export interface LabOptions {
  seed: number;
  /** Measured rows (`kaskade collect`); without them the seed's published fit is used. */
  rows?: readonly CollectRow[];
  /** Requests per batch in the rows (collect's --concurrency); without it a batch ends where
   *  end_time falls back. */
  batchSize?: number;
  phases: number;
  phaseMs: number;
  rates: number[];
  bandwidths: number[];
  halfAMs: number;
  halfBMs: number;
  transferMs: number;
  sloMs: number;
  /** Largest SLO-violation rate a recommended configuration may have. */
  sloBudget: number;
}

export const LAB_DEFAULTS: LabOptions = {
  seed: 7,
  phases: 12,
  phaseMs: 60_000,
  rates: [0, 2, 5, 10, 20, 30],
  bandwidths: [1, 2, 3, 4, 5, 6, 7, 8],
  halfAMs: 40,
  halfBMs: 40,
  transferMs: 100,
  sloMs: 300,
  sloBudget: 0.03,
};

/** KPA settings the recommendation searches (target concurrency × min-scale). */
export const KPA_CANDIDATES: ReadonlyArray<Pick<KpaConfig, 'target' | 'minScale'>> = [1, 2, 3, 4, 6].flatMap((target) =>
  [0, 1].map((minScale) => ({ target, minScale })),
);

export interface Recommendation {
  annotations: Record<string, string>;
  containerConcurrency: number;
  why: string;
}

export interface LabReport {
  fits: Map<number, ExpFit>;
  fitSource: 'csv' | 'seed';
  agent: QAgent;
  params: SimParams;
  results: SimResult[];
  candidates: Candidate[];
  recommendation: Recommendation;
}

export interface Candidate {
  config: KpaConfig;
  result: SimResult;
}

export function runLab(options: LabOptions = LAB_DEFAULTS): LabReport {
  const measured = options.rows && options.rows.length > 0;
  const fits = measured ? fitByBandwidth(batchTimes(options.rows ?? [], options.batchSize)) : seedFits();
  const models: Record<number, ExpModel> = Object.fromEntries([...fits].map(([level, f]) => [level, f]));
  const agent = trainQAgent(models);
  const params = simParams(options);
  const kpaConfig = (target: number, minScale: number): KpaConfig => ({
    ...KPA_DEFAULTS,
    target,
    utilization: 0.7,
    minScale,
    maxScale: MAX_PODS / 2,
    initialScale: 1,
  });
  const candidates = KPA_CANDIDATES.map((c) => {
    const config = kpaConfig(c.target, c.minScale);
    return { config, result: simulate(params, kpaController(config)) };
  });
  const { recommendation, chosen } = recommend(candidates, options.sloBudget);
  const results = [
    simulate(params, qController(agent)),
    chosen.result,
    simulate(
      params,
      kpaController({ ...KPA_DEFAULTS, target: 100, maxScale: MAX_PODS / 2 }, 'KPA defaults (target 100)'),
    ),
    simulate(params, fixedController(2)),
    simulate(params, fixedController(4)),
    simulate(params, fixedController(MAX_PODS)),
  ];
  return { fits, fitSource: measured ? 'csv' : 'seed', agent, params, results, candidates, recommendation };
}

export function simParams(options: LabOptions): SimParams {
  return {
    seed: options.seed,
    durationMs: options.phases * options.phaseMs,
    halfAMs: options.halfAMs,
    halfBMs: options.halfBMs,
    transferMs: options.transferMs,
    serviceCv: 0.3,
    podStartMs: 1_500,
    tickMs: 2_000,
    sloMs: options.sloMs,
    phases: randomTrace(options.seed, options.phases, options.phaseMs, options.rates, options.bandwidths),
  };
}

/** The cheapest KPA configuration (pod-seconds) whose SLO-violation rate fits the budget; if
 *  none does, the one with the fewest violations. */
export function recommend(
  candidates: readonly Candidate[],
  sloBudget: number,
): { recommendation: Recommendation; chosen: Candidate } {
  const within = candidates.filter((c) => c.result.sloViolationRate <= sloBudget);
  const pool =
    within.length > 0
      ? within
      : [...candidates].sort((x, y) => x.result.sloViolationRate - y.result.sloViolationRate).slice(0, 1);
  const chosen = [...pool].sort((x, y) => x.result.podSeconds - y.result.podSeconds)[0];
  if (chosen === undefined) throw new BadInputError('the lab needs at least one KPA candidate');
  const { target, minScale, maxScale } = chosen.config;
  const best = chosen.result;
  const recommendation: Recommendation = {
    annotations: {
      'autoscaling.knative.dev/metric': 'concurrency',
      'autoscaling.knative.dev/target': String(target),
      'autoscaling.knative.dev/target-utilization-percentage': '70',
      'autoscaling.knative.dev/min-scale': String(minScale),
      'autoscaling.knative.dev/max-scale': String(maxScale),
    },
    containerConcurrency: Math.max(target * 2, 4),
    why:
      within.length > 0
        ? `${best.controller}: the fewest pod-seconds (${best.podSeconds.toFixed(0)}) among settings whose SLO violations stay within ${(sloBudget * 100).toFixed(0)} % (${(best.sloViolationRate * 100).toFixed(1)} %)`
        : `${best.controller}: no setting met the SLO budget; this one had the fewest violations`,
  };
  return { recommendation, chosen };
}

function seedFits(): Map<number, ExpFit> {
  return new Map(
    Object.entries(SEED_MODELS).map(([level, m]) => [Number(level), { ...m, rmse: Number.NaN, points: 0 }]),
  );
}
