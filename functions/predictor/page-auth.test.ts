// The predictor's page with bearer-token auth on: the page itself (GET /) is served without a
// token and the API is not; in Debian's Chromium (playwright-core) the page asks for the token
// on the first 401, shows the server's error for a wrong one, then predicts with the right one
// and keeps it for the tab. With auth off the form never shows.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page as BrowserPage } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../test/support/predictor.js';
import { PAGE_PATHS } from './page.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'page-token-3f9a';
/** expect.poll waits 1 s by default; a loaded CI machine gets much longer (the polls end on the event, not the deadline). */
const UNTIL = { timeout: 30_000 };

describe('the predictor with auth on', () => {
  let h: Harness;
  let open: Harness;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
    [h, open] = await Promise.all([
      startHarness({}, { auth: { token: TOKEN, openPaths: PAGE_PATHS } }),
      startHarness({}),
    ]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await open?.close();
  });

  const index = (base: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}/v2/repository/index`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
      signal: AbortSignal.timeout(30_000),
    });

  it('serves the page without a token and keeps every API route closed', async () => {
    const page = await fetch(`${h.url}/?model=mnist`, { signal: AbortSignal.timeout(30_000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('id="token-form"');

    const refused = await index(h.url);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toMatch(/bearer token/);
    const wrong = await index(h.url, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    const admitted = await index(h.url, { authorization: `Bearer ${TOKEN}` });
    expect(admitted.status).toBe(200);
    expect(((await admitted.json()) as { name: string }[]).map((m) => m.name)).toEqual(['mnist']);

    for (const path of ['/v2/models/mnist', '/v2', '/metrics', '/index.html', '//']) {
      const res = await fetch(`${h.url}${path}`, { signal: AbortSignal.timeout(30_000) });
      expect(res.status, path).toBe(401);
    }
    // GET / is open, POST / (CloudEvents) is not.
    const event = await h.postAggregated({ job_id: 'j', round: 1, rounds: 1, final: true }, { path: '/' });
    expect(event.status).toBe(401);
  });

  it('asks for the token in the page, shows a refusal, then predicts and keeps the token for the tab', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${h.url}/?model=mnist`);
    const form = page.getByRole('form', { name: 'This predictor needs a token' });
    await form.waitFor({ state: 'visible' });
    const field = page.getByLabel('Token', { exact: true });
    await expect.poll(() => field.evaluate((el) => el === document.activeElement), UNTIL).toBe(true);

    await field.fill('not-the-token');
    const refused = page.waitForResponse((r) => r.url().endsWith('/v2/repository/index') && r.status() === 401);
    await page.getByRole('button', { name: 'Use token' }).click();
    await refused;
    await expect.poll(() => page.getByRole('alert').textContent(), UNTIL).toContain('the bearer token was refused');
    expect(await form.isVisible()).toBe(true);
    await page.screenshot({ path: '/tmp/predictor-page-token.png' });

    await field.fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await form.waitFor({ state: 'hidden' });
    await expect.poll(() => page.textContent('#model-info'), UNTIL).toContain('job');
    expect(await page.evaluate(() => sessionStorage.getItem('kaskade.predictor.token'))).toBe(TOKEN);

    const answer = await predict(page);
    expect(answer.status).toBe(200);
    expect(answer.authorization).toBe(`Bearer ${TOKEN}`);
    await expect.poll(() => page.textContent('#answer'), UNTIL).toMatch(/^\d$/);
    expect(await page.locator('#bars li').count()).toBe(10);

    // The tab keeps the token: a reload asks nothing.
    await page.reload();
    await expect.poll(() => page.textContent('#model-info'), UNTIL).toContain('job');
    expect(await form.isVisible()).toBe(false);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('never shows the form when auth is off', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    await page.goto(`${open.url}/?model=mnist`);
    await expect.poll(() => page.textContent('#model-info'), UNTIL).toContain('job');
    const answer = await predict(page);
    expect(answer.status).toBe(200);
    expect(answer.authorization).toBeUndefined();
    expect(await page.locator('#token-form').isVisible()).toBe(false);
    await context.close();
  });
});

/** Draws a stroke on the pad and waits for the infer call it makes. */
async function predict(page: BrowserPage): Promise<{ status: number; authorization: string | undefined }> {
  const box = await page.locator('#pad').boundingBox();
  if (!box) throw new Error('no drawing pad');
  const at = (fx: number, fy: number): [number, number] => [box.x + fx * box.width, box.y + fy * box.height];
  const answered = page.waitForResponse((r) => r.url().endsWith('/v2/models/mnist/infer'));
  await page.mouse.move(...at(0.3, 0.25));
  await page.mouse.down();
  await page.mouse.move(...at(0.7, 0.25), { steps: 8 });
  await page.mouse.move(...at(0.45, 0.8), { steps: 8 });
  await page.mouse.up();
  const res = await answered;
  return { status: res.status(), authorization: (await res.request().headerValue('authorization')) ?? undefined };
}
