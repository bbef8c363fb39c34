// `npm run deploy -- [--with kubectl|kn|gcloud] [--overlay gcs|nfs|gpu] [--schedule] [--dry-run]`:
// renders knative/overlays/<overlay> with kustomize and deploys it with the chosen tool.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { deployPlan, formatPlan, type DeployTool, type Overlay } from '../knative/deploy.js';
import { parseManifests, validateManifests } from '../knative/validate.js';

const CORE_KINDS = new Set(['ServiceAccount', 'PersistentVolumeClaim', 'Role', 'RoleBinding']);
const SCHEDULE_FILE = join('knative', 'components', 'schedule', 'pingsource.yaml');

const program = new Command('deploy')
  .description('Deploy Kaskade to a Knative cluster')
  .addOption(new Option('--with <tool>', 'deployment tool').choices(['kubectl', 'kn', 'gcloud']).default('kubectl'))
  .addOption(new Option('--overlay <name>', 'storage/compute overlay').choices(['gcs', 'nfs', 'gpu']).default('gcs'))
  .option('--namespace <ns>', 'namespace', 'kaskade')
  .option('--cluster <name>', 'GKE cluster (gcloud)')
  .option('--location <region>', 'GKE location (gcloud)')
  .option('--project <id>', 'Google Cloud project (gcloud)')
  .option('--schedule', 'also schedule nightly training (knative/components/schedule): a PingSource, or with gcloud a Cloud Scheduler job', false)
  .option('--scheduler-target <url>', "the splitter's public /scheduled URL, for Cloud Scheduler (gcloud --schedule)")
  .option('--dry-run', 'print the commands instead of running them', false)
  .parse();

const o = program.opts<{ with: DeployTool; overlay: Overlay; namespace: string; cluster?: string; location?: string; project?: string; schedulerTarget?: string; schedule: boolean; dryRun: boolean }>();
const overlayDir = join('knative', 'overlays', o.overlay);
const resources = parseManifests(execFileSync('kubectl', ['kustomize', overlayDir], { encoding: 'utf8' }));
const problems = validateManifests(resources);
if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`${p.resource}: ${p.message}\n`);
  process.exit(1);
}
const schedulePing = o.schedule ? parseManifests(readFileSync(SCHEDULE_FILE, 'utf8')).find((r) => r.kind === 'PingSource') : undefined;
if (o.schedule && !schedulePing) {
  process.stderr.write(`${SCHEDULE_FILE} has no PingSource\n`);
  process.exit(1);
}
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
  process.stdout.write(`${formatPlan(plan)}\n`);
  process.exit(0);
}
let piped: string | undefined;
for (const [program, ...args] of plan) {
  if (program === undefined) continue;
  const r = spawnSync(program, args, { input: piped, stdio: [piped === undefined ? 'inherit' : 'pipe', args.includes('--dry-run=client') ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    process.stderr.write(`failed (${r.status}): ${program} ${args.join(' ')}\n`);
    process.exit(r.status ?? 1);
  }
  piped = args.includes('--dry-run=client') ? r.stdout : undefined;
}
