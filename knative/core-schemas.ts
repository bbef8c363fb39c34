// JSON Schemas of the core Kubernetes resources Kaskade ships beside its Knative ones (the
// Knative resources are checked against Knative's own published schemas, see validate.ts).
// Stricter than the API where it matters: a Role names exactly the verbs it needs, never '*'.
type Schema = Record<string, unknown>;

const dnsLabel: Schema = { type: 'string', pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const metadata: Schema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: dnsLabel, namespace: dnsLabel, labels: stringMap, annotations: stringMap },
};

const resource = (apiVersion: string, kind: string, spec: Schema, specRequired = true): Schema => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', ...(specRequired ? ['spec'] : [])],
  additionalProperties: false,
  properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, spec, status: { type: 'object' } },
});

export const CORE_SCHEMAS: Record<string, Schema> = {
  'v1 ServiceAccount': resource('v1', 'ServiceAccount', {}, false),
  'v1 PersistentVolumeClaim': resource('v1', 'PersistentVolumeClaim', {
    type: 'object',
    required: ['accessModes', 'resources'],
    properties: {
      accessModes: {
        type: 'array',
        items: { enum: ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] },
      },
      storageClassName: { type: 'string' },
      resources: {
        type: 'object',
        required: ['requests'],
        properties: { requests: { type: 'object', required: ['storage'] } },
      },
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
            verbs: {
              type: 'array',
              minItems: 1,
              items: { enum: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
            },
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
