// Authentication in the manifests: the cluster overlays turn it on for every Knative Service (the
// shared token from the Secret `kaskade-auth`, and Knative Eventing's OIDC audience), every
// Trigger and the dead-letter sink name that audience; the base and the local edge leave it off.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderKustomize } from '../test/support/kustomize.js';
import type { Resource } from './validate.js';

const here = dirname(fileURLToPath(import.meta.url));
const render = (dir: string): Resource[] => renderKustomize(join(here, dir));

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

function envOf(r: Resource): EnvVar[] {
  const spec = r.spec as { template: { spec: { containers: { env?: EnvVar[] }[] } } };
  return spec.template.spec.containers[0]?.env ?? [];
}

const services = (rs: Resource[]): Resource[] =>
  rs.filter((r) => r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev'));

describe('authentication in the manifests', () => {
  it.each(['overlays/gcs', 'overlays/nfs', 'overlays/gpu'])('%s turns it on everywhere', (dir) => {
    const rendered = render(dir);
    expect(services(rendered).length).toBeGreaterThanOrEqual(5);
    for (const svc of services(rendered)) {
      const env = envOf(svc);
      expect(env.find((e) => e.name === 'KASKADE_AUTH_TOKEN')?.valueFrom?.secretKeyRef, svc.metadata.name).toEqual({
        name: 'kaskade-auth',
        key: 'token',
      });
      expect(env.find((e) => e.name === 'KASKADE_AUTH_OIDC_AUDIENCE')?.value).toBe('kaskade');
      expect(env.find((e) => e.name === 'KASKADE_AUTH_JWKS_URL')?.value).toMatch(/^https:\/\//);
    }
    const triggers = rendered.filter((r) => r.kind === 'Trigger');
    expect(triggers.length).toBeGreaterThan(0);
    for (const t of triggers)
      expect((t.spec as { subscriber: { audience?: string } }).subscriber.audience, t.metadata.name).toBe('kaskade');
    const broker = rendered.find((r) => r.kind === 'Broker');
    expect(
      (broker?.spec as { delivery: { deadLetterSink: { audience?: string } } }).delivery.deadLetterSink.audience,
    ).toBe('kaskade');
  });

  it.each(['base', 'overlays/edge-local'])('%s leaves it off', (dir) => {
    for (const svc of services(render(dir)))
      expect(
        envOf(svc).filter((e) => e.name.startsWith('KASKADE_AUTH_')),
        svc.metadata.name,
      ).toEqual([]);
  });
});
