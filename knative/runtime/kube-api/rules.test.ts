// The API's pure rules, table-tested: label and field selectors, merge and JSON patches, RBAC.
import { describe, expect, it } from 'vitest';
import { BadInputError, InvalidFieldError } from '../../../functions/_shared/errors.js';
import { applyPatch, mergePatch } from './patch.js';
import { adminIdentity, Authorizer, serviceAccountIdentity } from './rbac.js';
import { fieldMatcher, labelMatcher } from './selectors.js';

describe('label selectors', () => {
  const labels = { app: 'layer', job: 'j1', gpu: '' };
  const cases: Array<{ name: string; selector: string; matches: boolean }> = [
    { name: 'empty', selector: '', matches: true },
    { name: 'equality', selector: 'app=layer', matches: true },
    { name: 'double equals', selector: 'app==layer,job=j1', matches: true },
    { name: 'inequality', selector: 'app!=layer', matches: false },
    { name: 'inequality of an absent key', selector: 'tier!=edge', matches: true },
    { name: 'in', selector: 'job in (j0, j1)', matches: true },
    { name: 'notin', selector: 'job notin (j1)', matches: false },
    { name: 'exists', selector: 'gpu', matches: true },
    { name: 'does not exist', selector: '!gpu', matches: false },
    { name: 'all terms must hold', selector: 'app=layer,job=j2', matches: false },
  ];
  it.each(cases)('$name: "$selector" → $matches', ({ selector, matches }) => {
    expect(labelMatcher(selector)(labels)).toBe(matches);
  });

  it('refuses what it cannot parse, naming the selector', () => {
    expect(() => labelMatcher('app=(x')).toThrow(BadInputError);
    expect(() => fieldMatcher('spec.x=1')).toThrow(/fieldSelector/);
  });

  it('matches metadata.name and metadata.namespace fields', () => {
    const o = { metadata: { name: 'a', namespace: 'ns' } };
    expect(fieldMatcher('metadata.name=a')(o)).toBe(true);
    expect(fieldMatcher('metadata.name=a,metadata.namespace!=ns')(o)).toBe(false);
  });
});

describe('patches', () => {
  const target = { metadata: { name: 's', labels: { a: '1', b: '2' } }, spec: { list: [1, 2] } };
  it('merge patch: objects merge, null removes, arrays replace', () => {
    expect(mergePatch(target, { metadata: { labels: { a: null, c: '3' } }, spec: { list: [9] } })).toEqual({
      metadata: { name: 's', labels: { b: '2', c: '3' } },
      spec: { list: [9] },
    });
  });

  it('strategic merge patch is applied as a merge patch', () => {
    expect(
      applyPatch(target, { metadata: { labels: { d: '4' } } }, 'application/strategic-merge-patch+json'),
    ).toMatchObject({ metadata: { labels: { a: '1', b: '2', d: '4' } } });
  });

  it('JSON patch applies in order; a failing test operation is 422 naming the path', () => {
    expect(
      applyPatch(
        target,
        [
          { op: 'replace', path: '/spec/list/0', value: 7 },
          { op: 'remove', path: '/metadata/labels/b' },
        ],
        'application/json-patch+json',
      ),
    ).toEqual({ metadata: { name: 's', labels: { a: '1' } }, spec: { list: [7, 2] } });
    expect(() =>
      applyPatch(target, [{ op: 'test', path: '/metadata/name', value: 'other' }], 'application/json-patch+json'),
    ).toThrow(InvalidFieldError);
    expect(() => applyPatch(target, { op: 'add' }, 'application/json-patch+json')).toThrow(/array of operations/);
    expect(target.metadata.labels).toEqual({ a: '1', b: '2' });
  });

  it('refuses an unknown patch type', () => {
    expect(() => applyPatch(target, {}, 'text/plain')).toThrow(/unsupported patch content type/);
  });
});

describe('RBAC', () => {
  const docs = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'reader', namespace: 'ml' },
      rules: [{ apiGroups: ['serving.knative.dev'], resources: ['services'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'r', namespace: 'ml' },
      subjects: [{ kind: 'ServiceAccount', name: 'ctl' }],
      roleRef: { kind: 'Role', name: 'reader' },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'one', namespace: 'ml' },
      rules: [{ apiGroups: ['*'], resources: ['services'], verbs: ['delete'], resourceNames: ['scratch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'o', namespace: 'ml' },
      subjects: [{ kind: 'Group', name: 'system:serviceaccounts:ml' }],
      roleRef: { kind: 'Role', name: 'one' },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'nodes' },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'n' },
      subjects: [{ kind: 'ServiceAccount', name: 'ctl', namespace: 'ml' }],
      roleRef: { kind: 'ClusterRole', name: 'nodes' },
    },
  ].map((value, i) => ({ origin: `rbac.yaml#${i}`, value }));
  const authz = Authorizer.fromDocuments(docs, 'default');
  const ctl = serviceAccountIdentity('ml', 'ctl');
  const svc = (
    verb: string,
    namespace = 'ml',
    name?: string,
  ): { verb: string; apiGroup: string; resource: string; namespace: string; name?: string } => ({
    verb,
    apiGroup: 'serving.knative.dev',
    resource: 'services',
    namespace,
    ...(name ? { name } : {}),
  });
  const cases: Array<{ name: string; allowed: boolean; check: () => boolean }> = [
    { name: "a bound verb in the Role's namespace", allowed: true, check: () => authz.allows(ctl, svc('list')) },
    { name: 'a verb the Role lacks', allowed: false, check: () => authz.allows(ctl, svc('create')) },
    {
      name: 'the same verb in another namespace',
      allowed: false,
      check: () => authz.allows(ctl, svc('get', 'default')),
    },
    {
      name: 'a resourceNames rule for its name, through a group',
      allowed: true,
      check: () => authz.allows(ctl, svc('delete', 'ml', 'scratch')),
    },
    {
      name: 'a resourceNames rule for another name',
      allowed: false,
      check: () => authz.allows(ctl, svc('delete', 'ml', 'prod')),
    },
    {
      name: 'nodes through the ClusterRoleBinding',
      allowed: true,
      check: () => authz.allows(ctl, { verb: 'list', apiGroup: '', resource: 'nodes' }),
    },
    {
      name: 'nodes for another account',
      allowed: false,
      check: () =>
        authz.allows(serviceAccountIdentity('default', 'default'), { verb: 'list', apiGroup: '', resource: 'nodes' }),
    },
    { name: 'the admin, anything', allowed: true, check: () => authz.allows(adminIdentity(), svc('delete', 'x')) },
  ];
  it.each(cases)('$name → $allowed', ({ allowed, check }) => {
    expect(check()).toBe(allowed);
  });
});
