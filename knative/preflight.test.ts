// The deploy preflight against the local runtime's Kubernetes API: a cluster with Knative
// installed passes; hiding one CRD or one ConfigMap from the API makes the preflight name
// exactly that piece and the command that installs it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_MANIFESTS } from '../test/support/fixtures.js';
import { startKubeRuntime, type KubeRuntime } from '../test/support/kube-runtime.js';
import { renderKustomize } from '../test/support/kustomize.js';
import { formatFindings, oidcSubscribers, preflight, requiredKinds } from './preflight.js';
import type { Resource } from './validate.js';

const INSTALLED = join(FIXTURE_MANIFESTS, 'knative-installed.yaml');
const nfs = renderKustomize(join(import.meta.dirname, 'overlays', 'nfs'));
const gcs = renderKustomize(join(import.meta.dirname, 'overlays', 'gcs'));
const gpu = renderKustomize(join(import.meta.dirname, 'overlays', 'gpu'));

/** A Service with the OIDC audience dropped from its containers' env. */
function withoutOidc(r: Resource): Resource {
  const spec = structuredClone(r.spec) as {
    template: { spec: { containers: Array<{ env?: Array<{ name: string }> }> } };
  };
  for (const c of spec.template.spec.containers) c.env = c.env?.filter((e) => e.name !== 'KASKADE_AUTH_OIDC_AUDIENCE');
  return { ...r, spec };
}

let rt: KubeRuntime | undefined;
afterEach(async () => {
  await rt?.close();
  rt = undefined;
});

describe('deploy preflight against the runtime API', () => {
  it('passes on the full runtime for the nfs overlay', async () => {
    rt = await startKubeRuntime({ manifests: INSTALLED });
    expect(await preflight(rt.admin(), nfs, 'nfs')).toEqual([]);
  });

  it('names exactly the hidden Broker CRD, with its version and the command that installs it', async () => {
    rt = await startKubeRuntime({ manifests: INSTALLED, kubeApi: { hide: ['brokers.eventing.knative.dev'] } });
    const findings = await preflight(rt.admin(), nfs, 'nfs');
    expect(findings).toHaveLength(1);
    expect(findings[0]?.missing).toBe(
      'Broker.eventing.knative.dev/v1 is not installed (the cluster serves eventing.knative.dev v1)',
    );
    expect(findings[0]?.fix).toMatch(
      /^kubectl apply -f https:\/\/github\.com\/knative\/eventing\/releases\/download\/knative-v[\d.]+\/eventing-crds\.yaml$/,
    );
  });

  it('names the whole Serving group when its only CRD is hidden', async () => {
    rt = await startKubeRuntime({ manifests: INSTALLED, kubeApi: { hide: ['services.serving.knative.dev'] } });
    const findings = await preflight(rt.admin(), nfs, 'nfs');
    expect(findings.map((f) => f.missing)).toEqual(['Service.serving.knative.dev/v1 is not installed']);
    expect(findings[0]?.fix).toContain('/serving-crds.yaml');
  });

  it('names the Broker class and the PVC flags when the ConfigMaps are not there', async () => {
    rt = await startKubeRuntime({ manifests: INSTALLED, kubeApi: { hide: ['configmaps'] } });
    const text = formatFindings(await preflight(rt.admin(), nfs, 'nfs'));
    expect(text.split('\n')).toEqual([
      expect.stringMatching(
        /^missing: no Broker class: Broker default names none .*; fix: kubectl apply -f .*mt-channel-broker\.yaml$/,
      ),
      expect.stringMatching(
        /^missing: knative-eventing\/config-features does not enable authentication-oidc: .*; fix: kubectl patch configmap\/config-features -n knative-eventing --type merge -p '\{"data":\{"authentication-oidc":"enabled"\}\}'$/,
      ),
      expect.stringMatching(
        /^missing: knative-serving\/config-features does not enable kubernetes\.podspec-persistent-volume-claim, kubernetes\.podspec-persistent-volume-write .*; fix: kubectl patch configmap\/config-features -n knative-serving --type merge -p /,
      ),
    ]);
  });

  it("names Eventing's OIDC flag, and the subscribers that need it, when it is turned off", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaskade-preflight-'));
    try {
      const off = join(dir, 'knative-oidc-off.yaml');
      writeFileSync(
        off,
        readFileSync(INSTALLED, 'utf8').replace('authentication-oidc: enabled', 'authentication-oidc: disabled'),
      );
      rt = await startKubeRuntime({ manifests: off });
      const findings = await preflight(rt.admin(), nfs, 'nfs');
      expect(findings.map((f) => f.missing)).toEqual([
        `knative-eventing/config-features does not enable authentication-oidc: the broker would deliver without a token, and ${oidcSubscribers(nfs).join(', ')} answer such deliveries 401`,
      ]);
      expect(oidcSubscribers(nfs)).toContain('splitter');
      // Without authentication the flag is not needed.
      const open = nfs.map((r): Resource => (r.kind === 'Service' ? withoutOidc(r) : r));
      expect(oidcSubscribers(open)).toEqual([]);
      expect(await preflight(rt.admin(), open, 'nfs')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the placeholder Workload Identity annotation of the gcs overlay, and passes once it is set', async () => {
    rt = await startKubeRuntime({ manifests: INSTALLED });
    const findings = await preflight(rt.admin(), gcs, 'gcs');
    expect(findings.map((f) => f.missing)).toEqual([
      expect.stringMatching(/^ServiceAccount kaskade-function has a placeholder \(kaskade-function@PROJECT_ID/),
      expect.stringMatching(/^ServiceAccount kaskade-layer-controller has a placeholder \(kaskade-function@PROJECT_ID/),
    ]);
    expect(findings[0]?.fix).toContain('roles/iam.workloadIdentityUser');
    const set = gcs.map((r): Resource =>
      r.kind === 'ServiceAccount'
        ? {
            ...r,
            metadata: {
              ...r.metadata,
              annotations: { 'iam.gke.io/gcp-service-account': 'kaskade-function@my-project.iam.gserviceaccount.com' },
            },
          }
        : r,
    );
    expect(await preflight(rt.admin(), set, 'gcs')).toEqual([]);
    // The gpu overlay builds on gcs: the same bucket, the same check.
    expect((await preflight(rt.admin(), gpu, 'gpu')).map((f) => f.missing)).toEqual(findings.map((f) => f.missing));
  });
});

describe('requiredKinds', () => {
  it('always asks for Serving and Eventing, and for every Knative kind the overlay renders', () => {
    const ping: Resource = { apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: { name: 'nightly' } };
    expect(requiredKinds([ping]).map((k) => `${k.kind}.${k.apiVersion}`)).toEqual([
      'Service.serving.knative.dev/v1',
      'Broker.eventing.knative.dev/v1',
      'Trigger.eventing.knative.dev/v1',
      'PingSource.sources.knative.dev/v1',
    ]);
  });
});
