import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deployPlan, formatPlan, type DeployOptions } from './deploy.js';
import { parseManifests } from './validate.js';

const here = dirname(fileURLToPath(import.meta.url));
const rendered = (overlay: string) => parseManifests(execFileSync('kubectl', ['kustomize', join(here, 'overlays', overlay)], { encoding: 'utf8' }));

const base = (o: Partial<DeployOptions> & Pick<DeployOptions, 'tool' | 'overlay'>): DeployOptions => ({
  namespace: 'kaskade',
  overlayDir: `knative/overlays/${o.overlay}`,
  ...o,
});

describe('deploy plans', () => {
  const cases: { name: string; options: DeployOptions; contains: RegExp[]; excludes?: RegExp[] }[] = [
    {
      name: 'kubectl with gcs applies the overlay after creating the namespace',
      options: base({ tool: 'kubectl', overlay: 'gcs' }),
      contains: [/^kubectl create namespace kaskade --dry-run=client -o yaml \| kubectl apply -f -$/m, /^kubectl apply -k knative\/overlays\/gcs$/m],
      excludes: [/config-features/, /^kn /m],
    },
    {
      name: 'kubectl with nfs turns on the PVC feature flags first',
      options: base({ tool: 'kubectl', overlay: 'nfs' }),
      contains: [/kubectl patch configmap\/config-features -n knative-serving .*persistent-volume-claim.*persistent-volume-write/],
    },
    {
      name: 'kn carries every manifest setting over',
      options: base({ tool: 'kn', overlay: 'nfs', coreManifestFile: '/tmp/core.yaml' }),
      contains: [
        /^kubectl apply -n kaskade -f \/tmp\/core.yaml$/m,
        /^kn broker create default --namespace kaskade --retry 3 --backoff-policy exponential --backoff-delay PT0.5S --timeout PT600S --dl-sink ksvc:aggregator\/dead-letter$/m,
        /^kn service create shard-trainer .*--env FUNCTION_TARGET=shard-trainer .*--concurrency-limit 1 --timeout 600 .*--annotation-revision autoscaling.knative.dev\/max-scale=16/m,
        /^kn service create predictor .*--mount \/var\/lib\/kaskade=pvc:kaskade-data$/m,
        /^kn trigger create aggregator-shard-trained --namespace kaskade --broker default --sink ksvc:aggregator --filter type=dev.kaskade.shard.trained$/m,
      ],
      // The PingSource is suspended: kn cannot create a suspended one, so it is left out.
      excludes: [/kn source ping/],
    },
    {
      name: 'gcloud gets credentials and makes a paused Cloud Scheduler job',
      options: base({ tool: 'gcloud', overlay: 'gcs', gke: { cluster: 'ml', location: 'europe-west1', project: 'p1' }, schedulerTarget: 'https://splitter.example/scheduled' }),
      contains: [
        /^gcloud container clusters get-credentials ml --location europe-west1 --project p1$/m,
        /^gcloud scheduler jobs create http kaskade-nightly-training --schedule '0 3 \* \* \*' --time-zone Etc\/UTC --uri https:\/\/splitter.example\/scheduled --http-method POST/m,
        /^gcloud scheduler jobs pause kaskade-nightly-training$/m,
      ],
    },
  ];
  it.each(cases)('$name', ({ options, contains, excludes }) => {
    const text = formatPlan(deployPlan(rendered(options.overlay), options));
    for (const re of contains) expect(text).toMatch(re);
    for (const re of excludes ?? []) expect(text).not.toMatch(re);
  });

  it('gcloud without a cluster is an error, not a half plan', () => {
    expect(() => deployPlan(rendered('gcs'), base({ tool: 'gcloud', overlay: 'gcs' }))).toThrow(/--cluster/);
  });
});
