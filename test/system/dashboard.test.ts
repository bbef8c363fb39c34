// System tier: the runtime's dashboard in Debian's Chromium (playwright-core) while the local
// runtime runs the shipped manifests and a real 2-shard × 2-round job on a small IDX dataset.
// The page must gain one accuracy point per round, show the shard trainers' pods rise and fall
// back to zero, and list a dead letter after an event the aggregator refuses. Every wait is on
// the page's own DOM, with generous deadlines. Screenshots (desktop and 360 px wide) are written
// to /tmp, and into docs/ when KASKADE_UPDATE_SCREENSHOTS=1.
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestTraining } from '../../events/training-client.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { REQUIREMENTS } from '../../scripts/pretest-plan.js';
import { writeSmallMnist } from '../support/mnist-idx.js';

const NS = 'kaskade';
/** The job of each attempt (a retry trains a job of its own). */
let attempt = 0;
const CHROMIUM = REQUIREMENTS.chromium.where;
const SHOTS = { desktop: '/tmp/kaskade-dashboard.png', narrow: '/tmp/kaskade-dashboard-360.png' };
/** Generous: the machine this runs on may be loaded many times over. */
const JOB_DEADLINE_MS = 240_000;

let stateDir: string;
let runtime: Runtime;
let browser: Browser;
const logs: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-dashboard-'));
  await writeSmallMnist(join(stateDir, 'data', 'datasets', 'mnist'));
  const sink = new PassThrough();
  sink.pipe(
    new Writable({
      write: (chunk: Buffer, _enc, done) => {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  // Autoscaling windows at a tenth of Knative's, so the trainers scale back to zero in seconds.
  runtime = await startRuntime({
    manifests: 'knative/base',
    stateDir,
    port: 0,
    logSink: sink,
    kpa: { timeScale: 0.1 },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.close();
  await rm(stateDir, { recursive: true, force: true });
});

const dashboardUrl = (): string => `http://127.0.0.1:${runtime.port}/_kaskade/`;

function tail(): string {
  return logs.join('').slice(-3000);
}

describe('the dashboard during a real job', () => {
  // One retry, with a job of its own: in 2 of 11 runs here round 1 never closed within the
  // deadline (the trainers had woken; the cause is not found yet). A failing attempt throws with
  // the job's view and the runtime's log, so the next occurrence says where the job stopped.
  it('draws rounds, pods rising and falling, and a dead letter', { retry: 1, timeout: 420_000 }, async () => {
    attempt += 1;
    const JOB = attempt === 1 ? 'dash-2x2' : `dash-2x2-attempt-${attempt}`;
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(dashboardUrl());
    await page.waitForSelector('#topology canvas', { timeout: 60_000 });
    await page.waitForSelector('#services tr[data-service="shard-trainer"]', { timeout: 30_000 });
    // Knative starts every service at its initial scale (1) and lets it fall to min-scale (0):
    // wait for the trainers to be at zero before the job wakes them.
    await page.waitForFunction(
      () => Number(document.querySelector('#services tr[data-service="shard-trainer"] td.ready')?.textContent) === 0,
      undefined,
      { timeout: 120_000, polling: 200 },
    );

    const brokerUrl = runtime.brokerUrl(NS, 'default') ?? '';
    await requestTraining(brokerUrl, {
      jobId: JOB,
      dataset: `file://${join(stateDir, 'data', 'datasets', 'mnist')}`,
      model: 'mnist-cnn',
      shards: 2,
      strategy: 'iid',
      rounds: 2,
      localEpochs: 1,
      batchSize: 32,
      learningRate: 0.003,
      seed: 7,
    });
    const job = `[data-job="${JOB}"]`;
    // Pods rise: the shard.ready deliveries wake the trainers.
    await page.waitForFunction(
      () => Number(document.querySelector('#services tr[data-service="shard-trainer"] td.ready')?.textContent) > 0,
      undefined,
      { timeout: JOB_DEADLINE_MS, polling: 100 },
    );
    // One accuracy point per round, in order.
    // One accuracy and one loss point drawn per round (vega's symbols in the chart's SVG).
    const drawnPoints = (n: number) =>
      page.waitForFunction(
        ([selector, count]) => document.querySelectorAll(`${selector} .acc svg .mark-symbol path`).length === count,
        [job, n] as const,
        { timeout: JOB_DEADLINE_MS, polling: 100 },
      );
    await page
      .waitForSelector(`${job} .acc[data-points="1"]`, { timeout: JOB_DEADLINE_MS })
      .catch(async (e: unknown) => {
        const view = await fetch(`${dashboardUrl()}api/jobs/${JOB}`).then((r) => r.text(), String);
        throw new Error(`${(e as Error).message}\n--- job ---\n${view}\n--- runtime log (tail) ---\n${tail()}`);
      });
    await drawnPoints(2);
    await page.waitForSelector(`${job} .acc[data-points="2"]`, { timeout: JOB_DEADLINE_MS });
    await drawnPoints(4);
    await page.waitForSelector(`${job}[data-status="done"]`, { timeout: 60_000 });
    expect(await page.$eval(`${job} .summary`, (e) => e.textContent), tail()).toMatch(/round 2\/2 \(2\/2 shards/);
    // Every shard of both rounds is on the timeline.
    expect(await page.$eval(`${job} .shards`, (e) => e.getAttribute('data-points'))).toBe('4');
    expect(await page.$$eval(`${job} .acc svg .mark-line path`, (p) => p.length)).toBeGreaterThan(0);
    // Each service links to its own page: the predictor's is its web page.
    expect(await page.$eval('#services tr[data-service="predictor"] a', (a) => (a as HTMLAnchorElement).href)).toBe(
      `${runtime.url('predictor', NS)}/`,
    );

    // A shard.trained the aggregator refuses (no job, no weights) ends at the dead-letter sink.
    const posted = await fetch(brokerUrl, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'doomed-1',
        'ce-source': '/test',
        'ce-type': 'dev.kaskade.shard.trained',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ jobId: 'no-such-job', round: 1 }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(posted.status).toBe(202);
    const dead = await page.waitForSelector('#dead-letters li[data-id="doomed-1"]', { timeout: 60_000 });
    expect(await dead.textContent()).toMatch(/answered 4\d\d/);

    // Pods fall: with nothing to do the trainers scale back to zero.
    await page.waitForFunction(
      () => Number(document.querySelector('#services tr[data-service="shard-trainer"] td.ready')?.textContent) === 0,
      undefined,
      { timeout: 120_000, polling: 200 },
    );
    expect(Number(await page.$eval('#pods-chart', (e) => e.getAttribute('data-points')))).toBeGreaterThan(0);
    await page.screenshot({ path: SHOTS.desktop, fullPage: true });
    expect(errors).toEqual([]);

    const narrow = await browser.newPage({ viewport: { width: 360, height: 800 }, deviceScaleFactor: 2 });
    await narrow.goto(dashboardUrl());
    await narrow.waitForSelector(`${job} .acc[data-points="2"] svg`, { timeout: 60_000 });
    await narrow.waitForSelector('#topology canvas', { timeout: 60_000 });
    // Nothing wider than the screen: no sideways scrolling at 360 px.
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await narrow.screenshot({ path: SHOTS.narrow, fullPage: true });
    if (process.env.KASKADE_UPDATE_SCREENSHOTS === '1') {
      await copyFile(SHOTS.desktop, 'docs/dashboard.png');
      await copyFile(SHOTS.narrow, 'docs/dashboard-360.png');
    }
    await narrow.close();
    await page.close();
  });

  it('answers unknown dashboard paths and jobs with a 404 and an error', async () => {
    const job = await fetch(`${dashboardUrl()}api/jobs/nothing-here`);
    expect(job.status).toBe(404);
    expect(((await job.json()) as { error: string }).error).toMatch(/nothing-here/);
    const other = await fetch(`${dashboardUrl()}no-such-file.js`);
    expect(other.status).toBe(404);
  });
});
