import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderComposed, renderKustomize } from '../test/support/kustomize.js';
import { deployFiles, deployPlan, formatPlan, scheduledResources, type DeployOptions } from './deploy.js';
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
  images: { repository: 'registry.example/team/kaskade', tag: 'abc123' },
  workDir: '.kaskade/deploy',
  waitTimeout: '600s',
  ...o,
});

describe('deploy plans', () => {
  const cases: { name: string; options: DeployOptions; contains: RegExp[]; excludes?: RegExp[] }[] = [
    {
      name: 'kubectl with gcs builds and pushes the image, creates the namespace, applies the rendered overlay, waits for Ready',
      options: base({ tool: 'kubectl', overlay: 'gcs' }),
      contains: [
        /^docker build -f knative\/image\/Dockerfile --target cpu -t registry.example\/team\/kaskade:abc123 \.\ndocker push registry.example\/team\/kaskade:abc123$/m,
        /^kubectl create namespace kaskade --dry-run=client -o yaml \| kubectl apply -f -$/m,
        /^kubectl apply -f .kaskade\/deploy\/rendered.yaml\nkubectl wait ksvc --all -n kaskade --for=condition=Ready --timeout=600s$/m,
      ],
      excludes: [/config-features/, /^kn /m, /gpu/],
    },
    {
      name: 'kubectl with nfs turns on the PVC feature flags first',
      options: base({ tool: 'kubectl', overlay: 'nfs' }),
      contains: [
        /kubectl patch configmap\/config-features -n knative-serving .*persistent-volume-claim.*persistent-volume-write/,
      ],
    },
    {
      name: 'the gpu overlay builds and pushes the GPU variant too',
      options: base({ tool: 'kubectl', overlay: 'gpu' }),
      contains: [
        /^docker build -f knative\/image\/Dockerfile --target gpu -t registry.example\/team\/kaskade-gpu:abc123 \.\ndocker push registry.example\/team\/kaskade-gpu:abc123$/m,
      ],
    },
    {
      name: 'kn creates each service from its rendered YAML and applies the rest with kubectl',
      options: base({ tool: 'kn', overlay: 'nfs' }),
      contains: [
        /^kubectl apply -n kaskade -f .kaskade\/deploy\/resources.yaml$/m,
        /^kn service create predictor --namespace kaskade --force --filename .kaskade\/deploy\/ksvc-predictor.yaml$/m,
      ],
      excludes: [/--env|--mount|--annotation/],
    },
    {
      name: 'kubectl with --schedule applies the PingSource with the overlay',
      options: base({ tool: 'kubectl', overlay: 'gcs', schedule }),
      contains: [/^kubectl apply -f .kaskade\/deploy\/rendered.yaml$/m],
    },
    {
      name: 'gcloud without --schedule gets credentials and schedules nothing',
      options: base({ tool: 'gcloud', overlay: 'gcs', gke }),
      contains: [
        /^gcloud container clusters get-credentials ml --location europe-west1 --project p1\ngcloud builds submit --project p1 --config knative\/image\/cloudbuild.yaml --substitutions _IMAGE=registry.example\/team\/kaskade:abc123,_VARIANT=cpu \.$/m,
        /^kubectl apply -f .kaskade\/deploy\/rendered.yaml$/m,
      ],
      excludes: [/scheduler/],
    },
    {
      name: 'gcloud with --schedule makes one active Cloud Scheduler job and no PingSource',
      options: base({
        tool: 'gcloud',
        overlay: 'gcs',
        gke,
        schedulerTarget: 'https://splitter.example/scheduled',
        schedule,
      }),
      contains: [
        /^gcloud scheduler jobs create http kaskade-nightly-training --schedule '0 3 \* \* \*' --time-zone Etc\/UTC --uri https:\/\/splitter.example\/scheduled --http-method POST/m,
      ],
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
    expect(() => deployPlan(rendered('gcs'), base({ tool: 'gcloud', overlay: 'gcs', gke, schedule }))).toThrow(
      /--scheduler-target/,
    );
  });

  describe('an overlay with the schedule component', () => {
    const scheduled = (): Resource[] =>
      renderComposed([join(here, 'overlays/gcs')], [join(here, 'components/schedule')]);
    it('is deployed by kubectl as it is, one PingSource', () => {
      const o = base({ tool: 'kubectl', overlay: 'gcs' });
      expect(formatPlan(deployPlan(scheduled(), o))).toMatch(/^kubectl apply -f .kaskade\/deploy\/rendered.yaml$/m);
      expect(
        deployFiles(scheduledResources(scheduled(), o), o)
          .flatMap((f) => f.resources)
          .filter((r) => r.kind === 'PingSource'),
      ).toHaveLength(1);
    });
    it('is refused by gcloud, which would schedule twice (PingSource and Cloud Scheduler)', () => {
      expect(() =>
        deployPlan(
          scheduled(),
          base({
            tool: 'gcloud',
            overlay: 'gcs',
            gke,
            schedulerTarget: 'https://splitter.example/scheduled',
            schedule,
          }),
        ),
      ).toThrow(/PingSource nightly-training.*Cloud Scheduler/);
      expect(() => deployPlan(scheduled(), base({ tool: 'gcloud', overlay: 'gcs', gke }))).toThrow(
        /PingSource nightly-training/,
      );
    });
    it('is refused with --schedule, which would add a second one', () => {
      expect(() => deployPlan(scheduled(), base({ tool: 'kubectl', overlay: 'gcs', schedule }))).toThrow(
        /second schedule/,
      );
    });
  });
});
