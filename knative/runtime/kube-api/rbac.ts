// RBAC as the manifests declare it: Roles and ClusterRoles (rules of apiGroups, resources,
// verbs, resourceNames), bound by RoleBindings (in their namespace) and ClusterRoleBindings
// (everywhere) to ServiceAccounts, Users and Groups. The runtime's admin user may do anything.
import { z } from 'zod';
import type { RawDocument } from '../manifest-source.js';

export interface Identity {
  /** `kaskade-admin`, or `system:serviceaccount:<ns>:<name>`. */
  user: string;
  groups: string[];
}

export interface Request {
  verb: string;
  apiGroup: string;
  resource: string;
  /** Absent for cluster-scoped resources (nodes) and for lists across namespaces. */
  namespace?: string;
  name?: string;
}

export const ADMIN_USER = 'kaskade-admin';
export const ADMIN_GROUP = 'system:masters';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Binding {
  /** Undefined for ClusterRoleBindings. */
  namespace?: string;
  role: { kind: 'Role' | 'ClusterRole'; name: string };
  subjects: Array<{ kind: string; name: string; namespace?: string }>;
}

const rule = z.looseObject({
  apiGroups: z.array(z.string()).default([]),
  resources: z.array(z.string()).default([]),
  verbs: z.array(z.string()),
  resourceNames: z.array(z.string()).optional(),
});
const role = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  rules: z.array(rule).default([]),
});
const binding = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  roleRef: z.looseObject({ kind: z.enum(['Role', 'ClusterRole']), name: z.string() }),
  subjects: z
    .array(z.looseObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() }))
    .default([]),
});
const named = z.looseObject({ metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }) });

export class Authorizer {
  private readonly roles = new Map<string, Rule[]>();
  private readonly bindings: Binding[] = [];
  /** `<ns>/<name>` of every ServiceAccount the manifests declare. */
  readonly serviceAccounts = new Set<string>();

  /** Reads the RBAC kinds out of the manifests' documents; other kinds are skipped. */
  static fromDocuments(docs: readonly RawDocument[], defaultNamespace: string): Authorizer {
    const a = new Authorizer();
    for (const doc of docs) {
      const v = doc.value as { apiVersion?: unknown; kind?: unknown } | null;
      if (typeof v !== 'object' || v === null) continue;
      const kind = v.kind;
      if (kind === 'ServiceAccount' && v.apiVersion === 'v1') {
        const r = named.safeParse(v);
        if (r.success)
          a.serviceAccounts.add(`${r.data.metadata.namespace ?? defaultNamespace}/${r.data.metadata.name}`);
        continue;
      }
      if (typeof v.apiVersion !== 'string' || !v.apiVersion.startsWith('rbac.authorization.k8s.io/')) continue;
      if (kind === 'Role' || kind === 'ClusterRole') {
        const r = role.safeParse(v);
        if (!r.success) continue;
        const key =
          kind === 'Role'
            ? `Role/${r.data.metadata.namespace ?? defaultNamespace}/${r.data.metadata.name}`
            : `ClusterRole/${r.data.metadata.name}`;
        a.roles.set(key, r.data.rules);
      } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
        const r = binding.safeParse(v);
        if (!r.success) continue;
        const namespace = kind === 'RoleBinding' ? (r.data.metadata.namespace ?? defaultNamespace) : undefined;
        const subjects = r.data.subjects.map((s) => ({
          kind: s.kind,
          name: s.name,
          ...(s.kind === 'ServiceAccount' ? { namespace: s.namespace ?? namespace ?? defaultNamespace } : {}),
        }));
        a.bindings.push({
          ...(namespace !== undefined ? { namespace } : {}),
          role: { kind: r.data.roleRef.kind, name: r.data.roleRef.name },
          subjects,
        });
      }
    }
    return a;
  }

  allows(who: Identity, req: Request): boolean {
    if (who.groups.includes(ADMIN_GROUP)) return true;
    for (const b of this.bindings) {
      if (b.namespace !== undefined && b.namespace !== req.namespace) continue;
      if (!b.subjects.some((s) => matches(s, who))) continue;
      const key = b.role.kind === 'Role' ? `Role/${b.namespace ?? ''}/${b.role.name}` : `ClusterRole/${b.role.name}`;
      if ((this.roles.get(key) ?? []).some((r) => ruleAllows(r, req))) return true;
    }
    return false;
  }
}

/** The identity of a ServiceAccount's token, with the groups Kubernetes gives it. */
export function serviceAccountIdentity(namespace: string, name: string): Identity {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

export function adminIdentity(): Identity {
  return { user: ADMIN_USER, groups: [ADMIN_GROUP, 'system:authenticated'] };
}

function matches(s: { kind: string; name: string; namespace?: string }, who: Identity): boolean {
  if (s.kind === 'ServiceAccount') return who.user === `system:serviceaccount:${s.namespace ?? ''}:${s.name}`;
  if (s.kind === 'User') return who.user === s.name;
  if (s.kind === 'Group') return who.groups.includes(s.name);
  return false;
}

function ruleAllows(r: Rule, req: Request): boolean {
  const any = (list: string[], v: string): boolean => list.includes('*') || list.includes(v);
  if (!any(r.verbs, req.verb) || !any(r.apiGroups, req.apiGroup) || !any(r.resources, req.resource)) return false;
  if (r.resourceNames && r.resourceNames.length > 0)
    return req.name !== undefined && r.resourceNames.includes(req.name);
  return true;
}
