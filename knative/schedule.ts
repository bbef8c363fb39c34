// Scheduled training plans: `kaskade schedule` as commands, either a PingSource (applied with
// kubectl) or a Cloud Scheduler HTTP job posting to the splitter's /scheduled, never both.
// Pure functions; scripts/commands/schedule.ts runs or prints them.
import type { Command } from './deploy.js';
import { schedulerJob } from './deploy.js';
import type { Resource } from './validate.js';

export type ScheduleTool = 'ping' | 'gcloud';
export type ScheduleAction = 'create' | 'pause' | 'delete';

export interface ScheduleOptions {
  tool: ScheduleTool;
  action: ScheduleAction;
  /** PingSource name; the Cloud Scheduler job is `kaskade-<name>`. */
  name: string;
  namespace: string;
  cron?: string;
  timezone: string;
  /** The training job, as JSON text. */
  job?: string;
  /** gcloud: the splitter's public /scheduled URL, the location and the project. */
  target?: string;
  location?: string;
  project?: string;
}

export interface SchedulePlan {
  commands: Command[];
  /** ping create: the PingSource the first command applies from stdin. */
  pingSource?: Resource;
  /** A line to print before running (what pausing a PingSource means). */
  note?: string;
}

export function pingSource(o: ScheduleOptions): Resource {
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name: o.name, namespace: o.namespace, labels: { 'app.kubernetes.io/part-of': 'kaskade' } },
    spec: {
      schedule: o.cron ?? '',
      timezone: o.timezone,
      contentType: 'application/json',
      data: o.job ?? '{}',
      sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } },
    },
  } as Resource;
}

export function schedulePlan(o: ScheduleOptions): SchedulePlan {
  const gcloudScope = ['--location', o.location ?? '', '--project', o.project ?? ''];
  const jobName = `kaskade-${o.name}`;
  const deletePing: Command = ['kubectl', 'delete', 'pingsource', o.name, '-n', o.namespace, '--ignore-not-found'];
  if (o.tool === 'ping') {
    if (o.action === 'create') {
      const ping = pingSource(o);
      return { commands: [['kubectl', 'apply', '-f', '-']], pingSource: ping };
    }
    if (o.action === 'pause') {
      return {
        commands: [deletePing],
        note: `Knative's PingSource has no pause: pausing deletes ${o.name}; run kaskade schedule --cron ... --job ... again to resume`,
      };
    }
    return { commands: [deletePing] };
  }
  if (o.action === 'create') {
    // The job replaces a PingSource of the same name, so the cluster never runs both.
    return { commands: [deletePing, [...schedulerJob(pingSource(o), o.target ?? ''), ...gcloudScope]] };
  }
  if (o.action === 'pause') return { commands: [['gcloud', 'scheduler', 'jobs', 'pause', jobName, ...gcloudScope]] };
  return { commands: [['gcloud', 'scheduler', 'jobs', 'delete', jobName, ...gcloudScope, '--quiet']] };
}
