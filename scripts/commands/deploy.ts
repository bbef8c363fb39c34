// `kaskade deploy [--with kubectl|kn|gcloud] [--overlay gcs|nfs|gpu] [--schedule] [--dry-run]`:
// renders knative/overlays/<overlay> with kustomize, validates it, and deploys it with the
// chosen tool (or prints the plan).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, UnavailableError } from '../../functions/_shared/errors.js';
import { deployPlan, formatPlan, type DeployTool, type Overlay } from '../../knative/deploy.js';
import { resourcesOf, validateManifests } from '../../knative/validate.js';

const CORE_KINDS = new Set(['ServiceAccount', 'PersistentVolumeClaim', 'Role', 'RoleBinding']);
const SCHEDULE_FILE = join('knative', 'components', 'schedule', 'pingsource.yaml');

interface DeployFlags {
  with: DeployTool;
  overlay: Overlay;
  namespace: string;
  cluster?: string;
  location?: string;
  project?: string;
  schedulerTarget?: string;
  schedule: boolean;
  dryRun: boolean;
}

export function register(program: Command): void {
  program
    .command('deploy')
    .description('deploy Kaskade to a Knative cluster (kubectl, kn or gcloud)')
    .addOption(new Option('--with <tool>', 'deployment tool').choices(['kubectl', 'kn', 'gcloud']).default('kubectl'))
    .addOption(new Option('--overlay <name>', 'storage/compute overlay').choices(['gcs', 'nfs', 'gpu']).default('gcs'))
    .option('--namespace <ns>', 'namespace', 'kaskade')
    .option('--cluster <name>', 'GKE cluster (gcloud)')
    .option('--location <region>', 'GKE location (gcloud)')
    .option('--project <id>', 'Google Cloud project (gcloud)')
    .option('--schedule', 'also schedule nightly training (knative/components/schedule): a PingSource, or with gcloud a Cloud Scheduler job', false)
    .option('--scheduler-target <url>', "the splitter's public /scheduled URL, for Cloud Scheduler (gcloud --schedule)")
    .option('--dry-run', 'print the commands instead of running them', false)
    .action((flags: DeployFlags) => deploy(flags, process.stdout));
}

function deploy(o: DeployFlags, out: NodeJS.WritableStream): void {
  const overlayDir = join('knative', 'overlays', o.overlay);
  const resources = resourcesOf(execFileSync('kubectl', ['kustomize', overlayDir], { encoding: 'utf8' }));
  const problems = validateManifests(resources);
  if (problems.length > 0) throw new ConfigError(`${overlayDir} does not validate:\n${problems.map((p) => `${p.resource}: ${p.message}`).join('\n')}`);
  const schedulePing = o.schedule ? resourcesOf(readFileSync(SCHEDULE_FILE, 'utf8')).find((r) => r.kind === 'PingSource') : undefined;
  if (o.schedule && !schedulePing) throw new ConfigError(`${SCHEDULE_FILE} has no PingSource`);
  const coreManifestFile = join(mkdtempSync(join(tmpdir(), 'kaskade-deploy-')), 'core.yaml');
  if (o.with === 'kn') writeFileSync(coreManifestFile, resources.filter((r) => CORE_KINDS.has(r.kind)).map((r) => stringify(r)).join('---\n'));

  const plan = deployPlan(resources, {
    tool: o.with,
    overlay: o.overlay,
    namespace: o.namespace,
    overlayDir,
    coreManifestFile,
    ...(o.cluster && o.location && o.project ? { gke: { cluster: o.cluster, location: o.location, project: o.project } } : {}),
    ...(o.schedulerTarget ? { schedulerTarget: o.schedulerTarget } : {}),
    ...(schedulePing ? { schedule: { file: SCHEDULE_FILE, ping: schedulePing } } : {}),
  });
  if (o.dryRun) {
    out.write(`${formatPlan(plan)}\n`);
    return;
  }
  runPlan(plan);
}

/** Runs each command in turn; a `--dry-run=client` step's output is piped into the next one. */
function runPlan(plan: ReadonlyArray<readonly string[]>): void {
  let piped: string | undefined;
  for (const [program, ...args] of plan) {
    if (program === undefined) continue;
    const r = spawnSync(program, args, { input: piped, stdio: [piped === undefined ? 'inherit' : 'pipe', args.includes('--dry-run=client') ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
    if (r.error) throw new UnavailableError(`${program} could not be started: ${r.error.message}`, { cause: r.error });
    if (r.status !== 0) throw new UnavailableError(`failed (${r.status ?? 'signal'}): ${program} ${args.join(' ')}`);
    piped = args.includes('--dry-run=client') ? r.stdout : undefined;
  }
}
