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
  /** Manifest folder of the overlay, as given to `kubectl apply -k`. */
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
  /** kn: where the script wrote the core resources (ServiceAccount, PVC, RBAC) that kn has no verbs for. */
  coreManifestFile?: string;
}

/** One command as an argv list (never a shell string, so nothing is re-quoted wrongly). */
export type Command = readonly string[];

const FEATURE_FLAGS = {
  'kubernetes.podspec-persistent-volume-claim': 'enabled',
  'kubernetes.podspec-persistent-volume-write': 'enabled',
};

function namespaceCommands(ns: string): Command[] {
  return [['kubectl', 'create', 'namespace', ns, '--dry-run=client', '-o', 'yaml'], ['kubectl', 'apply', '-f', '-']];
}

function nfsFeatureFlags(): Command {
  return ['kubectl', 'patch', 'configmap/config-features', '-n', 'knative-serving', '--type', 'merge', '-p', JSON.stringify({ data: FEATURE_FLAGS })];
}

interface Container {
  image: string;
  volumeMounts?: { name: string; mountPath: string }[];
  env?: { name: string; value?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface ServiceSpec {
  template: {
    metadata?: { annotations?: Record<string, string> };
    spec: {
      containers: Container[];
      containerConcurrency?: number;
      timeoutSeconds?: number;
      serviceAccountName?: string;
      volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
    };
  };
}

/** `kn service create` for one Knative Service, every setting of the manifest carried over. */
export function knService(r: Resource, ns: string): Command {
  const spec = r.spec as unknown as ServiceSpec;
  const c = spec.template.spec.containers[0];
  if (!c) throw new ConfigError(`Service ${r.metadata.name} has no container`);
  const cmd = ['kn', 'service', 'create', r.metadata.name, '--namespace', ns, '--force', '--image', c.image];
  for (const e of c.env ?? []) if (e.value !== undefined) cmd.push('--env', `${e.name}=${e.value}`);
  const ts = spec.template.spec;
  if (ts.containerConcurrency !== undefined) cmd.push('--concurrency-limit', String(ts.containerConcurrency));
  if (ts.timeoutSeconds !== undefined) cmd.push('--timeout', String(ts.timeoutSeconds));
  if (ts.serviceAccountName) cmd.push('--service-account', ts.serviceAccountName);
  for (const [k, v] of Object.entries(spec.template.metadata?.annotations ?? {})) cmd.push('--annotation-revision', `${k}=${v}`);
  for (const [k, v] of Object.entries(c.resources?.requests ?? {})) cmd.push('--request', `${k}=${v}`);
  for (const [k, v] of Object.entries(c.resources?.limits ?? {})) cmd.push('--limit', `${k}=${v}`);
  for (const m of c.volumeMounts ?? []) {
    const claim = ts.volumes?.find((v) => v.name === m.name)?.persistentVolumeClaim?.claimName;
    if (!claim) throw new ConfigError(`Service ${r.metadata.name}: volume ${m.name} is not a PVC, which kn cannot mount`);
    cmd.push('--mount', `${m.mountPath}=pvc:${claim}`);
  }
  return cmd;
}

interface Destination { ref?: { kind: string; name: string }; uri?: string }

function knSink(d: Destination | undefined): string {
  if (d?.ref) return `${d.ref.kind === 'Broker' ? 'broker' : 'ksvc'}:${d.ref.name}${d.uri ?? ''}`;
  if (d?.uri) return d.uri;
  throw new ConfigError('destination has neither ref nor uri');
}

interface Delivery { retry?: number; backoffPolicy?: string; backoffDelay?: string; timeout?: string; deadLetterSink?: Destination }

/** `kn broker create` with the manifest's delivery spec (retries, backoff, dead-letter sink). */
export function knBroker(r: Resource, ns: string): Command {
  const cmd = ['kn', 'broker', 'create', r.metadata.name, '--namespace', ns];
  const d = (r.spec as { delivery?: Delivery } | undefined)?.delivery;
  if (d?.retry !== undefined) cmd.push('--retry', String(d.retry));
  if (d?.backoffPolicy) cmd.push('--backoff-policy', d.backoffPolicy);
  if (d?.backoffDelay) cmd.push('--backoff-delay', d.backoffDelay);
  if (d?.timeout) cmd.push('--timeout', d.timeout);
  if (d?.deadLetterSink) cmd.push('--dl-sink', knSink(d.deadLetterSink));
  return cmd;
}

/** Every resource of the overlay as kn commands, in dependency order (services before triggers). */
export function knPlan(resources: readonly Resource[], ns: string, coreManifestFile = 'core.yaml'): Command[] {
  const order = ['ServiceAccount', 'PersistentVolumeClaim', 'Role', 'RoleBinding', 'Broker', 'Service', 'Trigger', 'PingSource'];
  const sorted = [...resources].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const cmds: Command[] = [];
  const plainKinds: Resource[] = [];
  for (const r of sorted) {
    const spec = r.spec ?? {};
    switch (r.kind) {
      case 'Broker':
        cmds.push(knBroker(r, ns));
        break;
      case 'Service':
        cmds.push(knService(r, ns));
        break;
      case 'Trigger': {
        const cmd = ['kn', 'trigger', 'create', r.metadata.name, '--namespace', ns, '--broker', String(spec.broker), '--sink', knSink(spec.subscriber as Destination)];
        const attrs = (spec.filter as { attributes?: Record<string, string> } | undefined)?.attributes ?? {};
        for (const [k, v] of Object.entries(attrs)) cmd.push('--filter', `${k}=${v}`);
        if (spec.filters !== undefined) throw new ConfigError(`Trigger ${r.metadata.name}: kn cannot express 'filters'; deploy with kubectl`);
        cmds.push(cmd);
        break;
      }
      case 'PingSource': {
        const cmd = ['kn', 'source', 'ping', 'create', r.metadata.name, '--namespace', ns, '--schedule', String(spec.schedule), '--sink', knSink(spec.sink as Destination)];
        if (typeof spec.data === 'string') cmd.push('--data', spec.data);
        cmds.push(cmd);
        break;
      }
      default:
        plainKinds.push(r);
    }
  }
  // kn has no verbs for core resources: those go through kubectl first.
  return plainKinds.length > 0 ? [['kubectl', 'apply', '-n', ns, '-f', coreManifestFile], ...cmds] : cmds;
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
    'gcloud', 'scheduler', 'jobs', 'create', 'http', name,
    '--schedule', String(spec.schedule), '--time-zone', spec.timezone ?? 'Etc/UTC',
    '--uri', target, '--http-method', 'POST',
    '--headers', 'Content-Type=application/json',
    '--message-body', spec.data ?? '{}',
  ];
}

/** One schedule per path: a PingSource in the overlay, or `--schedule`, and under gcloud never a PingSource. */
function checkSchedule(resources: readonly Resource[], o: DeployOptions): void {
  const pings = resources.filter((r) => r.kind === 'PingSource').map((r) => r.metadata.name);
  if (pings.length === 0) return;
  if (o.tool === 'gcloud') {
    throw new ConfigError(`the ${o.overlay} overlay has PingSource ${pings.join(', ')}, but gcloud deploys schedule training with Cloud Scheduler (--schedule): remove the schedule component from the overlay, or deploy with kubectl`);
  }
  if (o.schedule) throw new ConfigError(`the ${o.overlay} overlay already has PingSource ${pings.join(', ')}; --schedule would add a second schedule`);
}

export function deployPlan(resources: readonly Resource[], o: DeployOptions): Command[] {
  checkSchedule(resources, o);
  const cmds: Command[] = [];
  if (o.tool === 'gcloud') {
    if (!o.gke) throw new ConfigError('gcloud deploys need --cluster, --location and --project');
    cmds.push(['gcloud', 'container', 'clusters', 'get-credentials', o.gke.cluster, '--location', o.gke.location, '--project', o.gke.project]);
  }
  cmds.push(...namespaceCommands(o.namespace));
  if (o.overlay === 'nfs') cmds.push(nfsFeatureFlags());
  if (o.tool === 'kn') cmds.push(...knPlan(o.schedule ? [...resources, o.schedule.ping] : resources, o.namespace, o.coreManifestFile));
  else cmds.push(['kubectl', 'apply', '-k', o.overlayDir]);
  if (o.schedule && o.tool === 'kubectl') cmds.push(['kubectl', 'apply', '-f', o.schedule.file]);
  if (o.schedule && o.tool === 'gcloud') {
    if (!o.schedulerTarget) throw new ConfigError("scheduled gcloud deploys need --scheduler-target (the splitter's public /scheduled URL)");
    cmds.push(schedulerJob(o.schedule.ping, o.schedulerTarget));
  }
  return cmds;
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
