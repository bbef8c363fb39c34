import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { barImage } from '../../test/support/models.js';
import { aggregated, startHarness, type Harness } from '../../test/support/predictor.js';

const image = barImage();
const infer = (data: number[] = image, shape = [1, 784]): string =>
  JSON.stringify({ id: 'x', inputs: [{ name: 'image', shape, datatype: 'FP32', data }] });

describe('predictor over HTTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ KASKADE_MAX_BODY_BYTES: '65536', KASKADE_MAX_BATCH: '4' });
  });
  afterAll(async () => {
    await h.close();
  });

  interface Case {
    name: string;
    method?: string;
    path: string;
    body?: string;
    contentType?: string;
    status: number;
    /** Checks on the JSON answer, or a substring of the error. */
    json?: Record<string, unknown>;
    error?: string;
  }

  const cases: Case[] = [
    { name: 'live', path: '/v2/health/live', status: 200, json: { live: true } },
    { name: 'ready', path: '/v2/health/ready', status: 200, json: { ready: true } },
    {
      name: 'server metadata',
      path: '/v2',
      status: 200,
      json: { name: 'kaskade-predictor', extensions: ['model_repository'] },
    },
    { name: 'model ready', path: '/v2/models/mnist/ready', status: 200, json: { name: 'mnist', ready: true } },
    { name: 'model ready at its version', path: '/v2/models/mnist/versions/job-a-r3/ready', status: 200 },
    {
      name: 'model metadata',
      path: '/v2/models/mnist',
      status: 200,
      json: {
        name: 'mnist',
        versions: ['job-a-r3'],
        platform: 'tensorflowjs_layers',
        inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 28, 28, 1] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }],
      },
    },
    { name: 'model metadata at its version', path: '/v2/models/mnist/versions/job-a-r3', status: 200 },
    { name: 'unknown model', path: '/v2/models/resnet', status: 404, error: 'model "resnet" not found' },
    {
      name: 'unknown version',
      path: '/v2/models/mnist/versions/9',
      status: 404,
      error: 'version "9" of model "mnist" not found',
    },
    { name: 'unknown model ready', path: '/v2/models/resnet/ready', status: 404 },
    {
      name: 'infer',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(),
      status: 200,
      json: { model_name: 'mnist', model_version: 'job-a-r3', id: 'x' },
    },
    {
      name: 'infer at the served version',
      method: 'POST',
      path: '/v2/models/mnist/versions/job-a-r3/infer',
      body: infer(),
      status: 200,
    },
    {
      name: 'infer sent as text/plain JSON',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(),
      contentType: 'text/plain',
      status: 200,
    },
    {
      name: 'infer at another version',
      method: 'POST',
      path: '/v2/models/mnist/versions/job-z-r1/infer',
      body: infer(),
      status: 404,
      error: 'version "job-z-r1"',
    },
    {
      name: 'infer on an unknown model',
      method: 'POST',
      path: '/v2/models/resnet/infer',
      body: infer(),
      status: 404,
      error: 'model "resnet" not found',
    },
    {
      name: 'infer with a wrong shape',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(image, [1, 28, 27]),
      status: 400,
      error: 'wrong shape [1,28,27]',
    },
    {
      name: 'infer with too few values',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(image.slice(1)),
      status: 400,
      error: 'data has 783 elements but shape [1,784] needs 784',
    },
    {
      name: 'infer with a wrong datatype',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: JSON.stringify({ inputs: [{ name: 'image', shape: [1, 784], datatype: 'BOOL', data: image }] }),
      status: 400,
      error: 'datatype BOOL is not accepted',
    },
    {
      name: 'infer with too many instances',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(new Array<number>(5 * 784).fill(0), [5, 784]),
      status: 400,
      error: 'too many instances: 5',
    },
    {
      name: 'infer with a non-JSON text body',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: 'pixels please',
      contentType: 'text/plain',
      status: 400,
      error: 'not JSON',
    },
    {
      name: 'infer with a non-JSON binary body',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: '\u0000\u0001',
      contentType: 'application/octet-stream',
      status: 400,
      error: 'not JSON',
    },
    {
      name: 'infer with malformed application/json',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: '{"inputs": [',
      status: 400,
      error: 'the request body is not JSON',
    },
    {
      name: 'infer with an empty body',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: '',
      contentType: 'application/octet-stream',
      status: 400,
      error: 'empty',
    },
    {
      name: 'infer with an oversized body',
      method: 'POST',
      path: '/v2/models/mnist/infer',
      body: infer(new Array<number>(20_000).fill(0.5), [1, 20_000]),
      status: 413,
      error: 'the limit is 65536',
    },
    { name: 'GET on infer', path: '/v2/models/mnist/infer', status: 405 },
    { name: 'unknown route', path: '/v3/models', status: 404, error: 'no route for GET /v3/models' },
    { name: 'v1 model status', path: '/v1/models/mnist', status: 200, json: { name: 'mnist', ready: true } },
    { name: 'v1 unknown model', path: '/v1/models/resnet', status: 404 },
    {
      name: 'v1 predict',
      method: 'POST',
      path: '/v1/models/mnist:predict',
      body: JSON.stringify({ instances: [image, image] }),
      status: 200,
    },
    {
      name: 'v1 predict with a short instance',
      method: 'POST',
      path: '/v1/models/mnist:predict',
      body: JSON.stringify({ instances: [image.slice(2)] }),
      status: 400,
      error: 'instances[0] has 782 values, expected 784',
    },
    {
      name: 'v1 predict without instances',
      method: 'POST',
      path: '/v1/models/mnist:predict',
      body: JSON.stringify({ inputs: [] }),
      status: 400,
      error: '{"instances": [...]}',
    },
    {
      name: 'POST / without an event',
      method: 'POST',
      path: '/',
      body: '{}',
      status: 400,
      error: 'takes a CloudEvent',
    },
  ];

  it.each(cases)(
    '$name → $status',
    async ({ method = 'GET', path, body, contentType = 'application/json', status, json, error }) => {
      const res = await fetch(`${h.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': contentType },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      expect(res.status, text).toBe(status);
      if (json) expect(JSON.parse(text)).toMatchObject(json);
      if (error) expect((JSON.parse(text) as { error: string }).error).toContain(error);
    },
  );

  it('answers probabilities that sum to one, per instance', async () => {
    const res = await fetch(`${h.url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: infer([...image, ...image.map((v) => 1 - v)], [2, 28, 28, 1]),
    });
    const body = (await res.json()) as {
      outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    };
    const [out] = body.outputs;
    expect(out).toMatchObject({ name: 'probabilities', shape: [2, 10], datatype: 'FP32' });
    expect(out?.data.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(out?.data.slice(10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('serves the page with a policy that loads nothing from elsewhere', async () => {
    const res = await fetch(`${h.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('id="model-picker"');
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
  });
});

describe('model.aggregated and reloads', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const version = async (): Promise<string> =>
    ((await (await fetch(`${h.url}/v2/models/mnist`)).json()) as { versions: string[] }).versions[0] ?? '';

  it('reloads on a final event, once per event id, and ignores rounds before the last', async () => {
    await h.publish({ jobId: 'job-b', round: 2, rounds: 2 }, 7);
    const partial = await h.postAggregated(aggregated('job-b', 1, 2, false));
    expect(partial.status).toBe(204);
    expect(partial.headers.get('x-kaskade-outcome')).toBe('ignored');
    expect(await version()).toBe('job-a-r3');

    const final = await h.postAggregated(aggregated('job-b', 2, 2, true), { id: 'evt-1' });
    expect(final.status).toBe(204);
    expect(await final.text()).toBe('');
    expect(final.headers.get('x-kaskade-outcome')).toBe('reloaded');
    expect(final.headers.get('x-kaskade-model-version')).toBe('job-b-r2');
    expect(await version()).toBe('job-b-r2');

    const again = await h.postAggregated(aggregated('job-b', 2, 2, true), { id: 'evt-1' });
    expect(again.headers.get('x-kaskade-outcome')).toBe('duplicate');

    const other = await h.postAggregated(aggregated('job-b', 2, 2, true), { id: 'evt-2', path: '/' });
    expect(other.status).toBe(204);
    expect(other.headers.get('x-kaskade-outcome')).toBe('unchanged');
  });

  it.each([
    {
      name: 'data missing final',
      data: { jobId: 'j', round: 1, rounds: 1, modelUrl: 'file:///x/' },
      error: 'model.aggregated',
    },
    { name: 'round beyond rounds', data: aggregated('j', 3, 2, true), error: 'round' },
  ])('refuses an event with $name (400, not retried)', async ({ data, error }) => {
    const res = await h.postAggregated(data);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain(error);
  });

  it('answers 503 (redeliver) when the reload fails, and reloads on the retry', async () => {
    const folder = await h.publish({ jobId: 'job-d', round: 1, rounds: 1 }, 21);
    await h.store.write(`${folder}kaskade.json`, new TextEncoder().encode('{"broken": true}'));
    const failed = await h.postAggregated(aggregated('job-d', 1, 1, true), { id: 'evt-d' });
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).toContain('invalid model metadata');
    expect(await version()).not.toBe('job-d-r1');
    await h.publish({ jobId: 'job-d', round: 1, rounds: 1 }, 21);
    const retried = await h.postAggregated(aggregated('job-d', 1, 1, true), { id: 'evt-d' });
    expect(retried.status).toBe(204);
    expect(retried.headers.get('x-kaskade-outcome')).toBe('reloaded');
  });

  it('refuses another event type', async () => {
    const res = await fetch(`${h.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-type': 'dev.kaskade.shard.trained',
        'ce-source': '/x',
        'ce-id': '1',
      },
      body: '{}',
    });
    expect(res.status).toBe(400);
  });

  it('swaps models under load without failing a request or leaking tensors', async () => {
    const { tf } = h.engine;
    const tensorsWithOneModel = tf.memory().numTensors;
    let stop = false;
    const statuses = new Map<number, number>();
    const versions = new Set<string>();
    const answered = new Set<() => void>();
    /** Resolves once a request has been answered by `version` (any version when undefined). */
    const servedBy = (version?: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (version === undefined ? versions.size === 0 : !versions.has(version)) return;
          answered.delete(check);
          resolve();
        };
        answered.add(check);
        check();
      });
    const client = async (): Promise<void> => {
      while (!stop) {
        const res = await fetch(`${h.url}/v2/models/mnist/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: infer(),
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body = (await res.json()) as { model_version?: string };
        if (body.model_version) versions.add(body.model_version);
        for (const check of [...answered]) check();
      }
    };
    const clients = Array.from({ length: 6 }, () => client());
    await servedBy();
    for (let round = 1; round <= 3; round++) {
      await h.publish({ jobId: 'job-c', round, rounds: 3 }, 10 + round);
      const res = await h.postAggregated(aggregated('job-c', round, 3, true));
      expect(res.headers.get('x-kaskade-outcome')).toBe('reloaded');
      // Traffic meets each new model before the next swap.
      await servedBy(`job-c-r${round}`);
    }
    stop = true;
    await Promise.all(clients);
    expect([...statuses.keys()]).toEqual([200]);
    expect(versions).toContain('job-c-r3');
    expect(versions.size).toBeGreaterThanOrEqual(3);
    expect(tf.memory().numTensors).toBe(tensorsWithOneModel);
  });
});

describe('before a model is published', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { publishFirst: false });
  });
  afterAll(async () => {
    await h.close();
  });

  it('is live and ready (start-up found nothing published), serves the model once one appears', async () => {
    expect((await fetch(`${h.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${h.url}/v2/health/ready`)).status).toBe(200);
    // Not published: unknown to the server, so 404 (not 503: there is nothing to wait for).
    expect((await fetch(`${h.url}/v2/models/mnist/ready`)).status).toBe(404);
    expect((await fetch(`${h.url}/v2/models/mnist`)).status).toBe(404);
    const infer404 = await fetch(`${h.url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: infer(),
    });
    expect(infer404.status).toBe(404);
    expect(((await infer404.json()) as { error: string }).error).toContain('not published');
    expect((await fetch(`${h.url}/v1/models/mnist`)).status).toBe(404);
    await h.publish({ jobId: 'first', round: 1, rounds: 1 });
    // The first request after publishing loads the model (its first use).
    const res = await fetch(`${h.url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: infer(),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model_version: string }).model_version).toBe('first-r1');
  });
});
