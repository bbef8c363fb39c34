// The Knative resources the local runtime runs, read from YAML and validated with zod:
// Services (serving.knative.dev/v1), Brokers and Triggers (eventing.knative.dev/v1), PingSources
// (sources.knative.dev/v1). Errors name the document and the field. Other kinds (RBAC, PVCs,
// ConfigMaps) are listed as ignored; ConfigMaps still feed `configMapKeyRef` env values.
import { z } from 'zod';
import {
  attributesFilterSchema,
  deliveryFields,
  filterSchema,
  type DeliverySpec,
  type FilterDialect,
} from '../../events/broker/spec.js';
import { ConfigError } from '../../functions/_shared/errors.js';
import { AUTOSCALING_PREFIX, parseAutoscaling } from './autoscaling.js';
import type { KpaConfig } from './kpa.js';
import type { RawDocument } from './manifest-source.js';

export type Destination =
  | { kind: 'service'; namespace: string; name: string; path: string }
  | { kind: 'broker'; namespace: string; name: string }
  | { kind: 'uri'; uri: string };

export interface ServiceManifest {
  origin: string;
  namespace: string;
  name: string;
  functionTarget: string;
  /** Container env after `$(VAR)` expansion, in manifest order (runtime overrides applied). */
  env: Array<{ name: string; value: string }>;
  /** 0 = unlimited. */
  containerConcurrency: number;
  timeoutSeconds: number;
  /** readinessProbe.httpGet.path, or null for a TCP check. */
  readinessPath: string | null;
  autoscaling: KpaConfig;
  /** The broker KASKADE_BROKER_URL points at (the namespace's `default` unless env names one). */
  broker: { namespace: string; name: string };
}

/** Knative's DeliverySpec (one definition, in events/broker/spec.ts) with its sink as a Destination. */
export type Delivery = Omit<DeliverySpec, 'deadLetterSink'> & { deadLetterSink?: Destination };

export interface BrokerManifest {
  origin: string;
  namespace: string;
  name: string;
  delivery?: Delivery;
}

/** One Knative `filters` entry (the SQL dialect is checked by the broker). */
export type FilterSpec = FilterDialect;

export interface TriggerManifest {
  origin: string;
  namespace: string;
  name: string;
  broker: string;
  filter?: { attributes?: Record<string, string> };
  filters?: FilterSpec[];
  subscriber: Destination;
  delivery?: Delivery;
}

export interface PingSourceManifest {
  origin: string;
  namespace: string;
  name: string;
  schedule: string;
  timezone?: string;
  /** The event body: `data` as UTF-8, or `dataBase64` decoded. */
  data: Buffer;
  contentType: string;
  sink: Destination;
  /** `kaskade.dev/suspended: "true"`: loaded but never fires. */
  suspended: boolean;
}

export interface RuntimeManifests {
  services: ServiceManifest[];
  brokers: BrokerManifest[];
  triggers: TriggerManifest[];
  pingSources: PingSourceManifest[];
  /** `Kind/name` of resources the local runtime does not run. */
  ignored: string[];
  warnings: string[];
}

export interface ManifestOptions {
  /** Namespace for resources that name none (kustomize usually sets one). */
  namespace: string;
  allowZeroInitialScale: boolean;
  /** Env values that replace the manifests' own for every service (before `$(VAR)` expansion). */
  envOverrides?: Readonly<Record<string, string>>;
}

export const SUSPEND_ANNOTATION = 'kaskade.dev/suspended';
const CLUSTER_BROKER_HOST = 'broker-ingress.knative-eventing.svc.cluster.local';

const dnsName = z
  .string()
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS label')
  .max(63);
const stringMap = z.record(z.string(), z.string());
const metadata = z.looseObject({ name: dnsName, namespace: dnsName.optional(), annotations: stringMap.optional() });
const ref = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  name: dnsName,
  namespace: dnsName.optional(),
});
const destination = z
  .looseObject({ ref: ref.optional(), uri: z.string().min(1).optional() })
  .refine((d) => d.ref !== undefined || d.uri !== undefined, 'needs ref or uri');
const delivery = z.strictObject({ ...deliveryFields, deadLetterSink: destination.optional() });
const envVar = z.looseObject({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z
    .looseObject({
      fieldRef: z.looseObject({ fieldPath: z.string() }).optional(),
      configMapKeyRef: z.looseObject({ name: z.string(), key: z.string() }).optional(),
      secretKeyRef: z.looseObject({ name: z.string(), key: z.string() }).optional(),
    })
    .optional(),
});
const container = z.looseObject({
  env: z.array(envVar).optional(),
  ports: z.array(z.looseObject({ containerPort: z.number().int() })).optional(),
  readinessProbe: z.looseObject({ httpGet: z.looseObject({ path: z.string().optional() }).optional() }).optional(),
});
/**
 * The pod-spec fields Knative's webhook accepts in a revision template (with its optional
 * features on); anything else is refused, as `kubectl apply` refuses a field the cluster does
 * not know, so a misspelt field fails here instead of being dropped.
 */
const REVISION_SPEC_FIELDS = new Set([
  'containers',
  'initContainers',
  'volumes',
  'serviceAccountName',
  'automountServiceAccountToken',
  'imagePullSecrets',
  'containerConcurrency',
  'timeoutSeconds',
  'responseStartTimeoutSeconds',
  'idleTimeoutSeconds',
  'enableServiceLinks',
  'affinity',
  'nodeSelector',
  'tolerations',
  'topologySpreadConstraints',
  'runtimeClassName',
  'priorityClassName',
  'schedulerName',
  'securityContext',
  'hostAliases',
  'dnsPolicy',
  'dnsConfig',
  'shareProcessNamespace',
  'hostIPC',
  'hostPID',
  'hostNetwork',
]);
const knownRevisionFields = (spec: Record<string, unknown>, ctx: z.RefinementCtx): void => {
  for (const key of Object.keys(spec)) {
    if (!REVISION_SPEC_FIELDS.has(key))
      ctx.addIssue({ code: 'custom', path: [key], message: 'not a field Knative accepts in a revision template' });
  }
};
const serviceSchema = z.looseObject({
  metadata,
  spec: z.looseObject({
    template: z.looseObject({
      metadata: z.looseObject({ annotations: stringMap.optional() }).optional(),
      spec: z
        .looseObject({
          containerConcurrency: z.number().int().min(0).max(1000).optional(),
          // Knative's default max-revision-timeout-seconds.
          timeoutSeconds: z.number().int().min(1).max(600).optional(),
          containers: z.array(container).min(1),
        })
        .superRefine(knownRevisionFields),
    }),
  }),
});
const brokerSchema = z.looseObject({ metadata, spec: z.looseObject({ delivery: delivery.optional() }).optional() });
const triggerSchema = z.looseObject({
  metadata,
  spec: z.looseObject({
    broker: dnsName,
    filter: attributesFilterSchema.optional(),
    filters: z.array(filterSchema).optional(),
    subscriber: destination,
    delivery: delivery.optional(),
  }),
});
const pingSchema = z.looseObject({
  metadata,
  spec: z
    .looseObject({
      schedule: z.string().min(1),
      timezone: z.string().min(1).optional(),
      data: z.string().optional(),
      dataBase64: z
        .string()
        .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
        .optional(),
      contentType: z.string().min(1).optional(),
      sink: destination,
    })
    .refine((s) => s.data === undefined || s.dataBase64 === undefined, 'data and dataBase64 are mutually exclusive'),
});
const configMapSchema = z.looseObject({ metadata, data: stringMap.optional() });
const header = z.looseObject({ apiVersion: z.string().min(1), kind: z.string().min(1) });

type Problems = string[];

/** Validates and converts raw documents; every problem found is reported in one ConfigError. */
export function parseManifests(docs: readonly RawDocument[], options: ManifestOptions): RuntimeManifests {
  const problems: Problems = [];
  const out: RuntimeManifests = { services: [], brokers: [], triggers: [], pingSources: [], ignored: [], warnings: [] };
  const configMaps = new Map<string, Record<string, string>>();
  const parsed: Array<{ doc: RawDocument; kind: string }> = [];

  for (const doc of docs) {
    const h = header.safeParse(doc.value);
    if (!h.success) {
      problems.push(...issues(doc.origin, 'resource', h.error));
      continue;
    }
    const { apiVersion, kind } = h.data;
    const group = apiVersion.split('/')[0];
    const knative = kindOf(group, kind);
    if (knative === null) {
      if (kind === 'ConfigMap' && apiVersion === 'v1') {
        const cm = configMapSchema.safeParse(doc.value);
        if (cm.success)
          configMaps.set(
            `${cm.data.metadata.namespace ?? options.namespace}/${cm.data.metadata.name}`,
            cm.data.data ?? {},
          );
      }
      out.ignored.push(`${kind}/${nameOf(doc.value)}`);
      continue;
    }
    const expected =
      knative === 'PingSource'
        ? 'sources.knative.dev/v1'
        : knative === 'Service'
          ? 'serving.knative.dev/v1'
          : 'eventing.knative.dev/v1';
    if (apiVersion !== expected) {
      problems.push(`${doc.origin}: ${kind}/${nameOf(doc.value)}: apiVersion: must be ${expected}, got ${apiVersion}`);
      continue;
    }
    parsed.push({ doc, kind: knative });
  }

  for (const { doc, kind } of parsed) {
    if (kind === 'Service') {
      const s = serviceFrom(doc, options, configMaps, problems, out.warnings);
      if (s) out.services.push(s);
    } else if (kind === 'Broker') {
      const r = brokerSchema.safeParse(doc.value);
      if (!r.success) problems.push(...issues(doc.origin, `Broker/${nameOf(doc.value)}`, r.error));
      else {
        const namespace = r.data.metadata.namespace ?? options.namespace;
        const where = `${doc.origin}: Broker/${r.data.metadata.name}`;
        const d = r.data.spec?.delivery;
        out.brokers.push({
          origin: doc.origin,
          namespace,
          name: r.data.metadata.name,
          ...(d ? { delivery: deliveryFrom(d, namespace, where, problems) } : {}),
        });
      }
    } else if (kind === 'Trigger') {
      const r = triggerSchema.safeParse(doc.value);
      if (!r.success) problems.push(...issues(doc.origin, `Trigger/${nameOf(doc.value)}`, r.error));
      else {
        const namespace = r.data.metadata.namespace ?? options.namespace;
        const where = `${doc.origin}: Trigger/${r.data.metadata.name}`;
        const subscriber = destinationFrom(r.data.spec.subscriber, namespace, `${where}: spec.subscriber`, problems);
        const { filter, filters, delivery: d } = r.data.spec;
        if (subscriber) {
          out.triggers.push({
            origin: doc.origin,
            namespace,
            name: r.data.metadata.name,
            broker: r.data.spec.broker,
            ...(filter ? { filter: filter.attributes ? { attributes: filter.attributes } : {} } : {}),
            ...(filters ? { filters } : {}),
            subscriber,
            ...(d ? { delivery: deliveryFrom(d, namespace, where, problems) } : {}),
          });
        }
      }
    } else {
      const p = pingFrom(doc, options, problems);
      if (p) out.pingSources.push(p);
    }
  }
  checkReferences(out, problems);
  if (problems.length > 0) throw new ConfigError(`invalid manifests:\n  ${problems.join('\n  ')}`);
  return out;
}

function kindOf(group: string | undefined, kind: string): 'Service' | 'Broker' | 'Trigger' | 'PingSource' | null {
  if (group === 'serving.knative.dev' && kind === 'Service') return 'Service';
  if (group === 'eventing.knative.dev' && (kind === 'Broker' || kind === 'Trigger')) return kind;
  if (group === 'sources.knative.dev' && kind === 'PingSource') return 'PingSource';
  return null;
}

function nameOf(value: unknown): string {
  const meta = typeof value === 'object' && value !== null && 'metadata' in value ? value.metadata : undefined;
  const name = typeof meta === 'object' && meta !== null && 'name' in meta ? meta.name : undefined;
  return typeof name === 'string' ? name : '?';
}

function issues(origin: string, what: string, error: z.ZodError): string[] {
  return error.issues.map((i) => `${origin}: ${what}: ${formatPath(i.path) || '(document)'}: ${i.message}`);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function serviceFrom(
  doc: RawDocument,
  options: ManifestOptions,
  configMaps: Map<string, Record<string, string>>,
  problems: Problems,
  warnings: string[],
): ServiceManifest | null {
  const r = serviceSchema.safeParse(doc.value);
  if (!r.success) {
    problems.push(...issues(doc.origin, `Service/${nameOf(doc.value)}`, r.error));
    return null;
  }
  const { metadata: meta, spec } = r.data;
  const namespace = meta.namespace ?? options.namespace;
  const where = `${doc.origin}: Service/${meta.name}`;
  const podSpec = spec.template.spec;
  const index = Math.max(
    0,
    podSpec.containers.findIndex((c) => (c.ports?.length ?? 0) > 0),
  );
  const c = podSpec.containers[index];
  if (!c) return null;
  const cc = podSpec.containerConcurrency ?? 0;

  const env: Array<{ name: string; value: string }> = [];
  const known = new Map<string, string>();
  (c.env ?? []).forEach((v, i) => {
    const field = `spec.template.spec.containers[${index}].env[${i}]`;
    let value = options.envOverrides?.[v.name];
    if (value === undefined) {
      if (v.value !== undefined) value = expand(v.value, known);
      else if (v.valueFrom?.fieldRef) {
        const path = v.valueFrom.fieldRef.fieldPath;
        value = path === 'metadata.namespace' ? namespace : path === 'metadata.name' ? `${meta.name}-local` : undefined;
        if (value === undefined)
          warnings.push(`${where}: ${field}: fieldRef ${path} is not available locally; ${v.name} is unset`);
      } else if (v.valueFrom?.configMapKeyRef) {
        const { name, key } = v.valueFrom.configMapKeyRef;
        value = configMaps.get(`${namespace}/${name}`)?.[key];
        if (value === undefined)
          problems.push(
            `${where}: ${field}.valueFrom.configMapKeyRef: ConfigMap ${name} key ${key} is not in the manifests`,
          );
      } else if (v.valueFrom?.secretKeyRef) {
        warnings.push(`${where}: ${field}: secrets are not read locally; set ${v.name} with --env ${v.name}=...`);
      } else value = '';
    }
    if (value === undefined) return;
    known.set(v.name, value);
    env.push({ name: v.name, value });
  });
  for (const [name, value] of Object.entries(options.envOverrides ?? {})) {
    if (!known.has(name)) env.push({ name, value });
  }

  const functionTarget = known.get('FUNCTION_TARGET');
  if (functionTarget === undefined || !/^[a-z][a-z0-9-]*$/i.test(functionTarget)) {
    problems.push(
      `${where}: spec.template.spec.containers[${index}].env: FUNCTION_TARGET must name a folder of functions/ (the worker loads functions/<FUNCTION_TARGET>/index.ts), got ${JSON.stringify(functionTarget ?? null)}`,
    );
  }
  const misplaced = Object.keys(meta.annotations ?? {}).filter((k) => k.startsWith(AUTOSCALING_PREFIX));
  if (misplaced.length > 0)
    warnings.push(
      `${where}: metadata.annotations: ${misplaced.join(', ')} belong under spec.template.metadata.annotations; Knative ignores them here, and so does the runtime`,
    );
  const auto = parseAutoscaling(spec.template.metadata?.annotations ?? {}, cc, {
    allowZeroInitialScale: options.allowZeroInitialScale,
  });
  for (const p of auto.problems) problems.push(`${where}: spec.template.metadata.annotations.${p.field}: ${p.message}`);
  for (const w of auto.warnings) warnings.push(`${where}: ${w}`);
  if (functionTarget === undefined) return null;

  return {
    origin: doc.origin,
    namespace,
    name: meta.name,
    functionTarget,
    env,
    containerConcurrency: cc,
    timeoutSeconds: podSpec.timeoutSeconds ?? 300,
    readinessPath: c.readinessProbe?.httpGet?.path ?? null,
    autoscaling: auto.config,
    broker: brokerOfEnv(known.get('KASKADE_BROKER_URL'), namespace),
  };
}

/** Kubernetes dependent env vars: `$(NAME)` of an earlier var is replaced; `$$(NAME)` escapes. */
export function expand(value: string, known: ReadonlyMap<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && known.has(name) ? (known.get(name) ?? m) : m;
  });
}

function brokerOfEnv(url: string | undefined, namespace: string): { namespace: string; name: string } {
  if (url !== undefined) {
    try {
      const u = new URL(url);
      const [ns, name] = u.pathname.split('/').filter((s) => s !== '');
      if (
        ns !== undefined &&
        name !== undefined &&
        (u.hostname === CLUSTER_BROKER_HOST || u.hostname.startsWith('broker-ingress.'))
      )
        return { namespace: ns, name };
    } catch {
      // Not a URL: the runtime replaces it with the local default broker's.
    }
  }
  return { namespace, name: 'default' };
}

function destinationFrom(
  d: z.infer<typeof destination>,
  namespace: string,
  where: string,
  problems: Problems,
): Destination | null {
  if (d.ref) {
    const ns = d.ref.namespace ?? namespace;
    if (
      d.ref.kind === 'Service' &&
      (d.ref.apiVersion === undefined || d.ref.apiVersion.startsWith('serving.knative.dev/'))
    ) {
      const path = d.uri !== undefined && d.uri.startsWith('/') ? d.uri : '/';
      return { kind: 'service', namespace: ns, name: d.ref.name, path };
    }
    if (d.ref.kind === 'Broker') return { kind: 'broker', namespace: ns, name: d.ref.name };
    problems.push(`${where}.ref: kind ${d.ref.kind} is not supported locally (Service or Broker)`);
    return null;
  }
  const uri = d.uri ?? '';
  if (!/^https?:\/\//.test(uri)) {
    problems.push(`${where}.uri: must be an absolute http(s) URL, got "${uri}"`);
    return null;
  }
  return { kind: 'uri', uri };
}

function deliveryFrom(d: z.infer<typeof delivery>, namespace: string, where: string, problems: Problems): Delivery {
  const dls = d.deadLetterSink
    ? destinationFrom(d.deadLetterSink, namespace, `${where}: spec.delivery.deadLetterSink`, problems)
    : null;
  return {
    ...(d.retry !== undefined ? { retry: d.retry } : {}),
    ...(d.backoffPolicy !== undefined ? { backoffPolicy: d.backoffPolicy } : {}),
    ...(d.backoffDelay !== undefined ? { backoffDelay: d.backoffDelay } : {}),
    ...(d.backoffMax !== undefined ? { backoffMax: d.backoffMax } : {}),
    ...(d.retryAfterMax !== undefined ? { retryAfterMax: d.retryAfterMax } : {}),
    ...(d.timeout !== undefined ? { timeout: d.timeout } : {}),
    ...(dls ? { deadLetterSink: dls } : {}),
  };
}

function pingFrom(doc: RawDocument, options: ManifestOptions, problems: Problems): PingSourceManifest | null {
  const r = pingSchema.safeParse(doc.value);
  if (!r.success) {
    problems.push(...issues(doc.origin, `PingSource/${nameOf(doc.value)}`, r.error));
    return null;
  }
  const { metadata: meta, spec } = r.data;
  const namespace = meta.namespace ?? options.namespace;
  const sink = destinationFrom(spec.sink, namespace, `${doc.origin}: PingSource/${meta.name}: spec.sink`, problems);
  if (!sink) return null;
  return {
    origin: doc.origin,
    namespace,
    name: meta.name,
    schedule: spec.schedule,
    ...(spec.timezone !== undefined ? { timezone: spec.timezone } : {}),
    data: spec.dataBase64 !== undefined ? Buffer.from(spec.dataBase64, 'base64') : Buffer.from(spec.data ?? '', 'utf8'),
    contentType: spec.contentType ?? (spec.dataBase64 !== undefined ? 'application/octet-stream' : 'application/json'),
    sink,
    suspended: meta.annotations?.[SUSPEND_ANNOTATION] === 'true',
  };
}

/** Names must be unique per kind and namespace; triggers, sinks and subscribers must resolve. */
function checkReferences(m: RuntimeManifests, problems: Problems): void {
  const key = (ns: string, name: string): string => `${ns}/${name}`;
  const services = new Set(m.services.map((s) => key(s.namespace, s.name)));
  const brokers = new Set(m.brokers.map((b) => key(b.namespace, b.name)));
  for (const [kind, list] of [
    ['Service', m.services],
    ['Broker', m.brokers],
    ['Trigger', m.triggers],
    ['PingSource', m.pingSources],
  ] as const) {
    const seen = new Set<string>();
    for (const r of list) {
      const k = key(r.namespace, r.name);
      if (seen.has(k))
        problems.push(`${r.origin}: ${kind}/${r.name}: another ${kind} in namespace ${r.namespace} has the same name`);
      seen.add(k);
    }
  }
  const check = (d: Destination | undefined, where: string): void => {
    if (d?.kind === 'service' && !services.has(key(d.namespace, d.name)))
      problems.push(`${where}: refers to Service ${d.namespace}/${d.name}, which is not in the manifests`);
    if (d?.kind === 'broker' && !brokers.has(key(d.namespace, d.name)))
      problems.push(`${where}: refers to Broker ${d.namespace}/${d.name}, which is not in the manifests`);
  };
  for (const t of m.triggers) {
    const where = `${t.origin}: Trigger/${t.name}`;
    if (!brokers.has(key(t.namespace, t.broker)))
      problems.push(`${where}: spec.broker: Broker ${t.namespace}/${t.broker} is not in the manifests`);
    check(t.subscriber, `${where}: spec.subscriber`);
    check(t.delivery?.deadLetterSink, `${where}: spec.delivery.deadLetterSink`);
  }
  for (const b of m.brokers)
    check(b.delivery?.deadLetterSink, `${b.origin}: Broker/${b.name}: spec.delivery.deadLetterSink`);
  for (const p of m.pingSources) check(p.sink, `${p.origin}: PingSource/${p.name}: spec.sink`);
}
