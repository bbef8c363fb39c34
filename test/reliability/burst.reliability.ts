// Bursts at the predictor on the local runtime. Beyond what one pod takes (containerConcurrency
// plus the queue-proxy's 10× that), every request is either answered or refused at once with 503
// and Retry-After: none lost, none left hanging. And a burst that scales the predictor from 1 to 4
// pods gets no 503 from a pod that was routed to before its model loaded.
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INFER_BODY, startPredictorRuntime, until, type PredictorRuntime } from '../support/soak.js';

interface Answer {
  status: number;
  retryAfter: string | null;
}

/** `n` inference requests at once; each settles with its status, or with -1 if it failed or hung. */
async function burst(url: string, n: number): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: n }, async (): Promise<Answer> => {
      try {
        const res = await fetch(`${url}/v2/models/mnist/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: INFER_BODY,
          // Generous: a hanging request is one that never settles, not a slow one.
          signal: AbortSignal.timeout(180_000),
        });
        await res.arrayBuffer();
        return { status: res.status, retryAfter: res.headers.get('retry-after') };
      } catch {
        return { status: -1, retryAfter: null };
      }
    }),
  );
}

function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}

describe('a burst beyond containerConcurrency', () => {
  let p: PredictorRuntime;
  beforeAll(async () => {
    // One pod taking 2 at a time: its queue holds 10 × 2 = 20 more, the rest must be refused.
    p = await startPredictorRuntime({
      containerConcurrency: 2,
      annotations: { 'min-scale': '1', 'max-scale': '1', 'initial-scale': '1' },
    });
    await until('one ready pod', () => p.pods().some((pod) => pod.phase === 'ready'), 120_000, p.logs);
  }, 180_000);
  afterAll(async () => {
    await p?.close();
  });

  it('answers or refuses every request with 503 and Retry-After, losing none', async () => {
    const answers = await burst(p.url, 200);
    const counts = tally(answers);
    console.log(`burst of 200 at containerConcurrency 2, one pod: ${JSON.stringify(counts)}`);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(counts['200'] ?? 0).toBeGreaterThanOrEqual(22);
    expect(counts['503'] ?? 0).toBeGreaterThan(0);
    for (const a of answers.filter((x) => x.status === 503)) expect(Number(a.retryAfter)).toBeGreaterThan(0);
    // And the pod still serves once the burst is over.
    expect(tally(await burst(p.url, 5))).toEqual({ 200: 5 });
  }, 240_000);

  it('does the same under autocannon: only 200s and 503s, no errors or timeouts', async () => {
    const result = await autocannon({
      url: `${p.url}/v2/models/mnist/infer`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: INFER_BODY,
      connections: 100,
      amount: 2000,
      timeout: 60,
    });
    const codes = Object.keys(result.statusCodeStats ?? {}).sort();
    console.log(
      `autocannon, 100 connections, 2000 requests: ${JSON.stringify(result.statusCodeStats)}, p99 ${result.latency.p99} ms`,
    );
    expect(result.errors + result.timeouts + result.resets).toBe(0);
    expect(codes.every((c) => c === '200' || c === '503')).toBe(true);
    expect(result['2xx'] + (result.statusCodeStats?.['503']?.count ?? 0)).toBe(2000);
  }, 240_000);
});

describe('a burst that scales the predictor from 1 to 4 pods', () => {
  let p: PredictorRuntime;
  beforeAll(async () => {
    p = await startPredictorRuntime({
      annotations: { 'min-scale': '1', 'max-scale': '4', 'initial-scale': '1', target: '1' },
    });
    await until('one ready pod', () => p.pods().some((pod) => pod.phase === 'ready'), 120_000, p.logs);
  }, 180_000);
  afterAll(async () => {
    await p?.close();
  });

  it('gets no 503 while new pods load their model', async () => {
    const answers: Answer[] = [];
    let bursts = 0;
    // Bursts of 50 until 4 pods are up and ready, then one more on all four.
    await until(
      'four ready pods',
      async () => {
        answers.push(...(await burst(p.url, 50)));
        bursts += 1;
        return p.pods().filter((pod) => pod.phase === 'ready').length >= 4;
      },
      180_000,
      p.logs,
    );
    answers.push(...(await burst(p.url, 50)));
    const counts = tally(answers);
    console.log(`${bursts + 1} bursts of 50 while scaling 1 → 4 pods: ${JSON.stringify(counts)}`);
    expect(p.pods().length).toBe(4);
    expect(counts).toEqual({ 200: answers.length });
  }, 240_000);
});
