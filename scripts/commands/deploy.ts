// `kaskade deploy [--with kubectl|kn|gcloud] [--overlay gcs|nfs|gpu] [--registry ...] [--dry-run]`:
// checks the cluster through its Kubernetes API, builds and pushes the image tagged with the
// commit, renders the overlay with it (kustomize `images:`), applies it with the chosen tool,
// waits for every ksvc to be Ready and prints the URLs. `--dry-run` prints all of it instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, UnavailableError } from '../../functions/_shared/errors.js';
import {
  deployedMessage,
  deployFiles,
  deployKustomization,
  deployPlan,
  formatPlan,
  layerImageEnvIndex,
  scheduledResources,
  urlCommands,
  type Command as DeployCommand,
  type DeployFile,
  type DeployOptions,
  type DeployTool,
  type Overlay,
} from '../../knative/deploy.js';
import { bucketUsers, formatFindings, oidcSubscribers, preflight } from '../../knative/preflight.js';
import { resourcesOf, validateManifests, type Resource } from '../../knative/validate.js';

const SCHEDULE_FILE = join('knative', 'components', 'schedule', 'pingsource.yaml');
const WORK_DIR = join('.kaskade', 'deploy');

export interface DeployFlags {
  with: DeployTool;
  overlay: Overlay;
  namespace: string;
  cluster?: string;
  location?: string;
  project?: string;
  registry?: string;
  repository: string;
  tag?: string;
  schedulerTarget?: string;
  schedule: boolean;
  waitTimeout: string;
  dryRun: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('deploy')
    .description(
      'check the cluster, build and push the image, render and apply an overlay with kubectl, kn or gcloud, wait for Ready',
    )
    .addOption(new Option('--with <tool>', 'deployment tool').choices(['kubectl', 'kn', 'gcloud']).default('kubectl'))
    .addOption(new Option('--overlay <name>', 'storage/compute overlay').choices(['gcs', 'nfs', 'gpu']).default('gcs'))
    .option('--namespace <ns>', 'namespace', 'kaskade')
    .option(
      '--registry <prefix>',
      'image registry to push to with docker (kubectl, kn), e.g. registry.example.com/team',
    )
    .option('--cluster <name>', 'GKE cluster (gcloud)')
    .option('--location <region>', 'GKE and Artifact Registry location (gcloud)')
    .option('--project <id>', 'Google Cloud project (gcloud)')
    .option('--repository <name>', 'Artifact Registry repository (gcloud)', 'kaskade')
    .option('--tag <tag>', 'image tag (default: the commit, git rev-parse --short=12 HEAD)')
    .option(
      '--schedule',
      'also schedule nightly training (knative/components/schedule): a PingSource, or with gcloud a Cloud Scheduler job',
      false,
    )
    .option('--scheduler-target <url>', "the splitter's public /scheduled URL, for Cloud Scheduler (gcloud --schedule)")
    .option('--wait-timeout <duration>', 'how long to wait for every ksvc to be Ready', '600s')
    .option('--dry-run', 'print the commands and the rendered YAML instead of running them (changes nothing)', false);
  cmd.action(async (flags: DeployFlags) => {
    const usage = usageProblem(flags);
    if (usage) cmd.error(`error: ${usage}`, { exitCode: 2, code: 'kaskade.usage' });
    await deploy(flags, process.stdout);
  });
}

/** Flags that cannot make a deploy, as one message (exit 2 with usage). */
export function usageProblem(
  o: Pick<DeployFlags, 'with' | 'registry' | 'cluster' | 'location' | 'project' | 'waitTimeout'>,
): string | undefined {
  if (o.with === 'gcloud') {
    const missing = (['cluster', 'location', 'project'] as const).filter((k) => !o[k]).map((k) => `--${k}`);
    if (missing.length > 0) return `--with gcloud needs ${missing.join(', ')}`;
  } else if (!o.registry) return `--with ${o.with} needs --registry (where docker pushes the image)`;
  if (!/^\d+[smh]$/.test(o.waitTimeout))
    return `--wait-timeout must be a duration like 600s or 10m, not ${o.waitTimeout}`;
  return undefined;
}

function commitTag(): string {
  const r = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new ConfigError(
      'the image is tagged with the commit, but git rev-parse HEAD failed: run from a clone, or pass --tag',
    );
  const dirty =
    spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout.trim() !== '';
  return `${r.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

/** Renders the overlay through the deploy's kustomization (images retagged) in a temp folder. */
function render(overlayDir: string, images: DeployOptions['images']): { resources: Resource[]; kustomization: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kaskade-deploy-'));
  try {
    const envIndex = layerImageEnvIndex(
      resourcesOf(execFileSync('kubectl', ['kustomize', overlayDir], { encoding: 'utf8' })),
    );
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify(deployKustomization(relative(dir, resolve(overlayDir)), images, envIndex)),
    );
    // Shown as it would read from .kaskade/deploy/kustomization.yaml.
    const kustomization = stringify(deployKustomization(relative(WORK_DIR, overlayDir), images, envIndex));
    return { resources: resourcesOf(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })), kustomization };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PreparedDeploy {
  options: DeployOptions;
  resources: Resource[];
  plan: DeployCommand[];
  files: DeployFile[];
  kustomization: string;
}

/** Everything a deploy will do, computed without touching the cluster (renders with kubectl kustomize). */
export function prepareDeploy(o: DeployFlags): PreparedDeploy {
  const overlayDir = join('knative', 'overlays', o.overlay);
  const tag = o.tag ?? commitTag();
  const repository =
    o.with === 'gcloud'
      ? `${o.location ?? ''}-docker.pkg.dev/${o.project ?? ''}/${o.repository}/kaskade`
      : `${(o.registry ?? '').replace(/\/+$/, '')}/kaskade`;
  const images = { repository, tag };
  const { resources, kustomization } = render(overlayDir, images);
  const problems = validateManifests(resources);
  if (problems.length > 0)
    throw new ConfigError(
      `${overlayDir} does not validate:\n${problems.map((p) => `${p.resource}: ${p.message}`).join('\n')}`,
    );
  const schedulePing = o.schedule
    ? resourcesOf(readFileSync(SCHEDULE_FILE, 'utf8')).find((r) => r.kind === 'PingSource')
    : undefined;
  if (o.schedule && !schedulePing) throw new ConfigError(`${SCHEDULE_FILE} has no PingSource`);
  const options: DeployOptions = {
    tool: o.with,
    overlay: o.overlay,
    namespace: o.namespace,
    overlayDir,
    images,
    workDir: WORK_DIR,
    waitTimeout: o.waitTimeout,
    ...(o.cluster && o.location && o.project
      ? { gke: { cluster: o.cluster, location: o.location, project: o.project } }
      : {}),
    ...(o.schedulerTarget ? { schedulerTarget: o.schedulerTarget } : {}),
    ...(schedulePing ? { schedule: { file: SCHEDULE_FILE, ping: schedulePing } } : {}),
  };
  const plan = deployPlan(resources, options);
  return {
    options,
    resources,
    plan,
    files: deployFiles(scheduledResources(resources, options), options),
    kustomization,
  };
}

/** What `--dry-run` prints: the preflight it would make, every command, the kustomization and every file the commands apply. */
export function dryRunText(d: PreparedDeploy): string {
  const o = d.options;
  const checks = [
    "Knative's CRDs",
    'a Broker class',
    ...(oidcSubscribers(d.resources).length > 0 ? ["Eventing's OIDC tokens (authentication-oidc)"] : []),
    ...(o.overlay === 'nfs' ? ['the PVC feature flags'] : []),
    ...(bucketUsers(d.resources).size > 0 ? ['the Workload Identity annotation'] : []),
  ];
  return [
    `# preflight (not under --dry-run): the cluster's Kubernetes API is checked for ${checks.join(', ')}`,
    formatPlan(d.plan),
    '# the kustomization rendered (the overlay, its images retagged):',
    d.kustomization.trimEnd(),
    ...d.files.map(
      (f) =>
        `# ${f.path}\n${f.resources
          .map((r) => stringify(r))
          .join('---\n')
          .trimEnd()}`,
    ),
  ].join('\n');
}

async function deploy(o: DeployFlags, out: NodeJS.WritableStream): Promise<void> {
  const d = prepareDeploy(o);
  if (o.dryRun) {
    out.write(`${dryRunText(d)}\n`);
    return;
  }
  // gcloud: credentials first, so the preflight reads the right cluster.
  const credentials = o.with === 'gcloud' ? d.plan.slice(0, 1) : [];
  runCommands(credentials);
  const findings = await preflight(loadKubeConfig(), d.resources, o.overlay);
  if (findings.length > 0) throw new ConfigError(`the cluster is not ready for Kaskade:\n${formatFindings(findings)}`);
  for (const f of d.files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.resources.map((r) => stringify(r)).join('---\n'));
  }
  const urls = urlCommands(o.namespace);
  runCommands(d.plan.slice(credentials.length, -urls.length));
  const [brokerUrl = '', predictorUrl = ''] = urls.map(([program = '', ...args]) =>
    execFileSync(program, args, { encoding: 'utf8' }).trim(),
  );
  out.write(`${deployedMessage(o.namespace, brokerUrl, predictorUrl)}\n`);
}

function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** Runs each command in turn; a `--dry-run=client` step's output is piped into the next one. */
function runCommands(plan: ReadonlyArray<readonly string[]>): void {
  let piped: string | undefined;
  for (const [program, ...args] of plan) {
    if (program === undefined) continue;
    const r = spawnSync(program, args, {
      input: piped,
      stdio: [
        piped === undefined ? 'inherit' : 'pipe',
        args.includes('--dry-run=client') ? 'pipe' : 'inherit',
        'inherit',
      ],
      encoding: 'utf8',
    });
    if (r.error) throw new UnavailableError(`${program} could not be started: ${r.error.message}`, { cause: r.error });
    if (r.status !== 0) throw new UnavailableError(`failed (${r.status ?? 'signal'}): ${program} ${args.join(' ')}`);
    piped = args.includes('--dry-run=client') ? r.stdout : undefined;
  }
}
