// Graceful shutdown of a pod: SIGTERM to a real worker process (functions/_main, as the image's
// CMD runs it) with 20 requests in flight. Every one is answered, readiness fails at once (the
// listener is closed: a new connection is refused), and the process exits 0 within the drain
// budget. A request counts as in flight once the server has taken it: each is sent with
// `Expect: 100-continue`, the server's `100 Continue` is the proof, and the body follows only
// after the SIGTERM, so the drain must still read it. Last, a drain cut off by its budget exits 1.
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReply } from '../fixtures/functions/echo/echo.js';
import { FIXTURE_FUNCTIONS } from '../support/fixtures.js';
import { startPod, type Pod } from '../support/pod-process.js';
import { inferBody, publishBenchModel, waitForFirstInfer, type BenchModel } from '../support/predictor-process.js';

const IN_FLIGHT = 20;
const DRAIN_BUDGET_MS = 120_000;

const pods: Pod[] = [];
afterEach(async () => {
  await Promise.all(pods.splice(0).map((p) => p.kill()));
});

interface Held {
  /** Resolves when the server answered `100 Continue`: it has taken the request. */
  readonly taken: Promise<void>;
  /** Sends the body. */
  send(): void;
  readonly response: Promise<{ status: number; body: string }>;
}

/** A POST on its own connection that waits, headers sent, until `send()`. */
function hold(url: string, body: string): Held {
  const request = http.request(url, {
    method: 'POST',
    agent: false,
    headers: { expect: '100-continue', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const failures: ((e: Error) => void)[] = [];
  // One listener for the request's whole life: a reset after the answer must not go unhandled.
  request.on('error', (e) => failures.forEach((fail) => fail(e)));
  const taken = new Promise<void>((resolve, reject) => {
    request.once('continue', resolve);
    failures.push(reject);
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    failures.push(reject);
    request.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
  });
  request.flushHeaders();
  return { taken, send: () => request.end(body), response };
}

/** A fresh connection's outcome: its status, or the connection error's code. */
function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error('probe timed out')));
    req.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/**
 * SIGTERM with IN_FLIGHT requests taken; checks the drain's promises and returns the answers
 * and the milliseconds from SIGTERM to exit.
 */
async function terminateUnderLoad(
  pod: Pod,
  path: string,
  bodyOf: (i: number) => string,
): Promise<{ answers: { status: number; body: string }[]; exitMs: number }> {
  const held = Array.from({ length: IN_FLIGHT }, (_, i) => hold(`${pod.url}${path}`, bodyOf(i)));
  await Promise.all(held.map((h) => h.taken));
  const termAt = performance.now();
  pod.child.kill('SIGTERM');
  // The pod says how many it is finishing; by then its listener is closed.
  expect(await pod.waitForLine(/^draining: /)).toBe(`draining: ${IN_FLIGHT} request(s) in flight, no new ones taken`);
  expect(await probe(`${pod.url}/healthz`)).toBe('ECONNREFUSED');
  for (const h of held) h.send();
  const answers = await Promise.all(held.map((h) => h.response));
  const exit = await pod.exited;
  expect(exit).toMatchObject({ code: 0, signal: null });
  const exitMs = exit.at - termAt;
  expect(exitMs).toBeLessThan(DRAIN_BUDGET_MS);
  return { answers, exitMs };
}

describe('SIGTERM to a pod with 20 requests in flight', () => {
  it('echo: all 20 answered with their own bodies, new connections refused at once, exit 0 within the budget', async () => {
    const pod = await startPod('echo', {
      KASKADE_FUNCTION_SOURCE: join(FIXTURE_FUNCTIONS, 'echo', 'index.ts'),
      KASKADE_DRAIN_TIMEOUT_MS: String(DRAIN_BUDGET_MS),
    });
    pods.push(pod);
    expect(await probe(`${pod.url}/healthz`)).toBe(200);
    const { answers, exitMs } = await terminateUnderLoad(pod, '/work?sleep=200', (i) => JSON.stringify({ i }));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: IN_FLIGHT }, () => 200));
    expect(answers.map((a) => (JSON.parse(a.body) as EchoReply).body)).toEqual(
      Array.from({ length: IN_FLIGHT }, (_, i) => JSON.stringify({ i })),
    );
    console.log(`echo: ${IN_FLIGHT} in flight, SIGTERM → exit 0 in ${Math.round(exitMs)} ms`);
  });

  describe('the predictor (a real function, model loaded)', () => {
    let model: BenchModel;
    beforeAll(async () => {
      model = await publishBenchModel();
    });
    afterAll(async () => {
      await model.cleanup();
    });

    it('all 20 infers answered 200 with outputs, new connections refused at once, exit 0 within the budget', async () => {
      const pod = await startPod('predictor', {
        NODE_ENV: 'production',
        KASKADE_MODEL_URL: model.modelUrl,
        KASKADE_STORAGE_ROOTS: model.storageRoot,
        KASKADE_MODEL_POLL_S: '0',
        KASKADE_DRAIN_TIMEOUT_MS: String(DRAIN_BUDGET_MS),
      });
      pods.push(pod);
      await waitForFirstInfer(pod.url, performance.now(), 120_000);
      const { answers, exitMs } = await terminateUnderLoad(pod, '/v2/models/mnist/infer', () => inferBody());
      for (const a of answers) {
        expect(a.status, a.body).toBe(200);
        const outputs = (JSON.parse(a.body) as { outputs: { shape: number[] }[] }).outputs;
        expect(outputs[0]?.shape).toEqual([1, 10]);
      }
      console.log(`predictor: ${IN_FLIGHT} infers in flight, SIGTERM → exit 0 in ${Math.round(exitMs)} ms`);
    });
  });

  it('a drain cut off by its budget exits 1, at the budget', async () => {
    const budgetMs = 1_000;
    const pod = await startPod('echo', {
      KASKADE_FUNCTION_SOURCE: join(FIXTURE_FUNCTIONS, 'echo', 'index.ts'),
      KASKADE_DRAIN_TIMEOUT_MS: String(budgetMs),
    });
    pods.push(pod);
    // Bodies that never come: these requests cannot finish.
    const held = Array.from({ length: 3 }, () => hold(`${pod.url}/`, '{}'));
    const outcomes = held.map((h) =>
      h.response.then(
        (r) => r.status,
        (e: NodeJS.ErrnoException) => e.code ?? e.message,
      ),
    );
    await Promise.all(held.map((h) => h.taken));
    const termAt = performance.now();
    pod.child.kill('SIGTERM');
    const exit = await pod.exited;
    expect(exit).toMatchObject({ code: 1, signal: null });
    expect(exit.at - termAt).toBeGreaterThanOrEqual(budgetMs);
    expect(await Promise.all(outcomes)).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });
});
