import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderComposed, renderKustomize } from '../test/support/kustomize.js';
import { deployPlan, formatPlan, type DeployOptions } from './deploy.js';
import { resourcesOf, type Resource } from './validate.js';

const here = dirname(fileURLToPath(import.meta.url));
const rendered = (overlay: string): Resource[] => renderKustomize(join(here, 'overlays', overlay));
const scheduleFile = join(here, 'components/schedule/pingsource.yaml');
const schedulePing = (): Resource => {
  const ping = resourcesOf(readFileSync(scheduleFile, 'utf8')).find((r) => r.kind === 'PingSource');
  if (!ping) throw new Error(`${scheduleFile} has no PingSource`);
  return ping;
};
const schedule = { file: 'knative/components/schedule/pingsource.yaml', ping: schedulePing() };
const gke = { cluster: 'ml', location: 'europe-west1', project: 'p1' };

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
      // Scheduled training is opt-in: without --schedule nothing is scheduled.
      excludes: [/kn source ping/],
    },
    {
      name: 'kn with --schedule creates the nightly PingSource',
      options: base({ tool: 'kn', overlay: 'gcs', schedule }),
      contains: [/^kn source ping create nightly-training --namespace kaskade --schedule '0 3 \* \* \*' --sink broker:default --data /m],
    },
    {
      name: 'kubectl with --schedule applies the schedule component after the overlay',
      options: base({ tool: 'kubectl', overlay: 'gcs', schedule }),
      contains: [/^kubectl apply -k knative\/overlays\/gcs\nkubectl apply -f knative\/components\/schedule\/pingsource.yaml$/m],
    },
    {
      name: 'gcloud without --schedule gets credentials and schedules nothing',
      options: base({ tool: 'gcloud', overlay: 'gcs', gke }),
      contains: [/^gcloud container clusters get-credentials ml --location europe-west1 --project p1$/m, /^kubectl apply -k knative\/overlays\/gcs$/m],
      excludes: [/scheduler/],
    },
    {
      name: 'gcloud with --schedule makes one active Cloud Scheduler job and no PingSource',
      options: base({ tool: 'gcloud', overlay: 'gcs', gke, schedulerTarget: 'https://splitter.example/scheduled', schedule }),
      contains: [/^gcloud scheduler jobs create http kaskade-nightly-training --schedule '0 3 \* \* \*' --time-zone Etc\/UTC --uri https:\/\/splitter.example\/scheduled --http-method POST/m],
      excludes: [/jobs pause/, /pingsource/i],
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

  it('a scheduled gcloud deploy without the scheduler target is an error', () => {
    expect(() => deployPlan(rendered('gcs'), base({ tool: 'gcloud', overlay: 'gcs', gke, schedule }))).toThrow(/--scheduler-target/);
  });

  describe('an overlay with the schedule component', () => {
    const scheduled = (): Resource[] => renderComposed([join(here, 'overlays/gcs')], [join(here, 'components/schedule')]);
    it('is deployed by kubectl as it is, one PingSource', () => {
      const text = formatPlan(deployPlan(scheduled(), base({ tool: 'kubectl', overlay: 'gcs' })));
      expect(text).toMatch(/^kubectl apply -k knative\/overlays\/gcs$/m);
      expect(text).not.toMatch(/pingsource\.yaml/);
    });
    it('is refused by gcloud, which would schedule twice (PingSource and Cloud Scheduler)', () => {
      expect(() => deployPlan(scheduled(), base({ tool: 'gcloud', overlay: 'gcs', gke, schedulerTarget: 'https://splitter.example/scheduled', schedule }))).toThrow(/PingSource nightly-training.*Cloud Scheduler/);
      expect(() => deployPlan(scheduled(), base({ tool: 'gcloud', overlay: 'gcs', gke }))).toThrow(/PingSource nightly-training/);
    });
    it('is refused with --schedule, which would add a second one', () => {
      expect(() => deployPlan(scheduled(), base({ tool: 'kubectl', overlay: 'gcs', schedule }))).toThrow(/second schedule/);
    });
  });
});
