// `kaskade schedule --cron "0 3 * * *" --job '{...}' [--with ping|gcloud] [--pause | --delete] [--dry-run]`:
// creates, pauses or deletes scheduled training: a PingSource to the broker, or a Cloud Scheduler
// job posting to the splitter's /scheduled route; never both.
import { spawnSync } from 'node:child_process';
import { Option, type Command } from 'commander';
import { Cron } from 'croner';
import { stringify } from 'yaml';
import { UnavailableError } from '../../functions/_shared/errors.js';
import { formatPlan } from '../../knative/deploy.js';
import { schedulePlan, type ScheduleOptions, type ScheduleTool } from '../../knative/schedule.js';
import { validateManifests } from '../../knative/validate.js';

export interface ScheduleFlags {
  with: ScheduleTool;
  cron?: string;
  job?: string;
  name: string;
  namespace: string;
  timezone: string;
  target?: string;
  location?: string;
  project?: string;
  pause: boolean;
  delete: boolean;
  dryRun: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('schedule')
    .description(
      'create, pause or delete scheduled training: a PingSource (ping) or a Cloud Scheduler job (gcloud), never both',
    )
    .addOption(new Option('--with <tool>', 'scheduler').choices(['ping', 'gcloud']).default('ping'))
    .option('--cron <expr>', 'when, as a five-field cron expression, e.g. "0 3 * * *"')
    .option('--job <json>', 'the training job (JSON object), as posted to the broker')
    .option('--name <name>', 'schedule name (the Cloud Scheduler job is kaskade-<name>)', 'nightly-training')
    .option('--namespace <ns>', 'namespace', 'kaskade')
    .option('--timezone <tz>', 'time zone of the cron expression', 'Etc/UTC')
    .option('--target <url>', "gcloud: the splitter's public /scheduled URL")
    .option('--location <region>', 'gcloud: Cloud Scheduler location')
    .option('--project <id>', 'gcloud: Google Cloud project')
    .option('--pause', 'pause the schedule (a PingSource cannot pause: it is deleted)', false)
    .option('--delete', 'delete the schedule', false)
    .option('--dry-run', 'print the commands (and the PingSource) instead of running them', false);
  cmd.action((flags: ScheduleFlags) => {
    const problem = scheduleUsageProblem(flags);
    if (problem) cmd.error(`error: ${problem}`, { exitCode: 2, code: 'kaskade.usage' });
    runSchedule(flags, process.stdout);
  });
}

/** Flags that cannot make a schedule, as one message (exit 2 with usage). */
export function scheduleUsageProblem(o: ScheduleFlags): string | undefined {
  if (o.pause && o.delete) return '--pause and --delete exclude each other';
  if (o.with === 'gcloud') {
    const missing = (['location', 'project'] as const).filter((k) => !o[k]).map((k) => `--${k}`);
    if (missing.length > 0) return `--with gcloud needs ${missing.join(', ')}`;
  }
  if (o.pause || o.delete) return undefined;
  if (!o.cron || !o.job) return 'creating a schedule needs --cron and --job';
  try {
    new Cron(o.cron, { paused: true, timezone: o.timezone });
  } catch (e) {
    return `--cron ${JSON.stringify(o.cron)} is not a cron expression: ${(e as Error).message}`;
  }
  let job: unknown;
  try {
    job = JSON.parse(o.job);
  } catch {
    return '--job is not JSON';
  }
  if (typeof job !== 'object' || job === null || Array.isArray(job)) return '--job must be a JSON object';
  if (o.with === 'gcloud' && !o.target) return "--with gcloud needs --target (the splitter's public /scheduled URL)";
  return undefined;
}

export function scheduleOptions(o: ScheduleFlags): ScheduleOptions {
  return {
    tool: o.with,
    action: o.delete ? 'delete' : o.pause ? 'pause' : 'create',
    name: o.name,
    namespace: o.namespace,
    timezone: o.timezone,
    ...(o.cron !== undefined ? { cron: o.cron } : {}),
    ...(o.job !== undefined ? { job: JSON.stringify(JSON.parse(o.job)) } : {}),
    ...(o.target !== undefined ? { target: o.target } : {}),
    ...(o.location !== undefined ? { location: o.location } : {}),
    ...(o.project !== undefined ? { project: o.project } : {}),
  };
}

/** What `--dry-run` prints. */
export function scheduleDryRun(o: ScheduleFlags): string {
  const plan = schedulePlan(scheduleOptions(o));
  return [
    ...(plan.note ? [`# ${plan.note}`] : []),
    formatPlan(plan.commands),
    ...(plan.pingSource ? [`# stdin of kubectl apply -f -:\n${stringify(plan.pingSource).trimEnd()}`] : []),
  ].join('\n');
}

function runSchedule(o: ScheduleFlags, out: NodeJS.WritableStream): void {
  if (o.dryRun) {
    out.write(`${scheduleDryRun(o)}\n`);
    return;
  }
  const plan = schedulePlan(scheduleOptions(o));
  if (plan.pingSource) {
    // Validated beside the Broker `kaskade deploy` created, which its sink names.
    const broker = {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Broker',
      metadata: { name: 'default', namespace: o.namespace },
    };
    const problems = validateManifests([broker, plan.pingSource]);
    if (problems.length > 0)
      throw new UnavailableError(`the PingSource does not validate: ${problems.map((p) => p.message).join('; ')}`);
  }
  if (plan.note) out.write(`${plan.note}\n`);
  for (const [program = '', ...args] of plan.commands) {
    const input = args.join(' ') === 'apply -f -' && plan.pingSource ? stringify(plan.pingSource) : undefined;
    const r = spawnSync(program, args, {
      input,
      stdio: [input === undefined ? 'inherit' : 'pipe', 'inherit', 'inherit'],
      encoding: 'utf8',
    });
    if (r.error) throw new UnavailableError(`${program} could not be started: ${r.error.message}`, { cause: r.error });
    if (r.status !== 0) throw new UnavailableError(`failed (${r.status ?? 'signal'}): ${program} ${args.join(' ')}`);
  }
}
