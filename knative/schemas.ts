// JSON Schemas of the Knative (and core Kubernetes) resources Kaskade ships, written from the
// Knative API reference and its admission-webhook rules: field names and types, the
// autoscaling annotations' value ranges, the delivery spec. Stricter than the CRDs' own
// openAPIV3Schema (which leaves most of a PodSpec open): an unknown key is an error here, so a
// typo in a manifest fails a test instead of being ignored by the cluster.
type Schema = Record<string, unknown>;

const dnsLabel: Schema = { type: 'string', pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
/** Go duration strings as Knative parses them (`60s`, `1m30s`, `500ms`). */
const goDuration = '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$';
/** ISO-8601 durations as the delivery spec uses them (`PT0.5S`, `PT10M`, `P1D`). */
const isoDuration: Schema = { type: 'string', pattern: '^P(?!$)([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\\.[0-9]+)?S)?)?$' };
const intString = (min: 0 | 1): Schema => ({ type: 'string', pattern: min === 0 ? '^[0-9]+$' : '^[1-9][0-9]*$' });
const numberString: Schema = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?$' };

const metadata: Schema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: dnsLabel, namespace: dnsLabel, labels: stringMap, annotations: stringMap },
};

/** `autoscaling.knative.dev/*` keys and the ranges Knative's webhook accepts. */
const autoscalingAnnotations: Schema = {
  type: 'object',
  additionalProperties: { type: 'string' },
  propertyNames: { not: { pattern: '^autoscaling\\.knative\\.dev/(?!(class|metric|target|target-utilization-percentage|window|panic-window-percentage|panic-threshold-percentage|min-scale|max-scale|initial-scale|scale-down-delay|activation-scale|scale-to-zero-pod-retention-period|max-scale-up-rate|max-scale-down-rate)$)' } },
  properties: {
    'autoscaling.knative.dev/class': { enum: ['kpa.autoscaling.knative.dev', 'hpa.autoscaling.knative.dev'] },
    'autoscaling.knative.dev/metric': { enum: ['concurrency', 'rps', 'cpu', 'memory'] },
    'autoscaling.knative.dev/target': numberString,
    'autoscaling.knative.dev/target-utilization-percentage': numberString,
    'autoscaling.knative.dev/window': { type: 'string', pattern: goDuration },
    'autoscaling.knative.dev/panic-window-percentage': numberString,
    'autoscaling.knative.dev/panic-threshold-percentage': numberString,
    'autoscaling.knative.dev/min-scale': intString(0),
    'autoscaling.knative.dev/max-scale': intString(0),
    'autoscaling.knative.dev/initial-scale': intString(0),
    'autoscaling.knative.dev/activation-scale': intString(1),
    'autoscaling.knative.dev/scale-down-delay': { type: 'string', pattern: goDuration },
    'autoscaling.knative.dev/scale-to-zero-pod-retention-period': { type: 'string', pattern: goDuration },
  },
};

const envVar: Schema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    value: { type: 'string' },
    valueFrom: { type: 'object' },
  },
};

const quantity: Schema = { oneOf: [{ type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$' }, { type: 'number' }] };
const probe: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    httpGet: { type: 'object', additionalProperties: false, properties: { path: { type: 'string', pattern: '^/' }, port: { type: 'integer' }, httpHeaders: { type: 'array' } } },
    tcpSocket: { type: 'object' },
    grpc: { type: 'object' },
    exec: { type: 'object' },
    initialDelaySeconds: { type: 'integer', minimum: 0 },
    periodSeconds: { type: 'integer', minimum: 0 },
    timeoutSeconds: { type: 'integer', minimum: 0 },
    failureThreshold: { type: 'integer', minimum: 1 },
    successThreshold: { type: 'integer', minimum: 1 },
  },
};

const container: Schema = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: {
    name: dnsLabel,
    image: { type: 'string', minLength: 1 },
    command: { type: 'array', items: { type: 'string' } },
    args: { type: 'array', items: { type: 'string' } },
    env: { type: 'array', items: envVar },
    envFrom: { type: 'array' },
    // Knative allows one port per serving container.
    ports: {
      type: 'array',
      maxItems: 1,
      items: { type: 'object', additionalProperties: false, required: ['containerPort'], properties: { containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, name: { enum: ['http1', 'h2c'] }, protocol: { const: 'TCP' } } },
    },
    resources: {
      type: 'object',
      additionalProperties: false,
      properties: { requests: { type: 'object', additionalProperties: quantity }, limits: { type: 'object', additionalProperties: quantity } },
    },
    readinessProbe: probe,
    livenessProbe: probe,
    startupProbe: probe,
    volumeMounts: {
      type: 'array',
      items: { type: 'object', required: ['name', 'mountPath'], additionalProperties: false, properties: { name: dnsLabel, mountPath: { type: 'string', pattern: '^/' }, readOnly: { type: 'boolean' }, subPath: { type: 'string' } } },
    },
    securityContext: { type: 'object' },
    workingDir: { type: 'string' },
  },
};

const destination: Schema = {
  type: 'object',
  additionalProperties: false,
  anyOf: [{ required: ['ref'] }, { required: ['uri'] }],
  properties: {
    ref: {
      type: 'object',
      required: ['kind', 'name', 'apiVersion'],
      additionalProperties: false,
      properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, name: dnsLabel, namespace: dnsLabel },
    },
    uri: { type: 'string', minLength: 1 },
  },
};

const delivery: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    retry: { type: 'integer', minimum: 0 },
    backoffPolicy: { enum: ['linear', 'exponential'] },
    backoffDelay: isoDuration,
    timeout: isoDuration,
    deadLetterSink: destination,
  },
};

const filterDialect: Schema = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: false,
  properties: {
    exact: stringMap,
    prefix: stringMap,
    suffix: stringMap,
    all: { type: 'array', items: { $ref: '#/$defs/filter' } },
    any: { type: 'array', items: { $ref: '#/$defs/filter' } },
    not: { $ref: '#/$defs/filter' },
    cesql: { type: 'string', minLength: 1 },
  },
};

const resource = (apiVersion: string, kind: string, spec: Schema, specRequired = true): Schema => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', ...(specRequired ? ['spec'] : [])],
  additionalProperties: false,
  properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, spec, status: { type: 'object' } },
});

export const SCHEMAS: Record<string, Schema> = {
  'serving.knative.dev/v1 Service': resource('serving.knative.dev/v1', 'Service', {
    type: 'object',
    required: ['template'],
    additionalProperties: false,
    properties: {
      template: {
        type: 'object',
        required: ['spec'],
        additionalProperties: false,
        properties: {
          metadata: {
            type: 'object',
            additionalProperties: false,
            properties: { name: dnsLabel, labels: stringMap, annotations: autoscalingAnnotations },
          },
          spec: {
            type: 'object',
            required: ['containers'],
            additionalProperties: false,
            properties: {
              containers: { type: 'array', minItems: 1, items: container },
              containerConcurrency: { type: 'integer', minimum: 0, maximum: 1000 },
              // Knative's default max-revision-timeout-seconds is 600.
              timeoutSeconds: { type: 'integer', minimum: 1, maximum: 600 },
              serviceAccountName: dnsLabel,
              volumes: { type: 'array', items: { type: 'object', required: ['name'] } },
              affinity: { type: 'object' },
              nodeSelector: stringMap,
              tolerations: { type: 'array' },
              imagePullSecrets: { type: 'array' },
              enableServiceLinks: { type: 'boolean' },
            },
          },
        },
      },
      traffic: { type: 'array' },
    },
  }),
  'eventing.knative.dev/v1 Broker': resource('eventing.knative.dev/v1', 'Broker', {
    type: 'object',
    additionalProperties: false,
    properties: { config: { type: 'object' }, delivery },
  }, false),
  'eventing.knative.dev/v1 Trigger': {
    ...resource('eventing.knative.dev/v1', 'Trigger', {
      type: 'object',
      required: ['broker', 'subscriber'],
      additionalProperties: false,
      properties: {
        broker: dnsLabel,
        filter: { type: 'object', additionalProperties: false, properties: { attributes: stringMap } },
        filters: { type: 'array', items: { $ref: '#/$defs/filter' } },
        subscriber: destination,
        delivery,
      },
    }),
    $defs: { filter: filterDialect },
  },
  'sources.knative.dev/v1 PingSource': resource('sources.knative.dev/v1', 'PingSource', {
    type: 'object',
    required: ['schedule', 'sink'],
    additionalProperties: false,
    not: { required: ['data', 'dataBase64'] },
    properties: {
      schedule: { type: 'string', pattern: '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\\S+\\s+){4}\\S+)$' },
      timezone: { type: 'string' },
      contentType: { type: 'string' },
      data: { type: 'string' },
      dataBase64: { type: 'string', contentEncoding: 'base64' },
      sink: destination,
      ceOverrides: { type: 'object' },
    },
  }),
  'v1 ServiceAccount': resource('v1', 'ServiceAccount', {}, false),
  'v1 PersistentVolumeClaim': resource('v1', 'PersistentVolumeClaim', {
    type: 'object',
    required: ['accessModes', 'resources'],
    properties: {
      accessModes: { type: 'array', items: { enum: ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] } },
      storageClassName: { type: 'string' },
      resources: { type: 'object', required: ['requests'], properties: { requests: { type: 'object', required: ['storage'] } } },
    },
  }),
  'rbac.authorization.k8s.io/v1 Role': rbacRole('Role'),
  'rbac.authorization.k8s.io/v1 RoleBinding': rbacBinding('RoleBinding'),
  'rbac.authorization.k8s.io/v1 ClusterRole': rbacRole('ClusterRole'),
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': rbacBinding('ClusterRoleBinding'),
};

/** A Role or ClusterRole: rules with explicit verbs, never '*' (each names exactly what it needs). */
function rbacRole(kind: 'Role' | 'ClusterRole'): Schema {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'rules'],
    additionalProperties: false,
    properties: {
      apiVersion: { const: 'rbac.authorization.k8s.io/v1' },
      kind: { const: kind },
      metadata,
      rules: {
        type: 'array',
        items: {
          type: 'object',
          required: ['apiGroups', 'resources', 'verbs'],
          additionalProperties: false,
          properties: {
            apiGroups: { type: 'array', items: { type: 'string' } },
            resources: { type: 'array', items: { type: 'string' } },
            resourceNames: { type: 'array', items: { type: 'string' } },
            verbs: { type: 'array', minItems: 1, items: { enum: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] } },
          },
        },
      },
    },
  };
}

function rbacBinding(kind: 'RoleBinding' | 'ClusterRoleBinding'): Schema {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'roleRef', 'subjects'],
    additionalProperties: false,
    properties: {
      apiVersion: { const: 'rbac.authorization.k8s.io/v1' },
      kind: { const: kind },
      metadata,
      roleRef: { type: 'object', required: ['apiGroup', 'kind', 'name'] },
      subjects: { type: 'array', minItems: 1 },
    },
  };
}
