import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../functions/_shared/data/random.js';
import { BadInputError } from '../../functions/_shared/errors.js';
import { KPA_DEFAULTS } from '../runtime/kpa.js';
import { labChartSvg } from './chart.js';
import { fixedController, kpaController, qController } from './controllers.js';
import { batchTimes, formatCollectCsv, parseCollectCsv, type CollectRow } from './csv.js';
import { fitExponential } from './fit.js';
import { LAB_DEFAULTS, recommend, runLab, simParams, type Candidate } from './lab.js';
import { SEED_MODELS, SEED_PUBLISHED_POLICY, SEED_Q_OPTIONS, batchTime, trainQAgent } from './q-agent.js';
import { formatLabReport } from './report.js';
import { simulate, type SimParams, type SimResult } from './simulate.js';

describe("the seed's Q agent, from its published parameters", () => {
  it('prints the policy 2, 4, 5, 5, 5, 5, 6, 6', () => {
    const agent = trainQAgent(SEED_MODELS, SEED_Q_OPTIONS);
    expect(agent.policy).toEqual([2, 4, 5, 5, 5, 5, 6, 6]);
    expect(agent.policy).toEqual(SEED_PUBLISHED_POLICY);
  });

  it.each([1, 3, 11])('reaches the same policy from seed %i', (seed) => {
    expect(trainQAgent(SEED_MODELS, { ...SEED_Q_OPTIONS, seed }).policy).toEqual([...SEED_PUBLISHED_POLICY]);
  });

  it('does not learn a policy it was never given enough episodes for', () => {
    // 8 episodes cannot try 7 actions in 8 states: the greedy answer stays the first action
    expect(trainQAgent(SEED_MODELS, { ...SEED_Q_OPTIONS, episodes: 8 }).policy).not.toEqual([...SEED_PUBLISHED_POLICY]);
  });
});

describe('fitExponential', () => {
  it('recovers a, k and c from noisy points', () => {
    const truth = { a: 0.9, k: 0.8, c: 3.6 };
    const random = seededRandom(5);
    const points = [2, 3, 4, 5, 6, 7, 8].flatMap((pods) =>
      [0, 1, 2].map(() => ({ pods, seconds: batchTime(truth, pods) + (random() - 0.5) * 0.02 })),
    );
    const fit = fitExponential(points);
    expect(fit.a).toBeCloseTo(truth.a, 1);
    expect(fit.k).toBeCloseTo(truth.k, 1);
    expect(fit.c).toBeCloseTo(truth.c, 1);
    expect(fit.rmse).toBeLessThan(0.02);
  });

  it.each([
    {
      name: 'too few points',
      points: [
        { pods: 2, seconds: 1 },
        { pods: 3, seconds: 1 },
      ],
    },
    { name: 'too few distinct pod counts', points: [2, 2, 3, 3].map((pods) => ({ pods, seconds: pods })) },
  ])('refuses $name', ({ points }) => {
    expect(() => fitExponential(points)).toThrow(BadInputError);
  });
});

describe('the collect CSV', () => {
  const rows: CollectRow[] = [0.4, 0.9, 1.2, 0.3, 1.0].map((endTime, i) => ({
    inferenceTimeA: 0.04,
    inferenceTimeB: 0.05,
    totalTime: 0.2,
    endTime,
    podsA: 1,
    podsB: i < 3 ? 1 : 2,
    bandwidth: 3,
  }));

  it('round-trips with the seed column names', () => {
    const text = formatCollectCsv(rows);
    expect(text.split('\n')[0]).toBe(
      'inference_time_a,inference_time_b,total_time,end_time,NUM_POD_A,NUM_POD_B,BANDWIDTH',
    );
    expect(parseCollectCsv(text)).toEqual(rows);
  });

  it('groups consecutive rows of a setting into batches timed by their last answer', () => {
    expect(batchTimes(rows)).toEqual([
      { bandwidth: 3, pods: 2, seconds: 1.2 },
      { bandwidth: 3, pods: 3, seconds: 1.0 },
    ]);
  });

  it('groups by batch size when the next batch answers later than the last one did', () => {
    const row = (endTime: number): CollectRow => ({
      inferenceTimeA: 0.1,
      inferenceTimeB: 0.1,
      totalTime: 0.2,
      endTime,
      podsA: 1,
      podsB: 1,
      bandwidth: 2,
    });
    const clustered = [row(0.5), row(0.51), row(0.52), row(0.6)];
    expect(batchTimes(clustered)).toEqual([{ bandwidth: 2, pods: 2, seconds: 0.6 }]);
    expect(batchTimes(clustered, 2)).toEqual([
      { bandwidth: 2, pods: 2, seconds: 0.51 },
      { bandwidth: 2, pods: 2, seconds: 0.6 },
    ]);
  });

  it.each([
    { name: 'a missing column', text: 'inference_time_a,end_time\n1,2\n', message: /NUM_POD_A/ },
    {
      name: 'a non-number',
      text: `${formatCollectCsv(rows).split('\n')[0]}\n1,2,3,x,1,1,2\n`,
      message: /end_time is not a number/,
    },
    { name: 'no rows', text: 'inference_time_a\n', message: /no rows/ },
  ])('refuses $name', ({ text, message }) => {
    expect(() => parseCollectCsv(text)).toThrow(message);
  });
});

const busy: SimParams = {
  seed: 3,
  durationMs: 120_000,
  halfAMs: 40,
  halfBMs: 40,
  transferMs: 100,
  serviceCv: 0.3,
  podStartMs: 1_500,
  tickMs: 2_000,
  sloMs: 300,
  phases: [{ durationMs: 120_000, ratePerSec: 30, bandwidth: 8 }],
};

describe('simulate', () => {
  it('is deterministic for a seed', () => {
    const one = simulate(busy, fixedController(4));
    const two = simulate(busy, fixedController(4));
    expect(two).toEqual(one);
    expect(simulate({ ...busy, seed: 4 }, fixedController(4)).requests).not.toBe(one.requests);
  });

  it('answers every request, and more pods cut the tail under load', () => {
    const two = simulate(busy, fixedController(2));
    const eight = simulate(busy, fixedController(8));
    expect(eight.p95Ms).toBeLessThan(two.p95Ms / 2);
    // 8 pods from the first tick to the last answer (which may come just after the trace ends)
    expect(eight.podSeconds).toBeGreaterThanOrEqual(8 * 120);
    expect(eight.podSeconds).toBeLessThan(8 * 121);
    expect(eight.requests).toBeGreaterThan(3000);
  });

  it("shows the seed's observation: with one sender thread, more pods do not help", () => {
    const narrow = { ...busy, phases: [{ durationMs: 120_000, ratePerSec: 8, bandwidth: 1 }] };
    const four = simulate(narrow, fixedController(4));
    const eight = simulate(narrow, fixedController(8));
    expect(eight.p95Ms).toBeGreaterThan(0.9 * four.p95Ms);
  });

  it('lets the KPA scale from its initial pods to meet the load', () => {
    const kpa = simulate(busy, kpaController({ ...KPA_DEFAULTS, target: 1, maxScale: 4 }));
    const peak = Math.max(...kpa.timeline.map((p) => p.pods));
    expect(peak).toBeGreaterThanOrEqual(4);
    expect(kpa.sloViolationRate).toBeLessThan(simulate(busy, fixedController(2)).sloViolationRate);
  });

  it('gives the Q policy the pods of each bandwidth level', () => {
    const agent = trainQAgent(SEED_MODELS);
    const result = simulate(
      {
        ...busy,
        phases: [
          { durationMs: 60_000, ratePerSec: 5, bandwidth: 2 },
          { durationMs: 60_000, ratePerSec: 5, bandwidth: 8 },
        ],
      },
      qController(agent),
    );
    expect(new Set(result.timeline.map((p) => p.pods))).toEqual(new Set([4, 6]));
  });

  it('refuses a trace without phases or with a bandwidth level below 1', () => {
    expect(() => simulate({ ...busy, phases: [] }, fixedController(2))).toThrow(BadInputError);
    expect(() =>
      simulate({ ...busy, phases: [{ durationMs: 1000, ratePerSec: 1, bandwidth: 0 }] }, fixedController(2)),
    ).toThrow(BadInputError);
  });
});

describe('recommend', () => {
  const candidate = (target: number, rate: number, podSeconds: number): Candidate => ({
    config: { ...KPA_DEFAULTS, target, minScale: 1, maxScale: 4 },
    result: {
      controller: `t${target}`,
      requests: 100,
      p50Ms: 1,
      p95Ms: 1,
      sloViolations: rate * 100,
      sloViolationRate: rate,
      podSeconds,
      timeline: [],
    } satisfies SimResult,
  });

  it('takes the cheapest setting within the SLO budget', () => {
    const { chosen, recommendation } = recommend(
      [candidate(1, 0.0, 300), candidate(2, 0.02, 200), candidate(4, 0.2, 100)],
      0.05,
    );
    expect(chosen.config.target).toBe(2);
    expect(recommendation.annotations['autoscaling.knative.dev/target']).toBe('2');
    expect(recommendation.annotations['autoscaling.knative.dev/max-scale']).toBe('4');
  });

  it('falls back to the fewest violations when none fits', () => {
    const { chosen, recommendation } = recommend([candidate(1, 0.1, 300), candidate(4, 0.2, 100)], 0.01);
    expect(chosen.config.target).toBe(1);
    expect(recommendation.why).toMatch(/no setting met/);
  });
});

describe('runLab', () => {
  it('fits measured rows, simulates every controller and draws them', async () => {
    const random = seededRandom(9);
    const rows: CollectRow[] = [];
    for (const bandwidth of [2, 6]) {
      for (const pods of [2, 3, 4, 5, 6]) {
        for (let batch = 0; batch < 2; batch++) {
          const t = batchTime({ a: 1.2, k: 0.9, c: bandwidth === 2 ? 5 : 3.5 }, pods) + random() * 0.05;
          for (let i = 1; i <= 4; i++)
            rows.push({
              inferenceTimeA: 0.04,
              inferenceTimeB: 0.04,
              totalTime: 0.3,
              endTime: (t * i) / 4,
              podsA: Math.ceil(pods / 2),
              podsB: Math.floor(pods / 2),
              bandwidth,
            });
        }
      }
    }
    const report = runLab({ ...LAB_DEFAULTS, rows, phases: 4, phaseMs: 30_000 });
    expect(report.fitSource).toBe('csv');
    expect([...report.fits.keys()]).toEqual([2, 6]);
    expect(report.fits.get(6)?.c).toBeCloseTo(3.5, 0);
    expect(report.results.map((r) => r.controller)).toContain('Q policy (seed 002)');
    expect(report.params).toEqual(simParams({ ...LAB_DEFAULTS, phases: 4, phaseMs: 30_000 }));
    const text = formatLabReport(report);
    expect(text).toContain('autoscaling.knative.dev/target');
    const svg = await labChartSvg(report.results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Q policy (seed 002)');
  });
});
