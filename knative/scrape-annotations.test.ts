// Every Knative Service of the base carries Prometheus's scrape annotations on its pod template
// (Knative copies them onto the revision's pods), pointing at the port and path functions/_main
// serves /metrics on.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderKustomize } from '../test/support/kustomize.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('scrape annotations', () => {
  it('are on the pod template of every Service in knative/base', () => {
    const services = renderKustomize(join(here, 'base')).filter(
      (r) => r.kind === 'Service' && r.apiVersion === 'serving.knative.dev/v1',
    );
    expect(services.length).toBeGreaterThanOrEqual(5);
    for (const s of services) {
      const annotations = (s as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }).spec
        ?.template?.metadata?.annotations;
      expect(annotations, String(s.metadata?.name)).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '8080',
        'prometheus.io/path': '/metrics',
      });
    }
  });
});
