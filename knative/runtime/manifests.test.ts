// Reading and validating manifests: files, folders, kustomize (with and without kubectl), the
// conversion of each Knative resource, and errors that name the document and the field.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../functions/_shared/errors.js';
import { FIXTURE_FUNCTIONS, FIXTURE_MANIFESTS } from '../../test/support/fixtures.js';
import { parseAutoscaling, parseGoDuration } from './autoscaling.js';
import { readManifestDocuments, parseYaml } from './manifest-source.js';
import { expand, parseManifests, type ManifestOptions } from './manifests.js';

const TESTDATA = FIXTURE_MANIFESTS;
const OPTIONS: ManifestOptions = { namespace: 'default', allowZeroInitialScale: true };

function service(
  name: string,
  template: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      template: {
        ...template,
        spec: { containers: [{ image: 'kaskade', env: [{ name: 'FUNCTION_TARGET', value: 'echo' }] }], ...spec },
      },
    },
  };
}

function parse(docs: unknown[], options: Partial<ManifestOptions> = {}): ReturnType<typeof parseManifests> {
  return parseManifests(parseYaml(docs.map((d) => stringify(d)).join('---\n'), 'test.yaml'), {
    ...OPTIONS,
    ...options,
  });
}

describe('reading manifests', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaskade-manifests-'));
    await writeFile(join(dir, 'a.yaml'), stringify(service('one')));
    await writeFile(join(dir, 'b.yml'), `${stringify(service('two'))}---\n${stringify(service('three'))}`);
    await writeFile(join(dir, 'notes.txt'), 'not yaml');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a multi-document file', async () => {
    const docs = await readManifestDocuments(join(TESTDATA, 'echo.yaml'));
    expect(docs.map((d) => d.origin)).toEqual([`${TESTDATA}/echo.yaml#0`, `${TESTDATA}/echo.yaml#1`]);
  });

  it('reads every .yaml and .yml file of a folder without kustomization', async () => {
    const m = parseManifests(await readManifestDocuments(dir), OPTIONS);
    expect(m.services.map((s) => s.name)).toEqual(['one', 'two', 'three']);
  });

  it('renders a kustomize folder with kubectl kustomize', async () => {
    const m = parseManifests(await readManifestDocuments(join(TESTDATA, 'kustomize')), OPTIONS);
    expect(m.services.map((s) => `${s.namespace}/${s.name}`)).toEqual(['kz/echo']);
    expect(m.brokers.map((b) => `${b.namespace}/${b.name}`)).toEqual(['kz/events']);
    expect(m.ignored).toEqual(['ServiceAccount/kaskade-function']);
  });

  it('says what is missing when kubectl is not installed', async () => {
    const read = readManifestDocuments(join(TESTDATA, 'kustomize'), { kubectl: '/nonexistent/kubectl' });
    await expect(read).rejects.toThrow(ConfigError);
    await expect(read).rejects.toThrow(/kustomize folder.*needs `kubectl kustomize`.*not found.*plain YAML/);
  });

  it('reads the base of a folder laid out like knative/ (base/kustomization.yaml)', async () => {
    const m = parseManifests(await readManifestDocuments(join(import.meta.dirname, '..')), OPTIONS);
    expect(m.services.length).toBeGreaterThan(0);
    expect(m.services.every((s) => s.namespace === 'kaskade')).toBe(true);
  });

  it.each([
    { name: 'a missing path', path: '/nonexistent/manifests', message: /cannot read \/nonexistent\/manifests/ },
    { name: 'a folder without YAML', path: join(FIXTURE_FUNCTIONS, 'echo'), message: /holds no .yaml files/ },
  ])('rejects $name', async ({ path, message }) => {
    await expect(readManifestDocuments(path)).rejects.toThrow(message);
  });

  it('names the document of a YAML syntax error', () => {
    expect(() => parseYaml('a: 1\n---\nb: [\n', 'bad.yaml')).toThrow(/bad\.yaml#1: invalid YAML/);
  });
});

describe('converting resources', () => {
  it('reads the echo fixture: autoscaling annotations, containerConcurrency, timeout', async () => {
    const m = parseManifests(await readManifestDocuments(join(TESTDATA, 'echo.yaml')), OPTIONS);
    const [echo, cc] = m.services;
    expect(echo).toMatchObject({
      name: 'echo',
      namespace: 'default',
      functionTarget: 'echo',
      containerConcurrency: 0,
      timeoutSeconds: 30,
    });
    expect(echo?.autoscaling).toMatchObject({
      target: 1,
      initialScale: 0,
      maxScale: 4,
      stableWindowMs: 6_000,
      utilization: 0.7,
    });
    expect(cc).toMatchObject({ containerConcurrency: 1, timeoutSeconds: 2 });
    expect(cc?.autoscaling).toMatchObject({ target: 1, maxScale: 1 });
  });

  it('expands $(VAR), finds the broker named in KASKADE_BROKER_URL, keeps the readiness path', async () => {
    const m = parseManifests(await readManifestDocuments(join(TESTDATA, 'kustomize')), OPTIONS);
    const echo = m.services[0];
    expect(echo?.env).toContainEqual({ name: 'STORAGE', value: 'file:///var/lib/kaskade/models' });
    expect(echo?.broker).toEqual({ namespace: 'kz', name: 'events' });
    expect(echo?.readinessPath).toBe('/healthz');
    expect(echo?.autoscaling.target).toBe(4);
    expect(m.triggers[0]).toMatchObject({
      name: 'echo-pings',
      broker: 'events',
      filter: { attributes: { type: 'dev.knative.sources.ping' } },
      subscriber: { kind: 'service', namespace: 'kz', name: 'echo', path: '/' },
    });
    expect(m.brokers[0]?.delivery).toEqual({ retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.1S' });
    expect(m.pingSources[0]).toMatchObject({
      name: 'every-second',
      schedule: '* * * * * *',
      contentType: 'application/json',
      sink: { kind: 'broker', namespace: 'kz', name: 'events' },
      suspended: false,
    });
    expect(m.pingSources[0]?.data.toString()).toBe('{"hello":"ping"}');
  });

  it('lets runtime env overrides win before expansion', async () => {
    const m = parseManifests(await readManifestDocuments(join(TESTDATA, 'kustomize')), {
      ...OPTIONS,
      envOverrides: { DATA_DIR: '/tmp/k', EXTRA: '1' },
    });
    expect(m.services[0]?.env).toContainEqual({ name: 'STORAGE', value: 'file:///tmp/k/models' });
    expect(m.services[0]?.env).toContainEqual({ name: 'EXTRA', value: '1' });
  });

  it.each([
    { name: 'dependent var', value: 'a/$(X)/b', want: 'a/1/b' },
    { name: 'unknown var stays', value: '$(NOPE)', want: '$(NOPE)' },
    { name: 'escaped', value: '$$(X)', want: '$(X)' },
  ])('expand: $name', ({ value, want }) => {
    expect(expand(value, new Map([['X', '1']]))).toBe(want);
  });

  it('reads a suspended PingSource, dataBase64 and a uri sink', () => {
    const m = parse([
      {
        apiVersion: 'sources.knative.dev/v1',
        kind: 'PingSource',
        metadata: { name: 'p', annotations: { 'kaskade.dev/suspended': 'true' } },
        spec: {
          schedule: '0 3 * * *',
          dataBase64: Buffer.from([1, 2, 3]).toString('base64'),
          sink: { uri: 'http://127.0.0.1:9/x' },
        },
      },
    ]);
    expect(m.pingSources[0]).toMatchObject({
      suspended: true,
      contentType: 'application/octet-stream',
      sink: { kind: 'uri', uri: 'http://127.0.0.1:9/x' },
    });
    expect([...(m.pingSources[0]?.data ?? [])]).toEqual([1, 2, 3]);
  });
});

describe('manifest errors name the document and the field', () => {
  const trigger = (spec: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name: 't' },
    spec,
  });
  const broker = { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'default' } };
  it.each([
    {
      name: 'no FUNCTION_TARGET',
      docs: [{ ...service('s'), spec: { template: { spec: { containers: [{ image: 'x' }] } } } }],
      message: /test\.yaml#0: Service\/s: spec\.template\.spec\.containers\[0\]\.env: FUNCTION_TARGET/,
    },
    {
      name: 'a negative containerConcurrency',
      docs: [service('s', {}, { containerConcurrency: -1 })],
      message: /test\.yaml#0: Service\/s: spec\.template\.spec\.containerConcurrency: /,
    },
    {
      name: 'a string timeout',
      docs: [service('s', {}, { timeoutSeconds: '30' })],
      message: /Service\/s: spec\.template\.spec\.timeoutSeconds: /,
    },
    {
      name: 'an uppercase name',
      docs: [service('Bad')],
      message: /Service\/Bad: metadata\.name: must be a lowercase DNS label/,
    },
    {
      name: 'a bad target annotation',
      docs: [service('s', { metadata: { annotations: { 'autoscaling.knative.dev/target': 'lots' } } })],
      message: /Service\/s: spec\.template\.metadata\.annotations\.autoscaling\.knative\.dev\/target: must be a number/,
    },
    {
      name: 'an unknown autoscaling annotation',
      docs: [service('s', { metadata: { annotations: { 'autoscaling.knative.dev/targett': '1' } } })],
      message: /autoscaling\.knative\.dev\/targett: unknown autoscaling annotation/,
    },
    {
      name: 'a window below 6s',
      docs: [service('s', { metadata: { annotations: { 'autoscaling.knative.dev/window': '1s' } } })],
      message: /autoscaling\.knative\.dev\/window: must be a duration/,
    },
    {
      name: 'min-scale above max-scale',
      docs: [
        service('s', {
          metadata: {
            annotations: { 'autoscaling.knative.dev/min-scale': '3', 'autoscaling.knative.dev/max-scale': '2' },
          },
        }),
      ],
      message: /min-scale 3 exceeds max-scale 2/,
    },
    {
      name: 'initial-scale 0 not allowed',
      docs: [service('s', { metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '0' } } })],
      options: { allowZeroInitialScale: false },
      message: /initial-scale: initial-scale 0 needs allow-zero-initial-scale/,
    },
    {
      name: 'a wrong apiVersion',
      docs: [{ ...service('s'), apiVersion: 'serving.knative.dev/v1alpha1' }],
      message: /test\.yaml#0: Service\/s: apiVersion: must be serving\.knative\.dev\/v1/,
    },
    { name: 'a document without kind', docs: [{ apiVersion: 'v1' }], message: /test\.yaml#0: resource: kind: / },
    {
      name: 'a trigger on a missing broker',
      docs: [service('s'), trigger({ broker: 'nope', subscriber: { ref: { kind: 'Service', name: 's' } } })],
      message: /test\.yaml#1: Trigger\/t: spec\.broker: Broker default\/nope is not in the manifests/,
    },
    {
      name: 'a trigger to a missing service',
      docs: [broker, trigger({ broker: 'default', subscriber: { ref: { kind: 'Service', name: 'ghost' } } })],
      message: /Trigger\/t: spec\.subscriber: refers to Service default\/ghost/,
    },
    {
      name: 'a subscriber without ref or uri',
      docs: [broker, trigger({ broker: 'default', subscriber: {} })],
      message: /Trigger\/t: spec\.subscriber: needs ref or uri/,
    },
    {
      name: 'an unsupported subscriber kind',
      docs: [broker, trigger({ broker: 'default', subscriber: { ref: { kind: 'Channel', name: 'c' } } })],
      message: /spec\.subscriber\.ref: kind Channel is not supported locally/,
    },
    {
      name: 'a bad backoffPolicy',
      docs: [{ ...broker, spec: { delivery: { backoffPolicy: 'random' } } }],
      message: /Broker\/default: spec\.delivery\.backoffPolicy: /,
    },
    {
      name: 'data and dataBase64 together',
      docs: [
        {
          apiVersion: 'sources.knative.dev/v1',
          kind: 'PingSource',
          metadata: { name: 'p' },
          spec: { schedule: '* * * * *', data: 'a', dataBase64: 'YQ==', sink: { uri: 'http://x/' } },
        },
      ],
      message: /PingSource\/p: spec: data and dataBase64 are mutually exclusive/,
    },
    {
      name: 'a relative sink uri',
      docs: [
        {
          apiVersion: 'sources.knative.dev/v1',
          kind: 'PingSource',
          metadata: { name: 'p' },
          spec: { schedule: '* * * * *', sink: { uri: '/x' } },
        },
      ],
      message: /PingSource\/p: spec\.sink\.uri: must be an absolute http\(s\) URL/,
    },
    {
      name: 'two services with one name',
      docs: [service('s'), service('s')],
      message: /test\.yaml#1: Service\/s: another Service in namespace default has the same name/,
    },
  ])('$name', ({ docs, options, message }) => {
    let error: unknown;
    try {
      parse(docs, options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
  });

  it('reports every problem at once', () => {
    expect(() => parse([service('Bad'), service('s', {}, { containerConcurrency: -1 })])).toThrow(
      /Service\/Bad[\s\S]*Service\/s/,
    );
  });
});

describe('autoscaling annotations', () => {
  const cases: Array<{ name: string; annotations: Record<string, string>; cc: number; want: object }> = [
    {
      name: 'defaults without containerConcurrency',
      annotations: {},
      cc: 0,
      want: { target: 100, utilization: 0.7, stableWindowMs: 60_000, panicThreshold: 2, initialScale: 1 },
    },
    { name: 'target defaults to containerConcurrency', annotations: {}, cc: 10, want: { target: 10 } },
    {
      name: 'target above containerConcurrency is capped',
      annotations: { 'autoscaling.knative.dev/target': '50' },
      cc: 10,
      want: { target: 10 },
    },
    {
      name: 'rps metric defaults to 200',
      annotations: { 'autoscaling.knative.dev/metric': 'rps' },
      cc: 0,
      want: { metric: 'rps', target: 200 },
    },
    {
      name: 'every timing annotation',
      annotations: {
        'autoscaling.knative.dev/window': '1m30s',
        'autoscaling.knative.dev/panic-window-percentage': '20',
        'autoscaling.knative.dev/panic-threshold-percentage': '150',
        'autoscaling.knative.dev/scale-down-delay': '15s',
        'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '500ms',
        'autoscaling.knative.dev/target-utilization-percentage': '85',
        'autoscaling.knative.dev/activation-scale': '2',
        'autoscaling.knative.dev/min-scale': '1',
        'autoscaling.knative.dev/max-scale': '9',
      },
      cc: 0,
      want: {
        stableWindowMs: 90_000,
        panicWindowPercentage: 20,
        panicThreshold: 1.5,
        scaleDownDelayMs: 15_000,
        scaleToZeroRetentionMs: 500,
        utilization: 0.85,
        activationScale: 2,
        minScale: 1,
        maxScale: 9,
      },
    },
  ];
  it.each(cases)('$name', ({ annotations, cc, want }) => {
    const parsed = parseAutoscaling(annotations, cc, { allowZeroInitialScale: false });
    expect(parsed.problems).toEqual([]);
    expect(parsed.config).toMatchObject(want);
  });

  it('warns, and scales with the KPA, for the HPA class', () => {
    const parsed = parseAutoscaling(
      { 'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev', 'autoscaling.knative.dev/metric': 'cpu' },
      0,
      { allowZeroInitialScale: false },
    );
    expect(parsed.problems).toEqual([]);
    expect(parsed.warnings).toHaveLength(2);
    expect(parsed.config.metric).toBe('concurrency');
  });

  it.each([
    { text: '60s', ms: 60_000 },
    { text: '1m30s', ms: 90_000 },
    { text: '500ms', ms: 500 },
    { text: '1.5h', ms: 5_400_000 },
    { text: '0', ms: 0 },
    { text: '60', ms: null },
    { text: 's', ms: null },
    { text: '10x', ms: null },
  ])('Go duration $text', ({ text, ms }) => {
    expect(parseGoDuration(text)).toBe(ms);
  });
});
