// The shipped manifests, rendered by `kubectl kustomize` exactly as `kubectl apply -k` would,
// validate against Knative's published schemas and its admission rules, and their references resolve.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isEventType } from '../events/catalog.js';
import { renderComposed, renderKustomize } from '../test/support/kustomize.js';
import { validateManifests, type Resource } from './validate.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

const render = (dir: string): Resource[] => renderKustomize(join(here, dir));

interface Container {
  env?: { name: string; value?: string }[];
  volumeMounts?: { mountPath: string }[];
  resources?: { limits?: Record<string, unknown> };
}
function containerOf(r: Resource): Container {
  const spec = r.spec as { template: { spec: { containers: Container[] } } };
  const c = spec.template.spec.containers[0];
  if (!c) throw new Error(`${r.metadata.name} has no container`);
  return c;
}
function envOf(r: Resource, name: string): string | undefined {
  return containerOf(r).env?.find((e) => e.name === name)?.value;
}
const services = (rs: Resource[]): Resource[] =>
  rs.filter((r) => r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev'));

describe('kustomize renders', () => {
  it.each(['base', 'overlays/gcs', 'overlays/nfs', 'overlays/gpu'])('%s validates with no problems', (dir) => {
    const resources = render(dir);
    expect(resources.length).toBeGreaterThan(8);
    expect(validateManifests(resources)).toEqual([]);
  });

  it('every Knative Service runs a function that exists', () => {
    for (const svc of services(render('base'))) {
      const target = envOf(svc, 'FUNCTION_TARGET');
      expect(target, svc.metadata.name).toBeDefined();
      expect(existsSync(join(root, 'functions', String(target), 'index.ts')), `functions/${target}/index.ts`).toBe(
        true,
      );
    }
  });

  it('every Trigger filters on an event type of the catalog', () => {
    const triggers = render('base').filter((r) => r.kind === 'Trigger');
    expect(triggers.length).toBeGreaterThan(0);
    for (const t of triggers) {
      const type = (t.spec as { filter?: { attributes?: { type?: string } } }).filter?.attributes?.type;
      expect(type !== undefined && isEventType(type), `${t.metadata.name}: ${type}`).toBe(true);
    }
  });

  it('the gcs overlay points every function at the bucket', () => {
    for (const svc of services(render('overlays/gcs'))) expect(envOf(svc, 'KASKADE_STORAGE_ROOTS')).toMatch(/^gs:\/\//);
  });

  it('the nfs overlay mounts the claim where the storage root points', () => {
    const rendered = render('overlays/nfs');
    expect(rendered.some((r) => r.kind === 'PersistentVolumeClaim')).toBe(true);
    for (const svc of services(rendered)) {
      expect(envOf(svc, 'KASKADE_STORAGE_ROOTS')).toBe('file://$(KASKADE_DATA_DIR)');
      expect(envOf(svc, 'KASKADE_DATA_DIR')).toBe('/var/lib/kaskade');
      expect(containerOf(svc).volumeMounts?.map((m) => m.mountPath)).toContain('/var/lib/kaskade');
    }
  });

  it('the gpu overlay gives the shard trainer a GPU and the gpu backend', () => {
    const trainer = services(render('overlays/gpu')).find((s) => s.metadata.name === 'shard-trainer');
    expect(trainer).toBeDefined();
    if (!trainer) return;
    expect(containerOf(trainer).resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(envOf(trainer, 'KASKADE_BACKEND')).toBe('node-gpu');
  });

  it('the gpu overlay puts only the shard trainer on the GPU image', () => {
    const imageOf = (r: Resource): string =>
      (r.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image ?? '';
    const cpu = new Map(services(render('overlays/gcs')).map((s) => [s.metadata.name, imageOf(s)]));
    const gpu = services(render('overlays/gpu'));
    expect(gpu.map((s) => s.metadata.name).sort()).toEqual([...cpu.keys()].sort());
    for (const svc of gpu) {
      if (svc.metadata.name === 'shard-trainer') expect(imageOf(svc)).toBe('ghcr.io/kaskade-dev/kaskade-gpu:0.1.0');
      else expect(imageOf(svc), svc.metadata.name).toBe(cpu.get(svc.metadata.name));
    }
    for (const svc of gpu.filter((s) => s.metadata.name !== 'shard-trainer')) {
      expect(containerOf(svc).resources?.limits?.['nvidia.com/gpu'], svc.metadata.name).toBeUndefined();
    }
  });
});

describe('scheduled training is opt-in', () => {
  // Knative has no way to suspend a PingSource: one in the manifests fires on every cluster.
  it.each(['base', 'overlays/gcs', 'overlays/nfs', 'overlays/gpu'])('%s creates no PingSource', (dir) => {
    const rendered = render(dir);
    expect(rendered.filter((r) => r.kind === 'PingSource').map((r) => r.metadata.name)).toEqual([]);
  });

  it.each(['base', 'overlays/gcs', 'overlays/nfs'])(
    'the schedule component adds one active nightly PingSource to %s',
    (dir) => {
      const rendered = renderComposed([join(here, dir)], [join(here, 'components/schedule')]);
      const pings = rendered.filter((r) => r.kind === 'PingSource');
      expect(pings.map((p) => [p.metadata.namespace, p.metadata.name])).toEqual([['kaskade', 'nightly-training']]);
      expect(Object.keys(pings[0]?.metadata.annotations ?? {}).filter((k) => k.startsWith('kaskade.dev/'))).toEqual([]);
      expect(pings[0]?.spec?.schedule).toBe('0 3 * * *');
      expect(validateManifests(rendered)).toEqual([]);
    },
  );
});

describe('the split component', () => {
  it.each(['base', 'overlays/gcs', 'overlays/nfs'])(
    "adds both split halves to %s with the lab's annotations, and validates",
    (dir) => {
      const rendered = renderComposed([join(here, dir)], [join(here, 'components/split')]);
      const halves = services(rendered).filter((r) => r.metadata.name.startsWith('split-half-'));
      expect(halves.map((r) => [r.metadata.name, envOf(r, 'HALF'), envOf(r, 'FUNCTION_TARGET')])).toEqual([
        ['split-half-a', 'A', 'split-half'],
        ['split-half-b', 'B', 'split-half'],
      ]);
      for (const half of halves) {
        const annotations = (half.spec as { template: { metadata: { annotations: Record<string, string> } } }).template
          .metadata.annotations;
        expect(annotations['autoscaling.knative.dev/target']).toBe('1');
        expect(annotations['autoscaling.knative.dev/max-scale']).toBe('4');
      }
      expect(existsSync(join(root, 'functions', 'split-half', 'index.ts'))).toBe(true);
      expect(validateManifests(rendered)).toEqual([]);
    },
  );
});

describe('the split-proxy component', () => {
  it.each(['base', 'overlays/gcs'])(
    'adds one split-proxy pod to %s with the split halves and points half A at it, and validates',
    (dir) => {
      const rendered = renderComposed(
        [join(here, dir)],
        [join(here, 'components/split'), join(here, 'components/split-proxy')],
      );
      const byName = new Map(services(rendered).map((r) => [r.metadata.name, r]));
      const proxy = byName.get('split-proxy');
      expect(proxy && envOf(proxy, 'FUNCTION_TARGET')).toBe('split-proxy');
      expect(proxy && envOf(proxy, 'PROXY_TARGET_URL')).toBe('http://split-half-b.kaskade.svc.cluster.local');
      const a = byName.get('split-half-a');
      expect(a && envOf(a, 'SPLIT_NEXT_URL')).toBe('http://split-proxy.kaskade.svc.cluster.local');
      const annotations = (proxy?.spec as { template: { metadata: { annotations: Record<string, string> } } }).template
        .metadata.annotations;
      expect(annotations['autoscaling.knative.dev/max-scale']).toBe('1');
      expect(existsSync(join(root, 'functions', 'split-proxy', 'index.ts'))).toBe(true);
      expect(validateManifests(rendered)).toEqual([]);
    },
  );
});

describe('the validator catches broken manifests', () => {
  const base = (): Resource[] => structuredClone(render('base'));
  const find = (rs: Resource[], kind: string, name: string): Record<string, unknown> => {
    const r = rs.find((x) => x.kind === kind && x.metadata.name === name);
    if (!r) throw new Error(`${kind}/${name} missing`);
    return r as unknown as Record<string, unknown>;
  };
  type Template = { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> };
  const template = (r: Record<string, unknown>): Template => (r.spec as { template: Template }).template;

  const cases: { name: string; mutate: (rs: Resource[]) => void; expected: RegExp }[] = [
    {
      name: 'misspelt autoscaling annotation',
      mutate: (rs) => {
        template(find(rs, 'Service', 'predictor')).metadata.annotations['autoscaling.knative.dev/minScale'] = '1';
      },
      expected: /autoscaling\.knative\.dev\/minScale: unknown autoscaling annotation/,
    },
    {
      name: 'window that is not a duration',
      mutate: (rs) => {
        template(find(rs, 'Service', 'predictor')).metadata.annotations['autoscaling.knative.dev/window'] = 'sixty';
      },
      expected: /window: must be a duration/,
    },
    {
      name: 'timeout above the revision maximum',
      mutate: (rs) => {
        template(find(rs, 'Service', 'shard-trainer')).spec.timeoutSeconds = 900;
      },
      expected: /timeoutSeconds/,
    },
    {
      name: 'unknown filter dialect',
      mutate: (rs) => {
        (find(rs, 'Trigger', 'aggregator-shard-trained').spec as Record<string, unknown>).filters = [
          { regex: { type: 'x' } },
        ];
      },
      expected: /filters\[0\].*regex/,
    },
    {
      name: 'trigger to a service that does not exist',
      mutate: (rs) => {
        (
          find(rs, 'Trigger', 'aggregator-shard-trained').spec as { subscriber: { ref: { name: string } } }
        ).subscriber.ref.name = 'aggregatr';
      },
      expected: /Service\/aggregatr/,
    },
    {
      name: 'backoff delay not ISO-8601',
      mutate: (rs) => {
        (find(rs, 'Broker', 'default').spec as { delivery: Record<string, unknown> }).delivery.backoffDelay = '500ms';
      },
      expected: /backoffDelay/,
    },
    {
      name: 'typo in a spec field',
      mutate: (rs) => {
        template(find(rs, 'Service', 'splitter')).spec.containerConcurency = 4;
      },
      expected: /containerConcurency: not a field Knative accepts/,
    },
    {
      name: 'a PingSource "suspended" by an annotation Knative ignores',
      mutate: (rs) => {
        rs.push({
          apiVersion: 'sources.knative.dev/v1',
          kind: 'PingSource',
          metadata: { name: 'nightly', annotations: { 'kaskade.dev/suspended': 'true' } },
          spec: {
            schedule: '0 3 * * *',
            sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } },
          },
        });
      },
      expected: /kaskade\.dev\/suspended means nothing to Knative/,
    },
  ];
  it("a value of the wrong type fails Knative's published schema", () => {
    const rs = base();
    template(find(rs, 'Service', 'splitter')).spec.containerConcurrency = 'four';
    expect(
      validateManifests(rs)
        .map((p) => p.message)
        .join('\n'),
    ).toMatch(/Knative schema: .*containerConcurrency/);
  });

  it.each(cases)('$name', ({ mutate, expected }) => {
    const rs = base();
    mutate(rs);
    const problems = validateManifests(rs);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.message).join('\n')).toMatch(expected);
  });
});
